package conformance_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

// [MQTT-3.3.2-2] A topic name must not contain wildcards; [MQTT-4.7.3-1] it
// is at least one character long (5.0: unless a Topic Alias stands for
// it); [MQTT-4.7.3-2] it holds no U+0000; [MQTT-1.5.3-1] (3.1.1) /
// [MQTT-1.5.4-1] (5.0) it is well-formed UTF-8. A PUBLISH breaking any of
// these closes the connection. 5.0 names no single reason code for a
// wildcard: 0x90 Topic Name invalid, 0x82 Protocol Error and 0x81
// Malformed Packet are all accepted.
func TestPublishInvalidTopicName(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	cases := []struct {
		name    string
		topic   []byte // the topic field, length prefix included
		reasons []byte // acceptable v5 DISCONNECT reasons
	}{
		{"plus", []byte{0x00, 0x03, 'a', '/', '+'}, []byte{0x90, 0x82, 0x81}},
		{"hash", []byte{0x00, 0x03, 'a', '/', '#'}, []byte{0x90, 0x82, 0x81}},
		{"plus alone", []byte{0x00, 0x01, '+'}, []byte{0x90, 0x82, 0x81}},
		{"hash inside a level", []byte{0x00, 0x03, 'a', 'b', '#'}, []byte{0x90, 0x82, 0x81}},
		{"empty", []byte{0x00, 0x00}, []byte{0x82, 0x90, 0x81}},
		{"U+0000", []byte{0x00, 0x03, 'a', 0x00, 'b'}, []byte{0x81, 0x90, 0x82}},
		{"invalid UTF-8", []byte{0x00, 0x03, 'a', 0xC3, 0x28}, []byte{0x81, 0x90, 0x82}},
		{"UTF-16 surrogate", []byte{0x00, 0x03, 0xED, 0xA0, 0x80}, []byte{0x81, 0x90, 0x82}},
	}
	for _, v := range []byte{v311, v5} {
		for _, tc := range cases {
			t.Run(versionName(v)+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				c := connectClean(t, addr, v, "bad-topic")
				var pr []byte
				if v == v5 {
					pr = []byte{0x00} // property length 0
				}
				c.send(pkt(0x30, // PUBLISH QoS 0
					tc.topic,     // topic
					pr,           // v5 properties
					[]byte("x"))) // payload
				c.expectProtocolClose(tc.reasons...)
			})
		}
	}
}

// [MQTT-4.3.2-2] (3.1.1) / [MQTT-4.3.2-4] (5.0) A QoS 1 PUBLISH is answered
// with a PUBACK carrying its packet identifier [MQTT-2.3.1-6] / [MQTT-2.2.1-5].
// A 5.0 PUBACK says 0x10 No matching subscribers when nobody got it.
func TestPublishQoS1Puback(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	for _, v := range []byte{v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			topic := "q1/" + versionName(v)
			c := connectClean(t, addr, v, "q1-"+versionName(v))
			c.subscribe(1, topic, 0x01)
			c.send(publishPacket(v, 1, false, topic, 0x1234, "one"))
			// The PUBACK and the delivery may come in either order.
			gotAck, gotMsg := false, false
			for !gotAck || !gotMsg {
				raw := c.next()
				switch raw[0] >> 4 {
				case 4:
					want := []byte{
						0x40,       // PUBACK
						0x02,       // remaining length 2
						0x12, 0x34, // packet identifier 0x1234
					}
					if string(raw) != string(want) {
						t.Fatalf("got % X, want PUBACK % X", raw, want)
					}
					gotAck = true
				case 3:
					p := c.decode(raw).(*packet.Publish)
					if p.Topic != topic || string(p.Payload) != "one" || p.QoS != 1 {
						t.Fatalf("delivered %+v", p)
					}
					c.send(puback(p.PacketID))
					gotMsg = true
				default:
					t.Fatalf("got % X (%s)", raw, c.describe(raw))
				}
			}
			if v == v5 {
				c.send(publishPacket(v, 1, false, "nobody/listens", 0xBEEF, "lost"))
				c.expect([]byte{
					0x40,       // PUBACK
					0x03,       // remaining length 3
					0xBE, 0xEF, // packet identifier 0xBEEF
					0x10, // 0x10 No matching subscribers
				}, "PUBACK")
			}
		})
	}
}

