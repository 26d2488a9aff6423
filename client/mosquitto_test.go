package client_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
)

// Interoperability with Debian's Mosquitto broker.

func TestMosquittoPubSub(t *testing.T) {
	addr := startMosquitto(t)
	for _, v := range []byte{3, 4, 5} {
		for _, qos := range []byte{0, 1, 2} {
			t.Run(fmt.Sprintf("v%d/q%d", v, qos), func(t *testing.T) {
				ctx := ctxT(t)
				rec := newRecorder()
				id := fmt.Sprintf("m%d%d", v, qos)
				c := newClient(t, addr, client.Options{Version: v, ClientID: id, CleanStart: true})
				if _, err := c.Connect(ctx); err != nil {
					t.Fatal(err)
				}
				topic := "mq/" + id
				if _, err := c.Subscribe(ctx, rec.handle, packet.Subscription{Filter: topic + "/#", QoS: qos}); err != nil {
					t.Fatal(err)
				}
				for i := range 20 {
					if err := c.Publish(ctx, &client.Message{Topic: topic + "/x", Payload: []byte(strconv.Itoa(i)), QoS: qos}); err != nil {
						t.Fatal(err)
					}
				}
				for i, m := range rec.wait(t, 20) {
					if string(m.Payload) != strconv.Itoa(i) || m.QoS != qos {
						t.Errorf("message %d: %q QoS %d", i, m.Payload, m.QoS)
					}
				}
				if err := c.Disconnect(ctx); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// Retained messages, a will, v5 properties and topic aliases against
// Mosquitto.
func TestMosquittoFeatures(t *testing.T) {
	addr := startMosquitto(t)
	ctx := ctxT(t)
	pub := newClient(t, addr, client.Options{ClientID: "feat-pub", CleanStart: true, TopicAliases: true})
	if _, err := pub.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, &client.Message{Topic: "f/ret", Payload: []byte("kept"), QoS: 1, Retain: true}); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	opts := client.Options{ClientID: "feat-sub", CleanStart: true}
	opts.ConnectProperties.TopicAliasMaximum = 10
	opts.ConnectProperties.Set(packet.PropTopicAliasMaximum)
	sub := newClient(t, addr, opts)
	if _, err := sub.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.SubscribeWith(ctx, &client.SubscribeRequest{
		Subscriptions: []packet.Subscription{{Filter: "f/#", QoS: 2}}, Handler: rec.handle, ID: 9}); err != nil {
		t.Fatal(err)
	}
	if m := rec.wait(t, 1)[0]; string(m.Payload) != "kept" || !m.Retain {
		t.Errorf("retained: %q retain %v", m.Payload, m.Retain)
	}
	m := &client.Message{Topic: "f/props", Payload: []byte("{}"), QoS: 2}
	m.Properties.ContentType = "application/json"
	m.Properties.Set(packet.PropContentType)
	m.Properties.User = []packet.UserProperty{{Key: "k", Value: "v"}}
	for range 3 { // aliases after the first
		if err := pub.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, got := range rec.wait(t, 4)[1:] {
		if got.Topic != "f/props" || got.Properties.ContentType != "application/json" || len(got.Properties.User) != 1 ||
			len(got.Properties.SubscriptionIDs) != 1 || got.Properties.SubscriptionIDs[0] != 9 {
			t.Errorf("v5 message: %q %+v", got.Topic, got.Properties)
		}
	}

	// A will, published when the connection drops without DISCONNECT.
	px := newProxy(t, addr)
	wc := newClient(t, px.addr(), client.Options{ClientID: "feat-will", CleanStart: true,
		Will: &client.Will{Topic: "f/will", Payload: []byte("gone"), QoS: 1}})
	if _, err := wc.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	px.cut()
	got := rec.wait(t, 5)
	if w := got[4]; w.Topic != "f/will" || string(w.Payload) != "gone" {
		t.Errorf("will: %q %q", w.Topic, w.Payload)
	}
}

// The publisher's connection to Mosquitto is cut repeatedly while it
// publishes at QoS 2 with a persistent session.
func TestMosquittoReconnect(t *testing.T) {
	addr := startMosquitto(t)
	for _, v := range []byte{4, 5} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			px := newProxy(t, addr)
			ctx := ctxT(t)
			ta := newTally()
			sub := newClient(t, addr, client.Options{Version: v, ClientID: fmt.Sprintf("rsub%d", v), CleanStart: true})
			if _, err := sub.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			topic := fmt.Sprintf("rc%d", v)
			if _, err := sub.Subscribe(ctx, ta.handle, packet.Subscription{Filter: topic, QoS: 2}); err != nil {
				t.Fatal(err)
			}
			pub := newClient(t, px.addr(), client.Options{Version: v, ClientID: fmt.Sprintf("rpub%d", v), AutoReconnect: true,
				MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, OfflineBuffer: 100})
			if _, err := pub.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			stop := cutter(px, 30*time.Millisecond)
			var acked []string
			for i := range 600 {
				p := strconv.Itoa(i)
				if err := pub.Publish(ctx, &client.Message{Topic: topic, Payload: []byte(p), QoS: 2}); err != nil {
					t.Fatalf("publish %d: %v", i, err)
				}
				acked = append(acked, p)
			}
			t.Logf("%d cuts", stop())
			ta.waitFor(t, acked, 10*time.Second)
			ta.checkNoDup(t)
		})
	}
}
