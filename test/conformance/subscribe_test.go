package conformance_test

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

// SUBACK carries one return code per filter, in order ([MQTT-3.8.4-5]
// [MQTT-3.9.3-1] in 3.1.1, [MQTT-3.8.4-6] [MQTT-3.9.3-1] in 5.0), each the
// granted QoS: the requested one, or lower when the server's maximum is
// lower ([MQTT-3.8.4-6] in 3.1.1 terms, [MQTT-3.8.4-7] in 5.0); and the
// SUBACK has the SUBSCRIBE's packet identifier [MQTT-3.8.4-2].
func TestSubackCodes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		maxQoS byte
		want   [3]byte
	}{
		{"max QoS 2", 2, [3]byte{0x00, 0x01, 0x02}},
		{"max QoS 1", 1, [3]byte{0x00, 0x01, 0x01}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := startBroker(t, broker.Options{MaxQoS: tc.maxQoS})
			t.Run("3.1.1", func(t *testing.T) {
				t.Parallel()
				c := connectClean(t, addr, v311, "codes4")
				c.send([]byte{
					0x82,       // SUBSCRIBE
					0x14,       // remaining length 20
					0x00, 0x0A, // packet identifier 10
					0x00, 0x03, 's', '/', '0', // filter "s/0"
					0x00,                      // QoS 0
					0x00, 0x03, 's', '/', '1', // filter "s/1"
					0x01,                      // QoS 1
					0x00, 0x03, 's', '/', '2', // filter "s/2"
					0x02, // QoS 2
				})
				c.expect([]byte{
					0x90,       // SUBACK
					0x05,       // remaining length 5
					0x00, 0x0A, // packet identifier 10
					tc.want[0], tc.want[1], tc.want[2], // granted QoS per filter
				}, "SUBACK")
			})
			t.Run("5.0", func(t *testing.T) {
				t.Parallel()
				c := connectClean(t, addr, v5, "codes5")
				c.send([]byte{
					0x82,       // SUBSCRIBE
					0x15,       // remaining length 21
					0x00, 0x0A, // packet identifier 10
					0x00,                      // property length 0
					0x00, 0x03, 's', '/', '0', // filter "s/0"
					0x00,                      // options: QoS 0
					0x00, 0x03, 's', '/', '1', // filter "s/1"
					0x01,                      // options: QoS 1
					0x00, 0x03, 's', '/', '2', // filter "s/2"
					0x02, // options: QoS 2
				})
				c.expect([]byte{
					0x90,       // SUBACK
					0x06,       // remaining length 6
					0x00, 0x0A, // packet identifier 10
					0x00,                               // property length 0
					tc.want[0], tc.want[1], tc.want[2], // reason code per filter
				}, "SUBACK")
			})
		})
	}
}

// An invalid topic filter fails on its own: SUBACK 0x80 Failure (3.1.1)
// or 0x8F Topic Filter invalid (5.0) for it, while the valid filters of the
// same SUBSCRIBE are granted. '#' must be last and alone in its level
// [MQTT-4.7.1-2], '+' alone in its level [MQTT-4.7.1-3], a filter is not
// empty [MQTT-4.7.3-1], and a shared subscription has a non-empty share
// name without wildcards, then a filter [MQTT-4.8.2-1] [MQTT-4.8.2-2].
func TestSubscribeInvalidFilters(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	invalid := []string{"a/#/b", "a+", "#/a", "a/b#", "+a/b", "a/++", ""}
	shared := []string{"$share/g", "$share//a", "$share/g+/a", "$share/g#/a", "$share/g/"}
	for _, v := range []byte{v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			fail := byte(0x80)
			filters := invalid
			if v == v5 {
				fail = 0x8F
				filters = append(slices.Clone(invalid), shared...)
			}
			c := connectClean(t, addr, v, "filters-"+versionName(v))
			ok := "ok" + versionName(v) // valid filters, one set per version
			for i, f := range filters {
				pid := uint16(i + 1)
				var pr []byte
				if v == v5 {
					pr = []byte{0x00} // property length 0
				}
				c.send(pkt(0x82, // SUBSCRIBE
					u16(pid),      // packet identifier
					pr,            // v5 properties
					str(ok+"/1"),  // a valid filter
					[]byte{0x01},  // QoS 1
					str(f),        // the invalid filter
					[]byte{0x01},  // QoS 1
					str(ok+"/2"),  // a valid filter
					[]byte{0x00})) // QoS 0
				want := []byte{0x90, 0x05, byte(pid >> 8), byte(pid), 0x01, fail, 0x00}
				if v == v5 {
					want = []byte{0x90, 0x06, byte(pid >> 8), byte(pid), 0x00, 0x01, fail, 0x00}
				}
				c.expect(want, fmt.Sprintf("SUBACK for %q", f))
			}
			// The valid filters work.
			c.publish(0, false, ok+"/1", 0, "one")
			c.expectMessage(ok+"/1", "one", 0, false)
		})
	}
}