// The QoS 2 flow as the receiver: [MQTT-4.3.3-2] (3.1.1) / [MQTT-4.3.3-8]
// [MQTT-4.3.3-10] [MQTT-4.3.3-11] (5.0) PUBREC with the packet id; a resent
// PUBLISH with the same id before PUBREL gets PUBREC again and is not
// delivered a second time; PUBREL gets PUBCOMP. [MQTT-4.3.3-12] (5.0)
// After PUBCOMP the id is new again.
func TestPublishQoS2(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	for _, v := range []byte{v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			topic := "q2/" + versionName(v)
			sub := connectClean(t, addr, v, "q2sub-"+versionName(v))
			sub.subscribe(1, topic, 0x02)
			pub := connectClean(t, addr, v, "q2pub-"+versionName(v))

			var pr []byte
			if v == v5 {
				pr = []byte{0x00} // property length 0
			}
			first := pkt(0x34, // PUBLISH QoS 2
				str(topic),         // topic
				[]byte{0x01, 0x02}, // packet identifier 0x0102
				pr,                 // v5 properties
				[]byte("once"))     // payload
			again := slices.Clone(first)
			again[0] = 0x3C // PUBLISH QoS 2 with DUP set [MQTT-3.3.1-1]
			pubrecBytes := []byte{
				0x50,       // PUBREC
				0x02,       // remaining length 2
				0x01, 0x02, // packet identifier 0x0102
			}

			pub.send(first)
			pub.expect(pubrecBytes, "PUBREC")
			p := sub.expectMessage(topic, "once", 2, false)

			pub.send(again)
			pub.expect(pubrecBytes, "PUBREC for the resent PUBLISH")
			pub.send([]byte{
				0x62,       // PUBREL, flags 0010
				0x02,       // remaining length 2
				0x01, 0x02, // packet identifier 0x0102
			})
			pub.expect([]byte{
				0x70,       // PUBCOMP
				0x02,       // remaining length 2
				0x01, 0x02, // packet identifier 0x0102
			}, "PUBCOMP")

			// The subscriber's side of the flow: PUBREC is answered
			// with PUBREL [MQTT-4.3.3-1] (3.1.1) / [MQTT-4.3.3-4] (5.0).
			sub.send(pubrec(p.PacketID))
			sub.expect(pubrel(p.PacketID), "PUBREL")
			sub.send(pubcomp(p.PacketID))
			sub.expectNothing() // not delivered twice

			// The same packet id after PUBCOMP is a new message.
			pub.send(first)
			pub.expect(pubrecBytes, "PUBREC")
			sub.expectMessage(topic, "once", 2, false)
		})
	}
}

// A PUBREL for a packet id the server does not hold is still completed:
// PUBCOMP (5.0: with 0x92 Packet Identifier not found) [MQTT-4.3.3-11].
func TestPubrelUnknownID(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	t.Run("3.1.1", func(t *testing.T) {
		t.Parallel()
		c := connectClean(t, addr, v311, "rel4")
		c.send([]byte{0x62, 0x02, 0x00, 0x07}) // PUBREL, packet identifier 7
		c.expect([]byte{
			0x70,       // PUBCOMP
			0x02,       // remaining length 2
			0x00, 0x07, // packet identifier 7
		}, "PUBCOMP")
	})
	t.Run("5.0", func(t *testing.T) {
		t.Parallel()
		c := connectClean(t, addr, v5, "rel5")
		c.send([]byte{0x62, 0x02, 0x00, 0x07}) // PUBREL, packet identifier 7
		c.expect([]byte{
			0x70,       // PUBCOMP
			0x03,       // remaining length 3
			0x00, 0x07, // packet identifier 7
			0x92, // 0x92 Packet Identifier not found
		}, "PUBCOMP")
	})
}

