package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
)

// Reconnect tests: a TCP proxy between client and broker cuts or stalls
// the connection while messages flow. Whatever happens, no QoS 1/2 message
// whose Publish returned nil is lost, and none is delivered twice at QoS 2.

// tally counts deliveries per payload.
type tally struct {
	mu     sync.Mutex
	counts map[string]int
	order  []string
	ch     chan struct{}
}

func newTally() *tally { return &tally{counts: make(map[string]int), ch: make(chan struct{}, 1)} }

func (ta *tally) handle(_ *client.Client, m *client.Message) {
	ta.mu.Lock()
	ta.counts[string(m.Payload)]++
	ta.order = append(ta.order, string(m.Payload))
	ta.mu.Unlock()
	select {
	case ta.ch <- struct{}{}:
	default:
	}
}

// waitFor waits until every payload in want has been delivered.
func (ta *tally) waitFor(t *testing.T, want []string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		ta.mu.Lock()
		missing := 0
		var first string
		for _, w := range want {
			if ta.counts[w] == 0 {
				if missing == 0 {
					first = w
				}
				missing++
			}
		}
		ta.mu.Unlock()
		if missing == 0 {
			return
		}
		select {
		case <-ta.ch:
		case <-deadline:
			t.Fatalf("%d acknowledged messages never delivered, the first %q", missing, first)
		}
	}
}

func (ta *tally) checkNoDup(t *testing.T) {
	t.Helper()
	ta.mu.Lock()
	defer ta.mu.Unlock()
	for p, n := range ta.counts {
		if n > 1 {
			t.Errorf("QoS 2 message %q delivered %d times", p, n)
		}
	}
}

// cutter cuts the proxy every interval until stopped.
func cutter(p *proxy, every time.Duration) (stop func() int) {
	done := make(chan struct{})
	var cuts int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.cut()
				cuts++
			}
		}
	}()
	return func() int { close(done); wg.Wait(); return cuts }
}

func TestReconnectPublisherCut(t *testing.T) {
	for _, v := range []byte{4, 5} {
		for _, qos := range []byte{1, 2} {
			for _, clean := range []bool{false, true} {
				t.Run(fmt.Sprintf("v%d/q%d/clean=%v", v, qos, clean), func(t *testing.T) {
					addr := startMast(t, broker.Options{})
					px := newProxy(t, addr)
					ctx := ctxT(t)
					ta := newTally()
					sub := newClient(t, addr, client.Options{Version: v, ClientID: "sub", CleanStart: true})
					if _, err := sub.Connect(ctx); err != nil {
						t.Fatal(err)
					}
					if _, err := sub.Subscribe(ctx, ta.handle, packet.Subscription{Filter: "r/#", QoS: qos}); err != nil {
						t.Fatal(err)
					}
					pub := newClient(t, px.addr(), client.Options{Version: v, ClientID: "pub", CleanStart: clean, AutoReconnect: true,
						MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, OfflineBuffer: 1000})
					if _, err := pub.Connect(ctx); err != nil {
						t.Fatal(err)
					}
					stop := cutter(px, 25*time.Millisecond)
					var acked []string
					var failed int
					var failures []error
					var wg sync.WaitGroup
					var mu sync.Mutex
					// Four publishers at once, so that several messages are in
					// flight when the connection drops.
					for w := range 4 {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for i := range 400 {
								payload := fmt.Sprintf("%d-%d", w, i)
								pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
								err := pub.Publish(pctx, &client.Message{Topic: "r/" + strconv.Itoa(w), Payload: []byte(payload), QoS: qos})
								cancel()
								mu.Lock()
								if err == nil {
									acked = append(acked, payload)
								} else {
									failed++
									failures = append(failures, err)
								}
								mu.Unlock()
							}
						}()
					}
					wg.Wait()
					cuts := stop()
					t.Logf("%d cuts, %d acknowledged, %d failed", cuts, len(acked), failed)
					for _, err := range failures {
						if !errors.Is(err, client.ErrSessionLost) {
							t.Errorf("publish: %v", err)
						}
					}
					if cuts == 0 {
						t.Fatal("no cut")
					}
					ta.waitFor(t, acked, 10*time.Second)
					if qos == 2 {
						ta.checkNoDup(t)
					}
				})
			}
		}
	}
}