// [MQTT-3.8.4-3] A SUBSCRIBE for a filter the client already has replaces
// the subscription (new QoS, no second copy), and the retained messages
// matching it are sent again (5.0: with Retain Handling 0).
func TestResubscribeReplaces(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	for _, v := range []byte{v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			topic := "rs/" + versionName(v)
			pub := connectClean(t, addr, v, "rspub-"+versionName(v))
			pub.publish(1, true, topic, 1, "retained")
			sub := connectClean(t, addr, v, "rssub-"+versionName(v))
			sub.subscribe(1, topic, 0x01)
			p := sub.expectMessage(topic, "retained", 1, true)
			sub.send(puback(p.PacketID))
			sub.subscribe(2, topic, 0x00)
			sub.expectMessage(topic, "retained", 0, true)
			pub.publish(1, false, topic, 2, "live")
			sub.expectMessage(topic, "live", 0, false)
			sub.expectNothing()
		})
	}
}

// Overlapping subscriptions of one client: the message is delivered once,
// at the highest QoS of the matching subscriptions ([MQTT-3.3.5-1] in
// 3.1.1, [MQTT-3.3.4-2] in 5.0), and in 5.0 carrying the Subscription
// Identifiers of all of them [MQTT-3.3.4-3] [MQTT-3.3.4-4].
func TestOverlappingSubscriptions(t *testing.T) {
	t.Parallel()
	t.Run("3.1.1", func(t *testing.T) {
		t.Parallel()
		addr := startBroker(t, broker.Options{})
		sub := connectClean(t, addr, v311, "ov4")
		sub.subscribe(1, "ov4/+", 0x00)
		sub.subscribe(2, "ov4/#", 0x02)
		sub.subscribe(3, "ov4/t", 0x01)
		pub := connectClean(t, addr, v311, "ovpub4")
		pub.publish(2, false, "ov4/t", 1, "x")
		p := sub.expectMessage("ov4/t", "x", 2, false)
		sub.send(pubrec(p.PacketID))
		sub.expect(pubrel(p.PacketID), "PUBREL")
		sub.send(pubcomp(p.PacketID))
		sub.expectNothing()
	})
	t.Run("5.0", func(t *testing.T) {
		t.Parallel()
		addr := startBroker(t, broker.Options{}) // "+/t" would see the 3.1.1 case's messages
		sub := connectClean(t, addr, v5, "ov5")
		sub.subscribe(1, "ov5/+", 0x00, propSubscriptionID(1))
		sub.subscribe(2, "ov5/#", 0x01, propSubscriptionID(2))
		sub.subscribe(3, "ov5/t", 0x00)                              // no identifier
		sub.subscribe(4, "+/t", 0x00, propSubscriptionID(268435455)) // the largest identifier
		pub := connectClean(t, addr, v5, "ovpub5")
		pub.publish(2, false, "ov5/t", 1, "x")
		p := sub.expectMessage("ov5/t", "x", 1, false)
		ids := slices.Clone(p.Properties.SubscriptionIDs)
		slices.Sort(ids)
		if want := []uint32{1, 2, 268435455}; !slices.Equal(ids, want) {
			t.Fatalf("Subscription Identifiers %v, want %v in any order", p.Properties.SubscriptionIDs, want)
		}
		sub.send(puback(p.PacketID))
		sub.expectNothing()
	})
}