// Retained messages. 3.1.1: [MQTT-3.3.1-5] a retained PUBLISH is stored
// and [MQTT-3.3.1-6] sent to new subscribers, [MQTT-3.3.1-8] with RETAIN
// set; [MQTT-3.3.1-7] a new one replaces it; [MQTT-3.3.1-10]
// [MQTT-3.3.1-11] an empty retained payload removes it and is not stored;
// [MQTT-3.3.1-12] a PUBLISH without RETAIN neither stores nor removes.
// 5.0: [MQTT-3.3.1-5] to [MQTT-3.3.1-8] say the same, and [MQTT-3.3.1-9]
// sends retained messages at subscribe (Retain Handling 0).
func TestRetained(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	for _, v := range []byte{v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			topic := "ret/" + versionName(v)
			pub := connectClean(t, addr, v, "retpub-"+versionName(v))
			n := uint16(0)
			// check subscribes a new client and expects the retained
			// message want (none when empty) at QoS qos.
			check := func(want string, qos byte) {
				t.Helper()
				n++
				sub := connectClean(t, addr, v, fmt.Sprintf("retsub%d-%s", n, versionName(v)))
				sub.subscribe(1, topic, 0x01)
				if want == "" {
					sub.expectNothing()
				} else {
					p := sub.expectMessage(topic, want, qos, true)
					if qos > 0 {
						sub.send(puback(p.PacketID))
					}
				}
				sub.send(disconnect)
			}
			pub.publish(1, true, topic, 1, "first")
			check("first", 1)
			pub.publish(1, true, topic, 2, "second")
			check("second", 1)
			pub.publish(1, false, topic, 3, "not retained")
			check("second", 1)
			// A live subscriber gets the deleting PUBLISH as a normal
			// message, RETAIN clear [MQTT-3.3.1-10].
			live := connectClean(t, addr, v, "retlive-"+versionName(v))
			live.subscribe(1, topic, 0x00)
			live.expectMessage(topic, "second", 0, true)
			pub.publish(1, true, topic, 4, "")
			live.expectMessage(topic, "", 0, false)
			check("", 0)
			// QoS 0 retained messages are stored too [MQTT-3.3.1-7].
			pub.publish(0, true, topic, 0, "zero")
			live.expectMessage(topic, "zero", 0, false)
			check("zero", 0)
		})
	}
}

// A retained message is stored with its QoS [MQTT-3.3.1-5] and sent to a
// new subscriber at the lower of that QoS and the granted one
// [MQTT-3.8.4-6] (3.1.1) / [MQTT-3.8.4-8] (5.0).
func TestRetainedQoS(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	pub := connectClean(t, addr, v311, "pub")
	pub.publish(1, true, "rq/one", 1, "q1")
	pub.publish(2, true, "rq/two", 2, "q2")
	sub := connectClean(t, addr, v311, "sub")
	sub.subscribe(1, "rq/two", 0x01)
	p := sub.expectMessage("rq/two", "q2", 1, true)
	sub.send(puback(p.PacketID))
	sub.subscribe(2, "rq/one", 0x02)
	p = sub.expectMessage("rq/one", "q1", 1, true)
	sub.send(puback(p.PacketID))
	sub.subscribe(3, "rq/+", 0x00)
	got := map[string]bool{}
	for i := 0; i < 2; i++ {
		p := sub.expectPublish()
		if p.QoS != 0 || !p.Retain {
			t.Fatalf("retained %q sent with QoS %d retain %v on a QoS 0 subscription", p.Topic, p.QoS, p.Retain)
		}
		got[p.Topic] = true
	}
	if !got["rq/one"] || !got["rq/two"] {
		t.Fatalf("got %v, want both retained messages", got)
	}
}

