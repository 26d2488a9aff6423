package client_test

import (
	"fmt"
	"testing"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
)

func TestPubSubQoS(t *testing.T) {
	for _, v := range []byte{3, 4, 5} {
		for _, qos := range []byte{0, 1, 2} {
			t.Run(fmt.Sprintf("v%d/q%d", v, qos), func(t *testing.T) {
				addr := startMast(t, broker.Options{})
				ctx := ctxT(t)
				rec := newRecorder()
				c := newClient(t, addr, client.Options{Version: v, ClientID: "c1", CleanStart: true})
				if _, err := c.Connect(ctx); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Subscribe(ctx, rec.handle, packet.Subscription{Filter: "a/#", QoS: qos}); err != nil {
					t.Fatal(err)
				}
				for i := range 10 {
					if err := c.Publish(ctx, &client.Message{Topic: "a/b", Payload: []byte(fmt.Sprint(i)), QoS: qos}); err != nil {
						t.Fatal(err)
					}
				}
				got := rec.wait(t, 10)
				for i, m := range got {
					if string(m.Payload) != fmt.Sprint(i) || m.QoS != qos || m.Topic != "a/b" {
						t.Errorf("message %d: %q qos %d topic %q", i, m.Payload, m.QoS, m.Topic)
					}
				}
				if err := c.Disconnect(ctx); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}
