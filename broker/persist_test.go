package broker_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/store/memory"
)

// openBroker runs a broker on a store; stop shuts it down, as a restart
// would, keeping the store.
func openBroker(t *testing.T, st store.Store) (addr string, stop func()) {
	t.Helper()
	srv, err := broker.Open(broker.Options{Store: st, SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

func TestQueuedMessagesSurviveRestart(t *testing.T) {
	st := memory.New()
	addr, stop := openBroker(t, st)
	sub := connectClient(t, addr, packet.Version311, "keeper", false)
	sub.subscribe(1, "jobs/+", 1)
	sub.send([]byte{0xE0, 0x00})
	sub.expectClosed()
	pub := connectClient(t, addr, packet.Version311, "pub", true)
	for i := 1; i <= 3; i++ {
		pub.sendPacket(&packet.Publish{QoS: 1, PacketID: uint16(i), Topic: "jobs/a", Payload: []byte{byte('0' + i)}})
		if a := pub.read().(*packet.Ack); a.PacketID != uint16(i) {
			t.Fatalf("PUBACK %d", a.PacketID)
		}
	}
	pub.sendPacket(&packet.Publish{QoS: 1, PacketID: 9, Retain: true, Topic: "state", Payload: []byte("on")})
	pub.read()
	stop()

	addr, _ = openBroker(t, st)
	again := dial(t, addr, packet.Version311)
	ack := again.connect(&packet.Connect{ClientID: "keeper", KeepAlive: 60})
	if !ack.SessionPresent {
		t.Fatal("session lost in the restart")
	}
	for i := 1; i <= 3; i++ {
		p := again.readPublish()
		if string(p.Payload) != string(rune('0'+i)) || p.QoS != 1 {
			t.Fatalf("message %d: %+v", i, p)
		}
		again.sendPacket(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
	}
	// The subscription survived too.
	pub = connectClient(t, addr, packet.Version311, "pub", true)
	pub.sendPacket(&packet.Publish{QoS: 1, PacketID: 1, Topic: "jobs/b", Payload: []byte("4")})
	pub.read()
	if p := again.readPublish(); string(p.Payload) != "4" {
		t.Fatalf("after restart: %+v", p)
	}
	fresh := connectClient(t, addr, packet.Version311, "fresh", true)
	fresh.subscribe(1, "state", 0)
	if p := fresh.readPublish(); string(p.Payload) != "on" || !p.Retain {
		t.Fatalf("retained after restart: %+v", p)
	}
}

func TestInflightRedeliveredAfterRestart(t *testing.T) {
	st := memory.New()
	addr, stop := openBroker(t, st)
	c := dial(t, addr, packet.Version5)
	var props packet.Properties
	props.SessionExpiry = 3600
	props.Set(packet.PropSessionExpiry)
	c.connect(&packet.Connect{ClientID: "v5keeper", KeepAlive: 60, Properties: props})
	c.subscribe(1, "t", 2)
	pub := dial(t, addr, packet.Version5)
	pub.connect(&packet.Connect{ClientID: "pub", KeepAlive: 60, Properties: props})
	pub.sendPacket(&packet.Publish{QoS: 2, PacketID: 5, Topic: "t", Payload: []byte("x")})
	if a := pub.read().(*packet.Ack); a.Kind != packet.PUBREC {
		t.Fatalf("got %+v", a)
	}
	first := c.readPublish() // not acknowledged
	stop()

	addr, _ = openBroker(t, st)
	// The publisher's QoS 2 id is still held: a resend is not routed
	// again [MQTT-4.3.3-9].
	pub = dial(t, addr, packet.Version5)
	pub.connect(&packet.Connect{ClientID: "pub", KeepAlive: 60, Properties: props})
	pub.sendPacket(&packet.Publish{QoS: 2, PacketID: 5, Dup: true, Topic: "t", Payload: []byte("x")})
	if a := pub.read().(*packet.Ack); a.Kind != packet.PUBREC || a.PacketID != 5 {
		t.Fatalf("got %+v", a)
	}
	pub.sendPacket(&packet.Ack{Kind: packet.PUBREL, PacketID: 5})
	if a := pub.read().(*packet.Ack); a.Kind != packet.PUBCOMP || a.ReasonCode != 0 {
		t.Fatalf("got %+v, want PUBCOMP 0 (the id was still held)", a)
	}
	c = dial(t, addr, packet.Version5)
	ack := c.connect(&packet.Connect{ClientID: "v5keeper", KeepAlive: 60, Properties: props})
	if !ack.SessionPresent {
		t.Fatal("session lost")
	}
	redo := c.readPublish()
	if !redo.Dup || redo.PacketID != first.PacketID || string(redo.Payload) != "x" {
		t.Fatalf("redelivery %+v, want DUP of %d", redo, first.PacketID)
	}
	c.sendPacket(&packet.Ack{Kind: packet.PUBREC, PacketID: redo.PacketID})
	if a := c.read().(*packet.Ack); a.Kind != packet.PUBREL {
		t.Fatalf("got %+v", a)
	}
	c.sendPacket(&packet.Ack{Kind: packet.PUBCOMP, PacketID: redo.PacketID})
	c.expectNothing(200 * time.Millisecond)
}