// [MQTT-3.3.1-9] (3.1.1) A message sent because it matches an established
// subscription has RETAIN 0, however it was published. 5.0: the same
// unless the subscription asked for Retain As Published [MQTT-3.3.1-12]
// [MQTT-3.3.1-13].
func TestRetainFlagOnLiveDelivery(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	t.Run("3.1.1", func(t *testing.T) {
		t.Parallel()
		sub := connectClean(t, addr, v311, "live4")
		sub.subscribe(1, "live4/t", 0x00)
		pub := connectClean(t, addr, v311, "livepub4")
		pub.publish(0, true, "live4/t", 0, "r")
		sub.expectMessage("live4/t", "r", 0, false)
	})
	t.Run("5.0", func(t *testing.T) {
		t.Parallel()
		plain := connectClean(t, addr, v5, "plain5")
		plain.subscribe(1, "live5/t", 0x00)
		rap := connectClean(t, addr, v5, "rap5")
		rap.subscribe(1, "live5/t", 0x08) // QoS 0, Retain As Published
		pub := connectClean(t, addr, v5, "livepub5")
		pub.publish(0, true, "live5/t", 0, "r")
		plain.expectMessage("live5/t", "r", 0, false)
		rap.expectMessage("live5/t", "r", 0, true)
		pub.publish(0, false, "live5/t", 0, "n")
		plain.expectMessage("live5/t", "n", 0, false)
		rap.expectMessage("live5/t", "n", 0, false)
	})
}

// (5.0) Retain Handling: 0 sends retained messages at every subscribe
// [MQTT-3.3.1-9], 1 only when the subscription is new [MQTT-3.3.1-10], 2
// never [MQTT-3.3.1-11].
func TestRetainHandling(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	pub := connectClean(t, addr, v5, "pub")
	pub.publish(1, true, "rh/t", 1, "kept")
	cases := []struct {
		options     byte
		first, next bool // sent on the first subscribe, on a repeat
	}{
		{0x00, true, true},   // Retain Handling 0
		{0x10, true, false},  // Retain Handling 1
		{0x20, false, false}, // Retain Handling 2
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("rh%d", tc.options>>4), func(t *testing.T) {
			t.Parallel()
			c := connectClean(t, addr, v5, fmt.Sprintf("rh%d", tc.options>>4))
			for i, want := range []bool{tc.first, tc.next} {
				c.subscribe(uint16(i+1), "rh/t", tc.options)
				if want {
					c.expectMessage("rh/t", "kept", 0, true)
				} else {
					c.expectNothing()
				}
			}
		})
	}
}

// (5.0) Message Expiry Interval: [MQTT-3.3.2-5] a message whose interval
// has passed is not sent to a subscriber that has not started receiving
// it; [MQTT-3.3.2-6] one that is sent carries the interval minus the time
// it waited.
func TestMessageExpiry(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	t.Run("retained", func(t *testing.T) {
		t.Parallel()
		pub := connectClean(t, addr, v5, "exp-pub1")
		pub.publish(1, true, "exp/short", 1, "short", propMessageExpiry(1))
		pub.publish(1, true, "exp/long", 2, "long", propMessageExpiry(60))
		time.Sleep(1100 * time.Millisecond) // let the short one expire
		sub := connectClean(t, addr, v5, "exp-sub1")
		sub.subscribe(1, "exp/#", 0x01)
		p := sub.expectMessage("exp/long", "long", 1, true)
		if !p.Properties.Has(packet.PropMessageExpiry) {
			t.Fatalf("Message Expiry Interval not forwarded")
		}
		if e := p.Properties.MessageExpiry; e >= 60 || e < 55 {
			t.Fatalf("Message Expiry Interval %d after waiting more than a second, want 55..59", e)
		}
		sub.send(puback(p.PacketID))
		sub.expectNothing()
	})
	t.Run("queued", func(t *testing.T) {
		t.Parallel()
		sub, _ := connect(t, addr, v5, "exp-sub2", flagClean, false, propSessionExpiry(60))
		sub.subscribe(1, "expq/t", 0x01)
		sub.send(disconnect)
		sub.expectClosed()
		pub := connectClean(t, addr, v5, "exp-pub2")
		pub.publish(1, false, "expq/t", 1, "short", propMessageExpiry(1))
		pub.publish(1, false, "expq/t", 2, "none")
		time.Sleep(1100 * time.Millisecond)
		sub, _ = connect(t, addr, v5, "exp-sub2", 0x00, true, propSessionExpiry(60))
		p := sub.expectPublish()
		if string(p.Payload) == "short" && p.Dup {
			// The broker had not yet seen the connection go when
			// the message came, and started its delivery: a resend
			// is right then [MQTT-4.4.0-1].
			sub.send(puback(p.PacketID))
			p = sub.expectPublish()
		}
		if string(p.Payload) != "none" || p.QoS != 1 {
			t.Fatalf("got %q QoS %d dup %v, want \"none\" at QoS 1 (\"short\" expired while queued)", p.Payload, p.QoS, p.Dup)
		}
		if p.Properties.Has(packet.PropMessageExpiry) {
			t.Fatalf("Message Expiry Interval on a message published without one")
		}
		sub.send(puback(p.PacketID))
		sub.expectNothing()
	})
	t.Run("live", func(t *testing.T) {
		t.Parallel()
		sub := connectClean(t, addr, v5, "exp-sub3")
		sub.subscribe(1, "expl/t", 0x00)
		pub := connectClean(t, addr, v5, "exp-pub3")
		pub.publish(0, false, "expl/t", 0, "x", propMessageExpiry(30))
		p := sub.expectMessage("expl/t", "x", 0, false)
		if !p.Properties.Has(packet.PropMessageExpiry) || p.Properties.MessageExpiry > 30 || p.Properties.MessageExpiry < 29 {
			t.Fatalf("Message Expiry Interval %v %d, want 29..30", p.Properties.Has(packet.PropMessageExpiry), p.Properties.MessageExpiry)
		}
	})
}

