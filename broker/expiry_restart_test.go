package broker_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/store/memory"
)

// storedSessions lists the client ids the store holds sessions for.
func storedSessions(t *testing.T, st store.Store) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	err := st.Load(store.Visitor{Session: func(s *store.Session) error {
		ids[s.ClientID] = true
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func connectV5(t *testing.T, addr, id string, expiry uint32) (*rawClient, *packet.Connack) {
	t.Helper()
	c := dial(t, addr, packet.Version5)
	var props packet.Properties
	props.SessionExpiry = expiry
	props.Set(packet.PropSessionExpiry)
	ack := c.connect(&packet.Connect{ClientID: id, KeepAlive: 60, Properties: props})
	if ack.ReasonCode != 0 {
		t.Fatalf("%s: CONNACK %#x", id, ack.ReasonCode)
	}
	return c, ack
}

// TestSessionExpiryAcrossRestart: the expiry interval of a v5 session
// keeps running while the broker is down. A session with a 1 s expiry,
// restarted more than 1 s after its client left, is gone (session present
// 0, its subscription and queued message with it); one with 3600 s
// survives the same restart with its queued message [MQTT-3.1.2-23].
func TestSessionExpiryAcrossRestart(t *testing.T) {
	st := memory.New()
	addr, stop := openBroker(t, st)

	short, _ := connectV5(t, addr, "short", 1)
	short.subscribe(1, "exp/short", 1)
	long, _ := connectV5(t, addr, "long", 3600)
	long.subscribe(1, "exp/long", 1)
	for _, c := range []*rawClient{short, long} {
		c.sendPacket(&packet.Disconnect{})
		c.expectClosed()
	}
	left := time.Now()

	// Each offline session gets one QoS 1 message to keep.
	pub := connectClient(t, addr, packet.Version5, "pub", true)
	for i, topic := range []string{"exp/short", "exp/long"} {
		pub.sendPacket(&packet.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: topic, Payload: []byte("kept for " + topic)})
		if a, ok := pub.read().(*packet.Ack); !ok || a.ReasonCode != packet.Success {
			t.Fatalf("PUBACK for %s: %+v, want success (a session is subscribed)", topic, a)
		}
	}
	stop()
	// The broker stopped well within the short session's second: it is
	// still in the store, so what drops it is the restart.
	if d := time.Since(left); d >= time.Second {
		t.Skipf("the broker took %v to stop; the test needs it to stop within the 1 s expiry", d)
	}
	if ids := storedSessions(t, st); !ids["short"] || !ids["long"] {
		t.Fatalf("sessions in the store at shutdown: %v, want short and long", ids)
	}

	// The interval under test: restart a little more than 1 s after the
	// clients left.
	time.Sleep(time.Until(left.Add(1200 * time.Millisecond)))
	addr, _ = openBroker(t, st)

	// The expired session is not there: no session present [MQTT-3.2.2-3],
	// nothing delivered, and its subscription is gone too.
	short, ack := connectV5(t, addr, "short", 1)
	if ack.SessionPresent {
		t.Fatal("session present 1 for a session whose 1 s expiry passed while the broker was down")
	}
	short.expectNothing(200 * time.Millisecond)
	pub = connectClient(t, addr, packet.Version5, "pub", true)
	pub.sendPacket(&packet.Publish{QoS: 1, PacketID: 1, Topic: "exp/short", Payload: []byte("after")})
	if a, ok := pub.read().(*packet.Ack); !ok || a.ReasonCode != packet.NoMatchingSubscribers {
		t.Fatalf("PUBACK to exp/short after the restart: %+v, want 0x10 no matching subscribers", a)
	}

	// The long session resumes with its subscription and its message.
	long, ack = connectV5(t, addr, "long", 3600)
	if !ack.SessionPresent {
		t.Fatal("session present 0 for a session with a 3600 s expiry")
	}
	p := long.readPublish()
	if p.Topic != "exp/long" || string(p.Payload) != "kept for exp/long" || p.QoS != 1 {
		t.Fatalf("queued message after the restart: %+v", p)
	}
	long.sendPacket(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
	pub.sendPacket(&packet.Publish{QoS: 1, PacketID: 2, Topic: "exp/long", Payload: []byte("live")})
	if a, ok := pub.read().(*packet.Ack); !ok || a.ReasonCode != packet.Success {
		t.Fatalf("PUBACK to exp/long after the restart: %+v", a)
	}
	if p := long.readPublish(); string(p.Payload) != "live" {
		t.Fatalf("live message after the restart: %+v", p)
	}
}

// crashingStore stands for a broker process killed at once: from crash
// on, nothing more reaches the store, as if the process died before
// writing it.
type crashingStore struct {
	store.Store
	crashed atomic.Bool
}

func (s *crashingStore) Commit(b *store.Batch, sync bool) error {
	if s.crashed.Load() {
		return nil
	}
	return s.Store.Commit(b, sync)
}

// TestSessionExpiryAfterCrashRunsFromRestart: a session whose client was
// still connected when the broker died lost its connection then, and the
// store never heard of it; its expiry runs from the restart. A 1 s
// session restarted more than 1 s after the crash is still there, while
// a graceful shutdown counts as the disconnection (TestSessionExpiryAcrossRestart
// shows the other side of that).
func TestSessionExpiryAfterCrashRunsFromRestart(t *testing.T) {
	mem := memory.New()
	st := &crashingStore{Store: mem}
	addr, stop := openBroker(t, st)
	c, _ := connectV5(t, addr, "held", 1)
	c.subscribe(1, "held/t", 1)
	st.crashed.Store(true)
	crash := time.Now()
	stop()
	c.expectClosed()
	time.Sleep(time.Until(crash.Add(1200 * time.Millisecond)))

	addr, _ = openBroker(t, mem)
	_, ack := connectV5(t, addr, "held", 1)
	if !ack.SessionPresent {
		t.Fatal("session present 0: the expiry of a session connected at a crash must run from the restart")
	}
}
