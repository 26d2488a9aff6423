package broker_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

func TestMaxConnections(t *testing.T) {
	srv, addr := startBroker(t, broker.Options{MaxConnections: 2})
	connectClient(t, addr, packet.Version311, "a", true)
	connectClient(t, addr, packet.Version311, "b", true)
	c := dial(t, addr, packet.Version311)
	c.expectClosed()
	if got := srv.Stats().RefusedMaxConns; got != 1 {
		t.Fatalf("RefusedMaxConns = %d, want 1", got)
	}
}

func TestSubscriptionLimit(t *testing.T) {
	srv, addr := startBroker(t, broker.Options{MaxSubscriptions: 1})
	c := connectClient(t, addr, packet.Version5, "a", true)
	c.sendPacket(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "x"}, {Filter: "y"}}})
	sa := c.read().(*packet.Suback)
	if sa.ReasonCodes[0] != 0 || sa.ReasonCodes[1] != packet.QuotaExceeded {
		t.Fatalf("SUBACK %v, want [0 0x97]", sa.ReasonCodes)
	}
	// Replacing an existing subscription is not a new one.
	if sa := c.subscribe(2, "x", 1); sa.ReasonCodes[0] != 1 {
		t.Fatalf("resubscribe: %v", sa.ReasonCodes)
	}
	if srv.Stats().SubscriptionLimited != 1 {
		t.Fatal("limit not counted")
	}
}

func TestTopicLevelLimit(t *testing.T) {
	srv, addr := startBroker(t, broker.Options{MaxTopicLevels: 8})
	c := connectClient(t, addr, packet.Version311, "a", true)
	deep := strings.Repeat("a/", 20) + "b"
	if sa := c.subscribe(1, deep, 0); sa.ReasonCodes[0] != packet.SubackFailure {
		t.Fatalf("deep filter accepted: %v", sa.ReasonCodes)
	}
	c.sendPacket(&packet.Publish{Topic: deep, Payload: []byte("x")})
	c.expectClosed()
	if srv.Stats().TopicLimitHits != 2 {
		t.Fatalf("TopicLimitHits = %d, want 2", srv.Stats().TopicLimitHits)
	}
}

func TestConnectionRatePerAddress(t *testing.T) {
	srv, addr := startBroker(t, broker.Options{ConnectionRate: 2})
	refused := 0
	for range 6 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c := &rawClient{t: t, nc: nc, br: newReader(nc), version: packet.Version311}
		c.sendPacket(&packet.Connect{ProtocolName: "MQTT", Version: 4, ClientID: "r", CleanStart: true})
		nc.SetReadDeadline(deadline())
		if _, err := packet.Read(c.br, 4, 0); err != nil {
			refused++
		}
		nc.Close()
	}
	if refused == 0 || srv.Stats().RefusedRate == 0 {
		t.Fatalf("6 quick connections from one address: %d refused, counter %d", refused, srv.Stats().RefusedRate)
	}
}

func TestPublishRateThrottles(t *testing.T) {
	srv, addr := startBroker(t, broker.Options{PublishRate: 50, PublishBurst: 5})
	sub := connectClient(t, addr, packet.Version311, "s", true)
	sub.subscribe(1, "t", 0)
	pub := connectClient(t, addr, packet.Version311, "p", true)
	for range 20 {
		pub.send(publishQoS0(packet.Version311, "t", "x"))
	}
	// Slowed down, but nothing is lost.
	for range 20 {
		sub.readPublish()
	}
	if srv.Stats().Throttled == 0 {
		t.Fatal("20 messages at once past a burst of 5 were not throttled")
	}
}

// A reload's new limits apply to connected clients' next actions.
func TestSetLimitsAppliesToConnectedClients(t *testing.T) {
	srv, addr := startBroker(t, broker.Options{})
	c := connectClient(t, addr, packet.Version5, "a", true)
	c.subscribe(1, "x", 0)
	srv.SetLimits(broker.Options{MaxSubscriptions: 1, MaxQoS: 1})
	c.sendPacket(&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "y", QoS: 2}}})
	if sa := c.read().(*packet.Suback); sa.ReasonCodes[0] != packet.QuotaExceeded {
		t.Fatalf("SUBACK %v after lowering the subscription limit, want [0x97]", sa.ReasonCodes)
	}
	// The new maximum QoS grants at most 1.
	if sa := c.subscribe(3, "x", 2); sa.ReasonCodes[0] != 1 {
		t.Fatalf("SUBACK %v, want granted QoS 1", sa.ReasonCodes)
	}
}

// A subscriber that never reads is closed once a write to it has been
// blocked for WriteTimeout.
func TestWriteTimeoutClosesStuckSubscriber(t *testing.T) {
	srv, addr := startBroker(t, broker.Options{WriteTimeout: 200 * time.Millisecond, MaxOutboundBytes: 64 << 20})
	stuck := connectClient(t, addr, packet.Version311, "stuck", true)
	stuck.subscribe(1, "flood", 0)
	pub := connectClient(t, addr, packet.Version311, "pub", true)
	payload := string(make([]byte, 64<<10))
	deadline := time.Now().Add(20 * time.Second)
	for srv.Stats().ClientsConnected > 1 {
		if time.Now().After(deadline) {
			t.Fatal("the stuck subscriber was not closed")
		}
		// Fill the socket buffers until the broker's write blocks.
		pub.sendPacket(&packet.Publish{Topic: "flood", Payload: []byte(payload)})
	}
	for _, c := range srv.Clients() {
		if c.Connected && c.ClientID != "pub" {
			t.Fatalf("%s still connected; the stuck subscriber should be the one closed", c.ClientID)
		}
	}
}