// (5.0) Topic aliases from the client: [MQTT-3.3.2-12] a PUBLISH with a
// topic and an alias sets the mapping, one with an empty topic and the
// alias uses it. An alias above the server's Topic Alias Maximum
// [MQTT-3.3.2-9] closes with DISCONNECT 0x94 Topic Alias invalid; an alias
// of 0 [MQTT-3.3.2-8] is refused too, with 0x94 or 0x82 Protocol Error (the
// standard defines 0x94 for "greater than the maximum" only); an empty
// topic with an alias that has no mapping is a Protocol Error (0x82)
// [MQTT 5.0 §3.3.2.3.4].
func TestTopicAliasInbound(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{TopicAliasMaximum: 5})
	t.Run("mapping", func(t *testing.T) {
		t.Parallel()
		sub := connectClean(t, addr, v5, "alias-sub")
		sub.subscribe(1, "alias/#", 0x00)
		pub := connectClean(t, addr, v5, "alias-pub")
		pub.send([]byte{
			0x30,                                          // PUBLISH QoS 0
			0x0E,                                          // remaining length 14
			0x00, 0x07, 'a', 'l', 'i', 'a', 's', '/', 'a', // topic "alias/a"
			0x03,             // property length 3
			0x23, 0x00, 0x05, // Topic Alias 5
			'1', // payload "1"
		})
		sub.expectMessage("alias/a", "1", 0, false)
		pub.send([]byte{
			0x30,       // PUBLISH QoS 0
			0x07,       // remaining length 7
			0x00, 0x00, // topic "" (empty)
			0x03,             // property length 3
			0x23, 0x00, 0x05, // Topic Alias 5
			'2', // payload "2"
		})
		p := sub.expectMessage("alias/a", "2", 0, false)
		// [MQTT-3.1.2-27] The subscriber set no Topic Alias Maximum: it
		// gets no alias.
		if p.Properties.Has(packet.PropTopicAlias) {
			t.Fatalf("Topic Alias %d sent to a client that allows none", p.Properties.TopicAlias)
		}
		// A new topic for the same alias replaces the mapping.
		pub.send([]byte{
			0x30,                                          // PUBLISH QoS 0
			0x0E,                                          // remaining length 14
			0x00, 0x07, 'a', 'l', 'i', 'a', 's', '/', 'b', // topic "alias/b"
			0x03,             // property length 3
			0x23, 0x00, 0x05, // Topic Alias 5
			'3', // payload "3"
		})
		sub.expectMessage("alias/b", "3", 0, false)
		pub.send([]byte{
			0x30,       // PUBLISH QoS 0
			0x07,       // remaining length 7
			0x00, 0x00, // topic "" (empty)
			0x03,             // property length 3
			0x23, 0x00, 0x05, // Topic Alias 5
			'4', // payload "4"
		})
		sub.expectMessage("alias/b", "4", 0, false)
	})
	bad := []struct {
		name    string
		reasons []byte
		bytes   []byte
	}{
		{"alias 0", []byte{packet.TopicAliasInvalid, packet.ProtocolError}, []byte{
			0x30,                      // PUBLISH QoS 0
			0x0A,                      // remaining length 10
			0x00, 0x03, 'a', '/', 'b', // topic "a/b"
			0x03,             // property length 3
			0x23, 0x00, 0x00, // Topic Alias 0
			'x', // payload
		}},
		{"alias above the maximum", []byte{packet.TopicAliasInvalid}, []byte{
			0x30,                      // PUBLISH QoS 0
			0x0A,                      // remaining length 10
			0x00, 0x03, 'a', '/', 'b', // topic "a/b"
			0x03,             // property length 3
			0x23, 0x00, 0x06, // Topic Alias 6, above the maximum of 5
			'x', // payload
		}},
		{"unknown alias", []byte{packet.ProtocolError}, []byte{
			0x30,       // PUBLISH QoS 0
			0x07,       // remaining length 7
			0x00, 0x00, // topic "" (empty)
			0x03,             // property length 3
			0x23, 0x00, 0x02, // Topic Alias 2, never set
			'x', // payload
		}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := connectClean(t, addr, v5, "alias-bad")
			c.send(tc.bytes)
			c.expectProtocolClose(tc.reasons...)
		})
	}
	t.Run("aliases off", func(t *testing.T) {
		t.Parallel()
		// [MQTT-3.2.2-18] Without a Topic Alias Maximum from the server
		// the client may send no alias; one that does is refused.
		addr := startBroker(t, broker.Options{DisableTopicAlias: true})
		c := connectClean(t, addr, v5, "alias-off")
		c.send([]byte{
			0x30,                      // PUBLISH QoS 0
			0x0A,                      // remaining length 10
			0x00, 0x03, 'a', '/', 'b', // topic "a/b"
			0x03,             // property length 3
			0x23, 0x00, 0x01, // Topic Alias 1
			'x', // payload
		})
		c.expectDisconnect(packet.TopicAliasInvalid)
	})
}

