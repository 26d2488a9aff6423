package conformance_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

// A client id already connected is taken over by the new connection: the
// server closes the old one ([MQTT-3.1.4-2] in 3.1.1; [MQTT-3.1.4-3] in
// 5.0, after DISCONNECT 0x8E Session taken over) and the new one works.
func TestSessionTakeover(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	for _, v := range []byte{v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			id := "takeover-" + versionName(v)
			old, _ := connect(t, addr, v, id, 0x00, false, propSessionExpiry(60))
			old.subscribe(1, "to/"+versionName(v), 0x01)
			// The session carries over: Clean Start 0 finds it
			// [MQTT-3.2.2-2] (3.1.1) / [MQTT-3.2.2-3] (5.0).
			c, _ := connect(t, addr, v, id, 0x00, true, propSessionExpiry(60))
			if v == v5 {
				old.expectDisconnect(packet.SessionTakenOver)
			} else {
				old.expectCloseSilently()
			}
			pub := connectClean(t, addr, v, "topub")
			pub.publish(1, false, "to/"+versionName(v), 1, "still subscribed")
			p := c.expectMessage("to/"+versionName(v), "still subscribed", 1, false)
			c.send(puback(p.PacketID))
			c.ping()
		})
	}
}

// A persistent session (3.1.1 Clean Session 0, 5.0 a Session Expiry
// Interval) keeps its subscriptions and queues QoS 1 messages while the
// client is away; the client resumes with session present 1 and gets them
// in order ([MQTT-3.1.2-4] [MQTT-3.1.2-5] [MQTT-3.2.2-2] [MQTT-4.6.0-6] in
// 3.1.1; [MQTT-3.1.2-5] [MQTT-3.1.2-23] [MQTT-3.2.2-3] in 5.0).
func TestPersistentSession(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	for _, v := range []byte{v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			vn := versionName(v)
			id, topic := "persist-"+vn, "ps/"+vn
			sub, _ := connect(t, addr, v, id, 0x00, false, propSessionExpiry(300))
			sub.subscribe(1, topic, 0x01)
			sub.send(disconnect)
			sub.expectClosed()
			pub := connectClean(t, addr, v, "pspub-"+vn)
			for i := range 3 {
				pub.publish(1, false, topic, uint16(i+1), fmt.Sprint("m", i))
			}
			sub, _ = connect(t, addr, v, id, 0x00, true, propSessionExpiry(300))
			for i := range 3 {
				p := sub.expectMessage(topic, fmt.Sprint("m", i), 1, false)
				sub.send(puback(p.PacketID))
			}
			sub.expectNothing()
			pub.publish(1, false, topic, 9, "live")
			p := sub.expectMessage(topic, "live", 1, false)
			sub.send(puback(p.PacketID))
		})
	}
}

// (5.0) [MQTT-3.1.2-23] Without a Session Expiry Interval the session ends
// with the connection, even with Clean Start 0.
func TestSessionExpiryAbsentIsZero(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	c, _ := connect(t, addr, v5, "noexp", 0x00, false)
	c.subscribe(1, "noexp/t", 0x01)
	c.send(disconnect)
	c.expectClosed()
	c, _ = connect(t, addr, v5, "noexp", 0x00, false)
	pub := connectClean(t, addr, v5, "noexp-pub")
	pub.publish(1, false, "noexp/t", 1, "x")
	c.expectNothing()
}

// [MQTT-4.4.0-1] On resuming a session the server resends the QoS 1
// messages not acknowledged, with their original packet identifiers, DUP
// set [MQTT-3.3.1-1], in the original order [MQTT-4.6.0-1].
func TestRedeliveryOnResume(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	for _, v := range []byte{v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			vn := versionName(v)
			id, topic := "redeliver-"+vn, "rd/"+vn
			sub, _ := connect(t, addr, v, id, 0x00, false, propSessionExpiry(300))
			sub.subscribe(1, topic, 0x01)
			pub := connectClean(t, addr, v, "rdpub-"+vn)
			var first []*packet.Publish
			for i := range 3 {
				pub.publish(1, false, topic, uint16(i+1), fmt.Sprint("m", i))
				p := sub.expectMessage(topic, fmt.Sprint("m", i), 1, false)
				if p.Dup {
					t.Fatalf("first delivery with DUP set [MQTT-3.3.1-3]")
				}
				first = append(first, p)
			}
			sub.drop() // no PUBACK for any of them
			sub, _ = connect(t, addr, v, id, 0x00, true, propSessionExpiry(300))
			for i := range 3 {
				p := sub.expectMessage(topic, fmt.Sprint("m", i), 1, false)
				if !p.Dup || p.PacketID != first[i].PacketID {
					t.Fatalf("resent %q with DUP %v packet id %d, want DUP and id %d", p.Payload, p.Dup, p.PacketID, first[i].PacketID)
				}
			}
			for i := range 3 {
				sub.send(puback(first[i].PacketID))
			}
			sub.expectNothing()
			// Acknowledged now: a further resume resends nothing.
			sub.drop()
			sub, _ = connect(t, addr, v, id, 0x00, true, propSessionExpiry(300))
			sub.expectNothing()
		})
	}
}

