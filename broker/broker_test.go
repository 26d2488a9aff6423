package broker_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

var versions = []struct {
	name string
	v    byte
}{{"3.1", packet.Version31}, {"3.1.1", packet.Version311}, {"5", packet.Version5}}

func TestPublishSubscribeAllVersions(t *testing.T) {
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			_, addr := startBroker(t, broker.Options{})
			sub := connectClient(t, addr, ver.v, "sub", true)
			sa := sub.subscribe(1, "house/+", 1)
			if len(sa.ReasonCodes) != 1 || sa.ReasonCodes[0] != 1 {
				t.Fatalf("SUBACK codes %v, want [1]", sa.ReasonCodes)
			}
			pub := connectClient(t, addr, ver.v, "pub", true)
			pub.send(publishQoS0(ver.v, "house/sensor1", "my first message"))
			got := sub.readPublish()
			if got.Topic != "house/sensor1" || string(got.Payload) != "my first message" || got.QoS != 0 || got.Retain {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

// publishQoS0 is a QoS 0 PUBLISH written out byte by byte.
func publishQoS0(version byte, topic, payload string) []byte {
	props := 0
	if version == packet.Version5 {
		props = 1
	}
	b := []byte{0x30, byte(2 + len(topic) + props + len(payload)), 0, byte(len(topic))}
	b = append(b, topic...)
	if props == 1 {
		b = append(b, 0) // property length 0
	}
	return append(b, payload...)
}

func TestQoS1AckAndDelivery(t *testing.T) {
	_, addr := startBroker(t, broker.Options{})
	sub := connectClient(t, addr, packet.Version311, "sub", true)
	sub.subscribe(1, "a/b", 1)
	pub := connectClient(t, addr, packet.Version311, "pub", true)
	// PUBLISH QoS 1, packet id 7, topic "a/b", payload "x".
	pub.send([]byte{0x32, 0x08, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x07, 'x'})
	ack, ok := pub.read().(*packet.Ack)
	if !ok || ack.Kind != packet.PUBACK || ack.PacketID != 7 {
		t.Fatalf("want PUBACK 7, got %+v", ack)
	}
	got := sub.readPublish()
	if got.QoS != 1 || got.PacketID == 0 || string(got.Payload) != "x" {
		t.Fatalf("got %+v", got)
	}
	sub.sendPacket(&packet.Ack{Kind: packet.PUBACK, PacketID: got.PacketID})
}

func TestQoS2ExactlyOnceInbound(t *testing.T) {
	_, addr := startBroker(t, broker.Options{})
	sub := connectClient(t, addr, packet.Version311, "sub", true)
	sub.subscribe(1, "q2", 2)
	pub := connectClient(t, addr, packet.Version311, "pub", true)
	p := &packet.Publish{QoS: 2, Topic: "q2", PacketID: 9, Payload: []byte("once")}
	pub.sendPacket(p)
	if a := pub.read().(*packet.Ack); a.Kind != packet.PUBREC || a.PacketID != 9 {
		t.Fatalf("want PUBREC 9, got %+v", a)
	}
	// The same packet id again before PUBREL is a duplicate: acknowledged,
	// not routed again [MQTT-4.3.3-9].
	p.Dup = true
	pub.sendPacket(p)
	if a := pub.read().(*packet.Ack); a.Kind != packet.PUBREC || a.PacketID != 9 {
		t.Fatalf("want PUBREC 9 again, got %+v", a)
	}
	pub.sendPacket(&packet.Ack{Kind: packet.PUBREL, PacketID: 9})
	if a := pub.read().(*packet.Ack); a.Kind != packet.PUBCOMP || a.PacketID != 9 {
		t.Fatalf("want PUBCOMP 9, got %+v", a)
	}
	got := sub.readPublish()
	if got.QoS != 2 || string(got.Payload) != "once" {
		t.Fatalf("got %+v", got)
	}
	sub.sendPacket(&packet.Ack{Kind: packet.PUBREC, PacketID: got.PacketID})
	if a := sub.read().(*packet.Ack); a.Kind != packet.PUBREL || a.PacketID != got.PacketID {
		t.Fatalf("want PUBREL, got %+v", a)
	}
	sub.sendPacket(&packet.Ack{Kind: packet.PUBCOMP, PacketID: got.PacketID})
	sub.expectNothing(200 * time.Millisecond)
}

func TestRetainedMessage(t *testing.T) {
	_, addr := startBroker(t, broker.Options{})
	pub := connectClient(t, addr, packet.Version311, "pub", true)
	pub.sendPacket(&packet.Publish{QoS: 1, PacketID: 1, Retain: true, Topic: "house/main-light", Payload: []byte("off")})
	pub.read() // PUBACK: the retained value is stored before it is sent
	sub := connectClient(t, addr, packet.Version311, "sub", true)
	sub.subscribe(1, "house/#", 1)
	got := sub.readPublish()
	if !got.Retain || string(got.Payload) != "off" || got.Topic != "house/main-light" {
		t.Fatalf("retained: got %+v", got)
	}
	// An empty retained payload deletes it [MQTT-3.3.1-10].
	pub.sendPacket(&packet.Publish{QoS: 1, PacketID: 2, Retain: true, Topic: "house/main-light"})
	pub.read()
	sub2 := connectClient(t, addr, packet.Version311, "sub2", true)
	sub2.subscribe(1, "house/#", 1)
	sub2.expectNothing(200 * time.Millisecond)
}

func TestWillOnAbruptClose(t *testing.T) {
	_, addr := startBroker(t, broker.Options{})
	watcher := connectClient(t, addr, packet.Version311, "watcher", true)
	watcher.subscribe(1, "status/#", 0)
	c := dial(t, addr, packet.Version311)
	c.connect(&packet.Connect{ClientID: "dev1", CleanStart: true, KeepAlive: 60,
		WillFlag: true, WillTopic: "status/dev1", WillPayload: []byte("gone")})
	c.nc.Close()
	got := watcher.readPublish()
	if got.Topic != "status/dev1" || string(got.Payload) != "gone" {
		t.Fatalf("will: got %+v", got)
	}
}

func TestNoWillAfterNormalDisconnect(t *testing.T) {
	_, addr := startBroker(t, broker.Options{})
	watcher := connectClient(t, addr, packet.Version311, "watcher", true)
	watcher.subscribe(1, "status/#", 0)
	c := dial(t, addr, packet.Version311)
	c.connect(&packet.Connect{ClientID: "dev1", CleanStart: true, KeepAlive: 60,
		WillFlag: true, WillTopic: "status/dev1", WillPayload: []byte("gone")})
	c.send([]byte{0xE0, 0x00}) // DISCONNECT
	c.expectClosed()
	watcher.expectNothing(300 * time.Millisecond)
}

func TestSessionTakeoverV5(t *testing.T) {
	_, addr := startBroker(t, broker.Options{})
	old := connectClient(t, addr, packet.Version5, "same", true)
	connectClient(t, addr, packet.Version5, "same", true)
	got := old.expectClosed()
	if len(got) != 1 {
		t.Fatalf("old connection got %v, want one DISCONNECT", got)
	}
	if d, ok := got[0].(*packet.Disconnect); !ok || d.ReasonCode != packet.SessionTakenOver {
		t.Fatalf("old connection got %+v, want DISCONNECT 0x8E", got[0])
	}
}

func TestPersistentSessionRedeliversWithDup(t *testing.T) {
	_, addr := startBroker(t, broker.Options{})
	sub := connectClient(t, addr, packet.Version311, "keeper", false)
	sub.subscribe(1, "jobs", 1)
	pub := connectClient(t, addr, packet.Version311, "pub", true)
	pub.sendPacket(&packet.Publish{QoS: 1, PacketID: 1, Topic: "jobs", Payload: []byte("1")})
	pub.read()
	first := sub.readPublish()
	if first.Dup {
		t.Fatal("first delivery has DUP set")
	}
	sub.nc.Close() // no PUBACK: the message stays in flight
	pub.sendPacket(&packet.Publish{QoS: 1, PacketID: 2, Topic: "jobs", Payload: []byte("2")})
	pub.read()

	again := dial(t, addr, packet.Version311)
	ack := again.connect(&packet.Connect{ClientID: "keeper", KeepAlive: 60})
	if !ack.SessionPresent {
		t.Fatal("session present not set on resume [MQTT-3.2.2-3]")
	}
	redo := again.readPublish()
	if !redo.Dup || redo.PacketID != first.PacketID || string(redo.Payload) != "1" {
		t.Fatalf("redelivery %+v, want DUP of id %d", redo, first.PacketID)
	}
	next := again.readPublish()
	if string(next.Payload) != "2" {
		t.Fatalf("queued message %+v", next)
	}
}

func TestMalformedPacketClosesOnlyThatClient(t *testing.T) {
	_, addr := startBroker(t, broker.Options{})
	good := connectClient(t, addr, packet.Version311, "good", true)
	good.subscribe(1, "t", 0)
	bad := connectClient(t, addr, packet.Version311, "bad", true)
	bad.send([]byte{0x30, 0x03, 0x00, 0x09, 'a'}) // topic length 9 beyond the 3-byte body
	bad.expectClosed()
	other := connectClient(t, addr, packet.Version311, "other", true)
	other.send(publishQoS0(packet.Version311, "t", "still here"))
	if got := good.readPublish(); !bytes.Equal(got.Payload, []byte("still here")) {
		t.Fatalf("got %+v", got)
	}
}

func TestUnsupportedProtocolLevel(t *testing.T) {
	_, addr := startBroker(t, broker.Options{})
	c := dial(t, addr, packet.Version311)
	// CONNECT "MQTT" level 6.
	c.send([]byte{0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x3C, 0x00, 0x01, 'x'})
	got := c.expectClosed()
	if len(got) != 1 {
		t.Fatalf("got %v", got)
	}
	if ack, ok := got[0].(*packet.Connack); !ok || ack.ReasonCode != packet.ConnRefusedVersion {
		t.Fatalf("got %+v, want CONNACK 0x01 [MQTT-3.1.2-2]", got[0])
	}
}

func TestKeepAliveTimeout(t *testing.T) {
	_, addr := startBroker(t, broker.Options{})
	c := dial(t, addr, packet.Version5)
	c.connect(&packet.Connect{ClientID: "sleepy", CleanStart: true, KeepAlive: 1})
	start := time.Now()
	got := c.expectClosed()
	if el := time.Since(start); el < time.Second {
		t.Fatalf("closed after %v, before the keep alive ran out", el)
	}
	if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != packet.KeepAliveTimeout {
		t.Fatalf("got %v, want DISCONNECT 0x8D", got)
	}
}