// The subscriber's connection is cut: its persistent session on the broker
// keeps the messages, and the client delivers each QoS 2 message exactly
// once across the reconnects (the broker resends PUBLISH with DUP for those
// not yet PUBREC'd and PUBREL for the others).
func TestReconnectSubscriberCut(t *testing.T) {
	for _, v := range []byte{4, 5} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			addr := startMast(t, broker.Options{})
			px := newProxy(t, addr)
			ctx := ctxT(t)
			ta := newTally()
			sub := newClient(t, px.addr(), client.Options{Version: v, ClientID: "sub", AutoReconnect: true,
				MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
			if _, err := sub.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := sub.Subscribe(ctx, ta.handle, packet.Subscription{Filter: "r/#", QoS: 2}); err != nil {
				t.Fatal(err)
			}
			pub := newClient(t, addr, client.Options{Version: v, ClientID: "pub"})
			if _, err := pub.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			stop := cutter(px, 20*time.Millisecond)
			var want []string
			for i := range 400 {
				p := strconv.Itoa(i)
				if err := pub.Publish(ctx, &client.Message{Topic: "r/x", Payload: []byte(p), QoS: 2}); err != nil {
					t.Fatal(err)
				}
				want = append(want, p)
				if i%50 == 0 {
					time.Sleep(10 * time.Millisecond)
				}
			}
			cuts := stop()
			t.Logf("%d cuts", cuts)
			ta.waitFor(t, want, 15*time.Second)
			ta.checkNoDup(t)
		})
	}
}

// A stalled connection (the proxy stops forwarding, nothing is closed) is
// found dead by keepalive, and the client reconnects through a new
// connection; the message published meanwhile arrives.
func TestReconnectStall(t *testing.T) {
	addr := startMast(t, broker.Options{})
	px := newProxy(t, addr)
	ctx := ctxT(t)
	rec := newRecorder()
	lost := make(chan error, 4)
	c := newClient(t, px.addr(), client.Options{ClientID: "stall", AutoReconnect: true, KeepAlive: time.Second,
		PingTimeout: 500 * time.Millisecond, MinBackoff: 10 * time.Millisecond, OfflineBuffer: 10,
		OnConnectionLost: func(_ *client.Client, err error) { lost <- err }})
	if _, err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx, rec.handle, packet.Subscription{Filter: "s", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	px.stall(true)
	errc := make(chan error, 1)
	go func() { errc <- c.Publish(ctx, &client.Message{Topic: "s", Payload: []byte("through"), QoS: 1}) }()
	select {
	case err := <-lost:
		if !errors.Is(err, client.ErrPingTimeout) {
			t.Errorf("lost: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stall not detected")
	}
	px.cut() // drop the stalled connections (the broker's side too)
	px.stall(false)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got := rec.wait(t, 1); string(got[0].Payload) != "through" {
		t.Errorf("got %q", got[0].Payload)
	}
}

// The broker is killed and a new one (with no sessions) started on the same
// address: the client reconnects, renews its subscriptions, and messages
// buffered while it was offline are delivered.
func TestReconnectBrokerRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	srv := broker.New(broker.Options{SysInterval: -1})
	go srv.Serve(ln)
	ctx := ctxT(t)
	rec := newRecorder()
	connected := make(chan bool, 4)
	c := newClient(t, addr, client.Options{ClientID: "restart", AutoReconnect: true, MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond, OfflineBuffer: 5,
		OnConnect: func(_ *client.Client, ack *packet.Connack) { connected <- ack.SessionPresent }})
	if _, err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	<-connected
	if _, err := c.Subscribe(ctx, rec.handle, packet.Subscription{Filter: "b/#", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	srv.Shutdown(ctx)
	for c.IsConnected() {
		time.Sleep(5 * time.Millisecond)
	}
	// Offline: up to OfflineBuffer (5) publishes wait, the sixth fails at
	// once.
	errs := make(chan error, 6)
	for i := range 6 {
		go func() {
			errs <- c.Publish(ctx, &client.Message{Topic: "b/" + strconv.Itoa(i), Payload: []byte{'0' + byte(i)}, QoS: 1})
		}()
	}
	if err := <-errs; !errors.Is(err, client.ErrNotConnected) {
		t.Fatalf("sixth offline publish: %v", err)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv = broker.New(broker.Options{SysInterval: -1})
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	if present := <-connected; present {
		t.Error("session present on a new broker")
	}
	for range 5 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	rec.wait(t, 5)
}

// Without AutoReconnect a lost connection fails what is pending with
// ErrConnectionLost, and every goroutine of the client ends.
func TestConnectionLostNoReconnect(t *testing.T) {
	addr := startMast(t, broker.Options{})
	px := newProxy(t, addr)
	check := noLeak(t)
	lost := make(chan error, 1)
	c, err := client.New(client.Options{Servers: []string{"mqtt://" + px.addr()},
		OnConnectionLost: func(_ *client.Client, err error) { lost <- err }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if _, err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	px.stall(true)
	errc := make(chan error, 1)
	go func() { errc <- c.Publish(ctx, &client.Message{Topic: "x", QoS: 1}) }()
	time.Sleep(50 * time.Millisecond)
	px.cut()
	if err := <-errc; !errors.Is(err, client.ErrConnectionLost) {
		t.Errorf("publish: %v", err)
	}
	<-lost
	if err := c.Publish(ctx, &client.Message{Topic: "x"}); !errors.Is(err, client.ErrNotConnected) {
		t.Errorf("publish after loss: %v", err)
	}
	check()
}