// (5.0) Topic aliases towards a client that allows them: never above its
// Topic Alias Maximum [MQTT-3.1.2-26] [MQTT-3.3.2-11], and each one
// resolves to the topic the message was published to.
func TestTopicAliasOutbound(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	sub := connectClean(t, addr, v5, "out-alias", propTopicAliasMax(1))
	sub.subscribe(1, "oa/#", 0x00)
	pub := connectClean(t, addr, v5, "out-pub")
	aliases := map[uint16]string{}
	topics := []string{"oa/one", "oa/one", "oa/two", "oa/one", "oa/two", "oa/two"}
	for i, topic := range topics {
		pub.publish(0, false, topic, 0, fmt.Sprint(i))
		p := sub.expectPublish()
		name := p.Topic
		if p.Properties.Has(packet.PropTopicAlias) {
			a := p.Properties.TopicAlias
			if a == 0 || a > 1 {
				t.Fatalf("Topic Alias %d to a client whose maximum is 1", a)
			}
			if name == "" {
				name = aliases[a]
			} else {
				aliases[a] = name
			}
		}
		if name != topic || string(p.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d: topic %q (alias %d) payload %q, want %q", i, name, p.Properties.TopicAlias, p.Payload, topic)
		}
	}
}

// (5.0) [MQTT-3.1.2-24] The server sends no packet larger than the
// client's Maximum Packet Size; [MQTT-3.1.2-25] it drops such a message for
// that client as if it had been sent, and the connection stays up (a QoS 1
// one does not hold the client's receive window).
func TestMaximumPacketSizeFromClient(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	small := connectClean(t, addr, v5, "small", propMaxPacketSize(64), propReceiveMaximum(1))
	small.subscribe(1, "mps/#", 0x01)
	big := connectClean(t, addr, v5, "big")
	big.subscribe(1, "mps/#", 0x01)
	pub := connectClean(t, addr, v5, "pub")

	large := strings.Repeat("L", 100)
	pub.publish(1, false, "mps/t", 1, large)
	pub.publish(0, false, "mps/t", 0, large)
	pub.publish(1, false, "mps/t", 2, "fits")

	p := big.expectMessage("mps/t", large, 1, false)
	big.send(puback(p.PacketID))
	big.expectMessage("mps/t", large, 0, false)
	p = big.expectMessage("mps/t", "fits", 1, false)
	big.send(puback(p.PacketID))

	p = small.expectMessage("mps/t", "fits", 1, false)
	small.send(puback(p.PacketID))
	small.expectNothing()
	small.ping()
}

