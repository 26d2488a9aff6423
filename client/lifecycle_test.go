package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
)

// No goroutine of the client outlives Disconnect.
func TestNoGoroutineLeft(t *testing.T) {
	addr := startMast(t, broker.Options{})
	ctx := ctxT(t)
	check := noLeak(t)
	for range 3 {
		rec := newRecorder()
		c, err := client.New(client.Options{Servers: []string{"mqtt://" + addr}, AutoReconnect: true,
			KeepAlive: time.Second, OnConnect: func(*client.Client, *packet.Connack) {}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		c.Subscribe(ctx, rec.handle, packet.Subscription{Filter: "l/#", QoS: 2})
		for qos := range byte(3) {
			if err := c.Publish(ctx, &client.Message{Topic: "l/x", QoS: qos}); err != nil {
				t.Fatal(err)
			}
		}
		rec.wait(t, 3)
		if err := c.Disconnect(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.Publish(ctx, &client.Message{Topic: "l/x"}); !errors.Is(err, client.ErrNotConnected) {
			t.Errorf("publish after Disconnect: %v", err)
		}
	}
	check()
}

// Disconnect while the client is reconnecting to a broker that is gone.
func TestDisconnectWhileReconnecting(t *testing.T) {
	addr := startMast(t, broker.Options{})
	px := newProxy(t, addr)
	ctx := ctxT(t)
	check := noLeak(t)
	reconnecting := make(chan int, 10)
	c, _ := client.New(client.Options{Servers: []string{"mqtt://" + px.addr()}, AutoReconnect: true,
		MinBackoff: 10 * time.Millisecond, OfflineBuffer: 10,
		OnReconnecting: func(_ *client.Client, n int) { reconnecting <- n }})
	if _, err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	px.refuseNew(true)
	px.cut()
	<-reconnecting
	<-reconnecting
	errc := make(chan error, 1)
	go func() { errc <- c.Publish(ctx, &client.Message{Topic: "x", QoS: 1}) }()
	time.Sleep(20 * time.Millisecond)
	if err := c.Disconnect(ctx); err != nil && !errors.Is(err, client.ErrNotConnected) {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, client.ErrClosed) {
		t.Errorf("buffered publish: %v", err)
	}
	check()
}

// A handler may call Disconnect (as Paho scripts do in on_message); the
// delivery goroutine, which runs it, ends right after.
func TestDisconnectFromHandler(t *testing.T) {
	addr := startMast(t, broker.Options{})
	ctx := ctxT(t)
	check := noLeak(t)
	done := make(chan error, 1)
	c, _ := client.New(client.Options{Servers: []string{"mqtt://" + addr},
		OnMessage: func(c *client.Client, m *client.Message) { done <- c.Disconnect(context.Background()) }})
	if _, err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	c.Subscribe(ctx, nil, packet.Subscription{Filter: "h"})
	c.Publish(ctx, &client.Message{Topic: "h"})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Disconnect from a handler did not return")
	}
	check()
	// The client can connect again.
	if _, err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	c.Disconnect(ctx)
}

// Publish and Subscribe answer ErrNotConnected before Connect, and Connect
// twice answers ErrAlreadyConnected.
func TestNotConnected(t *testing.T) {
	addr := startMast(t, broker.Options{})
	ctx := ctxT(t)
	c := newClient(t, addr, client.Options{})
	if err := c.Publish(ctx, &client.Message{Topic: "x"}); !errors.Is(err, client.ErrNotConnected) {
		t.Errorf("publish: %v", err)
	}
	if _, err := c.Subscribe(ctx, nil, packet.Subscription{Filter: "x"}); !errors.Is(err, client.ErrNotConnected) {
		t.Errorf("subscribe: %v", err)
	}
	if _, err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Connect(ctx); !errors.Is(err, client.ErrAlreadyConnected) {
		t.Errorf("second Connect: %v", err)
	}
	if c.ClientID() == "" {
		t.Error("no assigned client id")
	}
}

func TestInvalidArguments(t *testing.T) {
	addr := startMast(t, broker.Options{})
	ctx := ctxT(t)
	c := newClient(t, addr, client.Options{Version: 4, CleanStart: true})
	if _, err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*client.Message{{Topic: "a/+"}, {Topic: ""}, {Topic: "a", QoS: 3}} {
		if err := c.Publish(ctx, m); err == nil {
			t.Errorf("publish %+v accepted", m)
		}
	}
	for _, s := range []packet.Subscription{{Filter: "a/#/b"}, {Filter: "a", NoLocal: true}, {Filter: ""}} {
		if _, err := c.Subscribe(ctx, nil, s); err == nil {
			t.Errorf("subscribe %+v accepted", s)
		}
	}
	for _, o := range []client.Options{
		{},
		{Servers: []string{"bogus://x"}},
		{Servers: []string{"mqtt://x"}, Version: 6},
		{Servers: []string{"mqtt://x"}, Version: 4},                                          // empty id, no clean session
		{Servers: []string{"mqtt://x"}, Version: 4, CleanStart: true, Password: []byte("p")}, // password without user
		{Servers: []string{"mqtt://x"}, Will: &client.Will{Topic: "a/#"}},
	} {
		if _, err := client.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

// The Logger receives Paho's on_log lines for the QoS 1 and 2 exchanges.
func TestLoggerLines(t *testing.T) {
	addr := startMast(t, broker.Options{})
	ctx := ctxT(t)
	var logs lockedBuffer
	c := newClient(t, addr, client.Options{ClientID: "log", Version: 4, CleanStart: true,
		Logger: func(s string) { logs.Write([]byte(s + "\n")) }})
	if _, err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	c.Publish(ctx, &client.Message{Topic: "q1", Payload: []byte("abc"), QoS: 1})
	c.Publish(ctx, &client.Message{Topic: "q2", Payload: []byte("abcd"), QoS: 2, Retain: true})
	c.Disconnect(ctx)
	want := `Sending CONNECT (u0, p0, wr0, wq0, wf0, c1, k60) client_id=b'log'
Received CONNACK (0, 0)
Sending PUBLISH (d0, q1, r0, m1), 'q1', ... (3 bytes)
Received PUBACK (Mid: 1)
Sending PUBLISH (d0, q2, r1, m2), 'q2', ... (4 bytes)
Received PUBREC (Mid: 2)
Sending PUBREL (Mid: 2)
Received PUBCOMP (Mid: 2)
Sending DISCONNECT
`
	if got := logs.String(); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
	// v5 lines carry the properties.
	logs = lockedBuffer{}
	c5 := newClient(t, addr, client.Options{ClientID: "log5", Logger: func(s string) { logs.Write([]byte(s + "\n")) }})
	c5.Connect(ctx)
	c5.Disconnect(ctx)
	if got := logs.String(); !strings.HasPrefix(got, "Sending CONNECT (u0, p0, wr0, wq0, wf0, c0, k60) client_id=b'log5' properties=[SessionExpiryInterval : 4294967295]\nReceived CONNACK (0, Success) properties=[") {
		t.Errorf("v5 log:\n%s", got)
	}
}