// (5.0) A Subscription Identifier is sent with every message matching its
// subscription, retained ones included [MQTT-3.3.4-3], and only to the
// client that subscribed [MQTT-3.3.4-6].
func TestSubscriptionIdentifier(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	pub := connectClean(t, addr, v5, "sid-pub")
	pub.publish(0, true, "sid/t", 0, "r")
	sub := connectClean(t, addr, v5, "sid-sub")
	sub.subscribe(1, "sid/#", 0x00, propSubscriptionID(300))
	p := sub.expectMessage("sid/t", "r", 0, true)
	if !slices.Equal(p.Properties.SubscriptionIDs, []uint32{300}) {
		t.Fatalf("retained: Subscription Identifiers %v, want [300]", p.Properties.SubscriptionIDs)
	}
	other := connectClean(t, addr, v5, "sid-other")
	other.subscribe(1, "sid/#", 0x00)
	other.expectMessage("sid/t", "r", 0, true)
	pub.publish(0, false, "sid/t", 0, "live")
	p = sub.expectMessage("sid/t", "live", 0, false)
	if !slices.Equal(p.Properties.SubscriptionIDs, []uint32{300}) {
		t.Fatalf("live: Subscription Identifiers %v, want [300]", p.Properties.SubscriptionIDs)
	}
	p = other.expectMessage("sid/t", "live", 0, false)
	if len(p.Properties.SubscriptionIDs) != 0 {
		t.Fatalf("Subscription Identifiers %v to a client that set none", p.Properties.SubscriptionIDs)
	}
}

// (5.0) [MQTT-3.8.3-3] With No Local a client does not get the messages it
// publishes itself; others still do, and so does it without No Local.
func TestNoLocal(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	self := connectClean(t, addr, v5, "nl-self")
	self.subscribe(1, "nl/mine", 0x04) // QoS 0, No Local
	self.subscribe(2, "nl/echo", 0x00) // QoS 0
	other := connectClean(t, addr, v5, "nl-other")
	other.subscribe(1, "nl/#", 0x00)

	self.publish(0, false, "nl/mine", 0, "1")
	other.expectMessage("nl/mine", "1", 0, false)
	self.expectNothing()

	other.publish(0, false, "nl/mine", 0, "2")
	self.expectMessage("nl/mine", "2", 0, false)
	other.expectMessage("nl/mine", "2", 0, false)

	self.publish(0, false, "nl/echo", 0, "3")
	self.expectMessage("nl/echo", "3", 0, false)
}

// (5.0) [MQTT-3.8.3-4] No Local on a shared subscription is a Protocol
// Error: DISCONNECT 0x82.
func TestSharedSubscriptionNoLocal(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	c := connectClean(t, addr, v5, "share-nl")
	c.send([]byte{
		0x82,       // SUBSCRIBE
		0x11,       // remaining length 17
		0x00, 0x01, // packet identifier 1
		0x00,                                                              // property length 0
		0x00, 0x0B, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'a', '/', // "$share/g/a/"
		0x04, // options: QoS 0, No Local
	})
	c.expectDisconnect(packet.ProtocolError)
}

// (5.0 §4.8.2) A message matching a shared subscription goes to exactly
// one member of the group, while non-shared subscribers each get their
// copy; [MQTT-4.8.2-3] at the member's granted QoS.
func TestSharedSubscription(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	m1 := connectClean(t, addr, v5, "m1")
	m1.subscribe(1, "$share/g/sh/+", 0x01)
	m2 := connectClean(t, addr, v5, "m2")
	m2.subscribe(1, "$share/g/sh/+", 0x00)
	plain := connectClean(t, addr, v5, "plain")
	plain.subscribe(1, "sh/+", 0x01)
	pub := connectClean(t, addr, v5, "pub")
	const n = 10
	for i := range n {
		pub.publish(1, false, "sh/t", uint16(i+1), fmt.Sprint(i))
	}
	got := map[string]int{}
	for _, m := range []struct {
		c   *client
		qos byte
	}{{m1, 1}, {m2, 0}} {
		for _, p := range m.c.drain() {
			if p.QoS != m.qos {
				t.Errorf("%s got QoS %d, granted %d", m.c.name, p.QoS, m.qos)
			}
			got[string(p.Payload)]++
		}
	}
	for i := range n {
		if c := got[fmt.Sprint(i)]; c != 1 {
			t.Errorf("message %d reached the group %d times, want once", i, c)
		}
	}
	if len(plain.drain()) != n {
		t.Errorf("the non-shared subscriber did not get all %d messages", n)
	}
}