// [MQTT-4.4.0-1] A QoS 2 message whose PUBREC the server had is resumed
// with PUBREL, not PUBLISH ([MQTT-4.3.3-1] in 3.1.1, [MQTT-4.3.3-6] in
// 5.0: no PUBLISH once PUBREL is sent).
func TestQoS2ResumesWithPubrel(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	for _, v := range []byte{v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			vn := versionName(v)
			id, topic := "q2resume-"+vn, "q2r/"+vn
			sub, _ := connect(t, addr, v, id, 0x00, false, propSessionExpiry(300))
			sub.subscribe(1, topic, 0x02)
			pub := connectClean(t, addr, v, "q2rpub-"+vn)
			pub.publish(2, false, topic, 1, "two")
			p := sub.expectMessage(topic, "two", 2, false)
			sub.send(pubrec(p.PacketID))
			sub.expect(pubrel(p.PacketID), "PUBREL")
			sub.drop() // no PUBCOMP
			sub, _ = connect(t, addr, v, id, 0x00, true, propSessionExpiry(300))
			sub.expect(pubrel(p.PacketID), "PUBREL resent on resume")
			sub.send(pubcomp(p.PacketID))
			sub.expectNothing()
		})
	}
}

// The server's side of an inbound QoS 2 exchange is session state too
// ([MQTT-4.1.0-1] 3.1.1 / §4.1 5.0): a publisher that reconnects and
// resends the PUBLISH gets PUBREC without a second delivery
// ([MQTT-4.3.3-2] in 3.1.1, [MQTT-4.3.3-10] in 5.0), then PUBCOMP.
func TestInboundQoS2SurvivesReconnect(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	for _, v := range []byte{v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			vn := versionName(v)
			id, topic := "inq2-"+vn, "inq2/"+vn
			sub := connectClean(t, addr, v, "inq2sub-"+vn)
			sub.subscribe(1, topic, 0x00)
			pub, _ := connect(t, addr, v, id, 0x00, false, propSessionExpiry(300))
			msg := publishPacket(v, 2, false, topic, 0x0505, "exactly once")
			pub.send(msg)
			pub.expect([]byte{
				0x50,       // PUBREC
				0x02,       // remaining length 2
				0x05, 0x05, // packet identifier 0x0505
			}, "PUBREC")
			sub.expectMessage(topic, "exactly once", 0, false)
			pub.drop()
			pub, _ = connect(t, addr, v, id, 0x00, true, propSessionExpiry(300))
			dup := bytes.Clone(msg)
			dup[0] |= 0x08 // DUP
			pub.send(dup)
			pub.expect([]byte{0x50, 0x02, 0x05, 0x05}, "PUBREC for the resent PUBLISH")
			pub.send(pubrel(0x0505))
			pub.expect([]byte{
				0x70,       // PUBCOMP
				0x02,       // remaining length 2
				0x05, 0x05, // packet identifier 0x0505
			}, "PUBCOMP")
			sub.expectNothing()
		})
	}
}

// (5.0) [MQTT-3.1.2-23] A session is kept for its Session Expiry Interval
// after the connection closes, then discarded: a later Clean Start 0
// finds none (session present 0 [MQTT-3.2.2-3]).
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	sub, _ := connect(t, addr, v5, "expiring", flagClean, false, propSessionExpiry(1))
	sub.subscribe(1, "se/t", 0x01)
	sub.send(disconnect)
	sub.expectClosed()
	pub := connectClean(t, addr, v5, "se-pub")
	// While the session lasts, a QoS 1 message to it has a subscriber ...
	pid := uint16(1)
	pub.send(publishPacket(v5, 1, false, "se/t", pid, "queued"))
	pub.expect(puback(pid), "PUBACK 0x00 while the session exists")
	// ... and once it expired, none: PUBACK 0x10.
	eventually(t, "session expired", func() bool {
		pid++
		pub.send(publishPacket(v5, 1, false, "se/t", pid, "probe"))
		raw := pub.next()
		if bytes.Equal(raw, puback(pid)) {
			return false
		}
		want := []byte{0x40, 0x03, byte(pid >> 8), byte(pid), 0x10}
		if !bytes.Equal(raw, want) {
			t.Fatalf("got % X, want PUBACK % X or % X", raw, puback(pid), want)
		}
		return true
	})
	c, _ := connect(t, addr, v5, "expiring", 0x00, false, propSessionExpiry(1))
	c.expectNothing() // the queued message went with the session
}