// (5.0 §3.3.2.3.2) A PUBLISH whose Payload Format Indicator says UTF-8 but
// whose payload is not is refused: PUBACK 0x99 Payload format invalid, and
// it is not delivered.
func TestPayloadFormatInvalid(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	sub := connectClean(t, addr, v5, "pfi-sub")
	sub.subscribe(1, "pfi/t", 0x01)
	pub := connectClean(t, addr, v5, "pfi-pub")
	pub.send([]byte{
		0x32,                                // PUBLISH QoS 1
		0x0E,                                // remaining length 14
		0x00, 0x05, 'p', 'f', 'i', '/', 't', // topic "pfi/t"
		0x00, 0x09, // packet identifier 9
		0x02,       // property length 2
		0x01, 0x01, // Payload Format Indicator 1: UTF-8
		0xFF, 0xFE, // payload: not UTF-8
	})
	pub.expect([]byte{
		0x40,       // PUBACK
		0x03,       // remaining length 3
		0x00, 0x09, // packet identifier 9
		0x99, // 0x99 Payload format invalid
	}, "PUBACK")
	sub.expectNothing()
	// A valid UTF-8 payload with the indicator is delivered, the
	// indicator unaltered [MQTT-3.3.2-4].
	pub.send([]byte{
		0x32,                                // PUBLISH QoS 1
		0x0F,                                // remaining length 15
		0x00, 0x05, 'p', 'f', 'i', '/', 't', // topic "pfi/t"
		0x00, 0x0A, // packet identifier 10
		0x02,       // property length 2
		0x01, 0x01, // Payload Format Indicator 1: UTF-8
		0xC3, 0xA9, 0x21, // payload "é!"
	})
	pub.expect([]byte{0x40, 0x02, 0x00, 0x0A}, "PUBACK")
	p := sub.expectMessage("pfi/t", "é!", 1, false)
	if !p.Properties.Has(packet.PropPayloadFormat) || p.Properties.PayloadFormat != 1 {
		t.Fatalf("Payload Format Indicator not forwarded: %+v", p.Properties)
	}
}

// (5.0) The server forwards a PUBLISH's properties unaltered: Payload
// Format Indicator [MQTT-3.3.2-4], Response Topic [MQTT-3.3.2-15],
// Correlation Data [MQTT-3.3.2-16], User Properties in order
// [MQTT-3.3.2-17] [MQTT-3.3.2-18], Content Type [MQTT-3.3.2-20].
func TestPublishPropertiesForwarded(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	sub := connectClean(t, addr, v5, "props-sub")
	sub.subscribe(1, "props/t", 0x00)
	pub := connectClean(t, addr, v5, "props-pub")
	pub.publish(0, false, "props/t", 0, "{}",
		propPayloadFormat(1),
		propResponseTopic("reply/here"),
		propCorrelationData("\x00\x01corr"),
		propUser("k", "2"),
		propUser("a", "1"),
		propUser("k", "1"),
		propContentType("application/json"))
	p := sub.expectMessage("props/t", "{}", 0, false)
	pr := &p.Properties
	if pr.PayloadFormat != 1 || pr.ResponseTopic != "reply/here" || string(pr.CorrelationData) != "\x00\x01corr" ||
		pr.ContentType != "application/json" {
		t.Fatalf("properties altered: %+v", pr)
	}
	want := []packet.UserProperty{{Key: "k", Value: "2"}, {Key: "a", Value: "1"}, {Key: "k", Value: "1"}}
	if !slices.Equal(pr.User, want) {
		t.Fatalf("user properties %v, want %v", pr.User, want)
	}
}