// (5.0) [MQTT-4.8.2-4] [MQTT-4.8.2-5] A QoS 2 message sent to one member
// of a shared group whose connection then breaks is not given to another
// member: delivery to that client is completed when it reconnects, and if
// its session ends the message goes nowhere. Sending it to another member
// could deliver it twice.
func TestSharedSubscriptionQoS2NotRedelivered(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	for _, expiry := range []uint32{0, 60} {
		t.Run(fmt.Sprintf("session expiry %d", expiry), func(t *testing.T) {
			t.Parallel()
			group := fmt.Sprintf("$share/g%d/sq/%d", expiry, expiry)
			topic := fmt.Sprintf("sq/%d", expiry)
			id1 := fmt.Sprintf("sq1-%d", expiry)
			m1, _ := connect(t, addr, v5, id1, flagClean, false, propSessionExpiry(expiry))
			m1.subscribe(1, group, 0x02)
			pub := connectClean(t, addr, v5, fmt.Sprintf("sqpub-%d", expiry))
			pub.publish(2, false, topic, 1, "exactly once")
			first := m1.expectMessage(topic, "exactly once", 2, false)
			// A second member joins; the first goes away without PUBREC.
			m2 := connectClean(t, addr, v5, fmt.Sprintf("sq2-%d", expiry))
			m2.subscribe(1, group, 0x02)
			m1.drop()
			m2.expectNothing()
			if expiry == 0 {
				return
			}
			m1, _ = connect(t, addr, v5, id1, 0x00, true, propSessionExpiry(expiry))
			p := m1.expectMessage(topic, "exactly once", 2, false)
			if !p.Dup || p.PacketID != first.PacketID {
				t.Fatalf("resent with DUP %v packet id %d, want DUP and id %d", p.Dup, p.PacketID, first.PacketID)
			}
		})
	}
}

// [MQTT-4.7.2-1] Filters starting with a wildcard do not match topic names
// starting with '$'; filters starting with "$" do. Clients may not publish
// under $SYS (the broker's own tree, as in Mosquitto), so another
// '$'-topic stands in for it here.
func TestDollarTopicsNotMatchedByWildcards(t *testing.T) {
	t.Parallel()
	for _, v := range []byte{v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			addr := startBroker(t, broker.Options{}) // "#" sees all: a broker each
			vn := versionName(v)
			hash := connectClean(t, addr, v, "hash-"+vn)
			hash.subscribe(1, "#", 0x00)
			plus := connectClean(t, addr, v, "plus-"+vn)
			plus.subscribe(1, "+/x"+vn, 0x00)
			sys := connectClean(t, addr, v, "sys-"+vn)
			sys.subscribe(1, "$app/#", 0x00)
			exact := connectClean(t, addr, v, "exact-"+vn)
			exact.subscribe(1, "$app/x"+vn, 0x00)
			pub := connectClean(t, addr, v, "pub-"+vn)
			pub.publish(0, false, "$app/x"+vn, 0, "dollar")
			sys.expectMessage("$app/x"+vn, "dollar", 0, false)
			exact.expectMessage("$app/x"+vn, "dollar", 0, false)
			hash.expectNothing()
			plus.expectNothing()
			pub.publish(0, false, "n/x"+vn, 0, "plain")
			hash.expectMessage("n/x"+vn, "plain", 0, false)
			plus.expectMessage("n/x"+vn, "plain", 0, false)
		})
	}
}

// Wildcard matching (3.1.1 and 5.0 §4.7.1): '#' matches the parent level
// and any number of levels, '+' exactly one level, an empty level is a
// level.
// Clients cannot publish into the broker's $SYS tree, whatever the ACL
// says, as Mosquitto refuses it: a $SYS subscriber sees nothing of it.
func TestClientsCannotPublishToSYS(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	sys := connectClean(t, addr, v311, "sys-watch")
	sys.subscribe(1, "$SYS/fake", 0x00)
	pub := connectClean(t, addr, v311, "sys-forger")
	pub.publish(0, false, "$SYS/fake", 0, "forged")
	sys.expectNothing()
}