// (5.0) Will Delay Interval: the will is published once the delay has
// passed [MQTT-3.1.2-8]; [MQTT-3.1.3-9] not if the client reconnects to
// the session before; and at once if the session ends first.
func TestWillDelay(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	t.Run("delayed", func(t *testing.T) {
		t.Parallel()
		watcher := connectClean(t, addr, v5, "wd1-watch")
		watcher.subscribe(1, "wdelay/1", 0x00)
		c := connectWithWill(t, addr, v5, "wd1", 0, "wdelay/1", "late", propSessionExpiry(60), propWillDelay(1))
		dropped := time.Now()
		c.drop()
		watcher.expectMessage("wdelay/1", "late", 0, false)
		if d := time.Since(dropped); d < 900*time.Millisecond {
			t.Fatalf("will published %v after the close, before its delay of 1 s", d)
		}
	})
	t.Run("reconnect in time", func(t *testing.T) {
		t.Parallel()
		watcher := connectClean(t, addr, v5, "wd2-watch")
		watcher.subscribe(1, "wdelay/2", 0x00)
		c := connectWithWill(t, addr, v5, "wd2", 0, "wdelay/2", "never", propSessionExpiry(60), propWillDelay(1))
		c.drop()
		c, _ = connect(t, addr, v5, "wd2", 0x00, true, propSessionExpiry(60))
		// Past the delay (and a housekeeping tick): still no will.
		watcher.expectNothingFor(2500 * time.Millisecond)
		c.ping()
	})
	t.Run("session ends first", func(t *testing.T) {
		t.Parallel()
		watcher := connectClean(t, addr, v5, "wd3-watch")
		watcher.subscribe(1, "wdelay/3", 0x00)
		// Session Expiry 0: the session ends with the connection, long
		// before the will delay of 300 s.
		c := connectWithWill(t, addr, v5, "wd3", 0, "wdelay/3", "now", nil, propWillDelay(300))
		c.drop()
		watcher.expectMessage("wdelay/3", "now", 0, false)
	})
}

// expectNothingFor is expectNothing over a longer, given time.
func (c *client) expectNothingFor(d time.Duration) {
	c.t.Helper()
	raw, err := c.readRaw(d)
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() || len(raw) > 0 {
		c.t.Fatalf("%s: want nothing for %v, got % X (%s), err %v", c.name, d, raw, c.describe(raw), err)
	}
}

// (5.0) An in-flight QoS 1 message whose expiry passes while the client is
// away has been sent already, so [MQTT-4.4.0-1] it is resent on resume
// ([MQTT-3.3.2-5] only drops messages whose delivery has not started), and
// it does not keep holding the client's receive window.
func TestExpiredInflightResent(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	sub, _ := connect(t, addr, v5, "inflight-exp", flagClean, false, propSessionExpiry(60), propReceiveMaximum(1))
	sub.subscribe(1, "ie/t", 0x01)
	pub := connectClean(t, addr, v5, "ie-pub")
	pub.publish(1, false, "ie/t", 1, "short-lived", propMessageExpiry(1))
	first := sub.expectMessage("ie/t", "short-lived", 1, false)
	sub.drop() // no PUBACK
	pub.publish(1, false, "ie/t", 2, "durable")
	time.Sleep(1100 * time.Millisecond) // let the first one's expiry pass
	sub, _ = connect(t, addr, v5, "inflight-exp", 0x00, true, propSessionExpiry(60), propReceiveMaximum(1))
	p := sub.expectMessage("ie/t", "short-lived", 1, false)
	if !p.Dup || p.PacketID != first.PacketID {
		t.Fatalf("resent with DUP %v id %d, want DUP and id %d", p.Dup, p.PacketID, first.PacketID)
	}
	sub.send(puback(p.PacketID))
	p = sub.expectMessage("ie/t", "durable", 1, false)
	sub.send(puback(p.PacketID))
}
