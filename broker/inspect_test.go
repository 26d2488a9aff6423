package broker_test

import (
	"testing"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

func TestInspectAndAdminActions(t *testing.T) {
	srv, addr := startBroker(t, broker.Options{})
	c := connectClient(t, addr, packet.Version5, "watched", true)
	c.subscribe(1, "house/#", 1)
	if err := srv.Publish("house/lamp", []byte("on"), 1, true); err != nil {
		t.Fatal(err)
	}
	if p := c.readPublish(); p.Topic != "house/lamp" || string(p.Payload) != "on" {
		t.Fatalf("admin publish delivered %+v", p)
	}
	c.sendPacket(&packet.Ack{Kind: packet.PUBACK, PacketID: 1})
	clients := srv.Clients()
	if len(clients) != 1 || clients[0].ClientID != "watched" || !clients[0].Connected || clients[0].Subscriptions != 1 {
		t.Fatalf("Clients() = %+v", clients)
	}
	if _, subs, ok := srv.Client("watched"); !ok || len(subs) != 1 || subs[0].Filter != "house/#" || subs[0].QoS != 1 {
		t.Fatalf("Client() subscriptions = %+v", subs)
	}
	ret, err := srv.Retained("house/+", 10)
	if err != nil || len(ret) != 1 || ret[0].Topic != "house/lamp" {
		t.Fatalf("Retained() = %+v, %v", ret, err)
	}
	if !srv.DeleteRetained("house/lamp") {
		t.Fatal("DeleteRetained found nothing")
	}
	if ret, _ := srv.Retained("#", 0); len(ret) != 0 {
		t.Fatalf("retained after delete: %+v", ret)
	}
	if !srv.Disconnect("watched") {
		t.Fatal("Disconnect found no connection")
	}
	got := c.expectClosed()
	if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != 0x98 {
		t.Fatalf("got %v, want DISCONNECT 0x98", got)
	}
}