func TestWildcardMatching(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	topics := []string{
		"sport", "sport/", "sport/tennis", "sport/tennis/player1",
		"sport/tennis/player1/ranking", "sport/tennis/player1/score/wimbledon",
		"sport/tennis/player2", "/finance", "Sport/tennis",
	}
	cases := []struct {
		filter string
		want   []string
	}{
		{"sport/tennis/player1/#", []string{"sport/tennis/player1", "sport/tennis/player1/ranking", "sport/tennis/player1/score/wimbledon"}},
		{"sport/#", []string{"sport", "sport/", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking", "sport/tennis/player1/score/wimbledon", "sport/tennis/player2"}},
		{"sport/tennis/+", []string{"sport/tennis/player1", "sport/tennis/player2"}},
		{"sport/+", []string{"sport/", "sport/tennis"}},
		{"+/+", []string{"sport/", "sport/tennis", "/finance", "Sport/tennis"}},
		{"/+", []string{"/finance"}},
		{"+", []string{"sport"}},
		{"+/tennis/#", []string{"sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking", "sport/tennis/player1/score/wimbledon", "sport/tennis/player2", "Sport/tennis"}},
	}
	for i, tc := range cases {
		t.Run(tc.filter, func(t *testing.T) {
			t.Parallel()
			prefix := fmt.Sprintf("w%d", i) // each case has its own client ids
			sub := connectClean(t, addr, v311, prefix+"sub")
			sub.subscribe(1, tc.filter, 0x00)
			pub := connectClean(t, addr, v311, prefix+"pub")
			for _, topic := range topics {
				pub.publish(0, false, topic, 0, prefix)
			}
			pub.ping() // all routed: the broker handles a client's packets in order
			var got []string
			for _, p := range sub.drain() {
				if string(p.Payload) == prefix {
					got = append(got, p.Topic)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("%q matched %q, want %q", tc.filter, got, tc.want)
			}
		})
	}
}

// A message is delivered at the lower of its QoS and the subscription's
// granted QoS ([MQTT-3.8.4-6] in 3.1.1, [MQTT-3.8.4-8] in 5.0); a QoS 0
// delivery has no packet identifier [MQTT-2.3.1-5] / [MQTT-2.2.1-2].
func TestQoSDowngrade(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	for _, v := range []byte{v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			vn := versionName(v)
			topic := "dg/" + vn
			subs := make([]*client, 3)
			for q := range subs {
				subs[q] = connectClean(t, addr, v, fmt.Sprintf("dg%d-%s", q, vn))
				subs[q].subscribe(1, topic, byte(q))
			}
			pub := connectClean(t, addr, v, "dgpub-"+vn)
			for pq := byte(0); pq <= 2; pq++ {
				pub.publish(pq, false, topic, uint16(pq+1), fmt.Sprint(pq))
				for sq, sub := range subs {
					want := min(pq, byte(sq))
					p := sub.expectMessage(topic, fmt.Sprint(pq), want, false)
					switch want {
					case 0:
						if p.PacketID != 0 {
							t.Fatalf("QoS 0 delivery with packet id %d", p.PacketID)
						}
					case 1:
						sub.send(puback(p.PacketID))
					case 2:
						sub.send(pubrec(p.PacketID))
						sub.expect(pubrel(p.PacketID), "PUBREL")
						sub.send(pubcomp(p.PacketID))
					}
				}
			}
		})
	}
}

// drain reads PUBLISH packets until none comes for a while, acknowledging
// QoS 1 ones, and returns them. Other packets fail the test.
func (c *client) drain() []*packet.Publish {
	c.t.Helper()
	var out []*packet.Publish
	for {
		raw, err := c.readRaw(quiet)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && len(raw) == 0 {
			return out
		}
		if err != nil {
			c.t.Fatalf("%s: %v", c.name, err)
		}
		p, ok := c.decode(raw).(*packet.Publish)
		if !ok {
			c.t.Fatalf("%s: got % X (%s), want PUBLISH", c.name, raw, c.describe(raw))
		}
		if p.QoS == 1 {
			c.send(puback(p.PacketID))
		}
		out = append(out, p)
	}
}
