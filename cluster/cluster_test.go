package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/cluster"
	"github.com/mastmq/mast/packet"
)

// testNode is one mast node: a broker on 127.0.0.1 and its cluster node.
type testNode struct {
	srv  *broker.Server
	node *cluster.Node
	addr string // MQTT
}

// startCluster starts n nodes, each seeded with the one before it; NATS
// gossip makes the full mesh.
func startCluster(t testing.TB, n int) []*testNode {
	t.Helper()
	var nodes []*testNode
	for i := range n {
		o := cluster.Options{NodeName: fmt.Sprintf("node%d", i+1), ClusterListen: "127.0.0.1:0"}
		if i > 0 {
			o.Routes = []string{nodes[i-1].node.RouteURL()}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		node, err := cluster.Start(ctx, o)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		srv := broker.New(broker.Options{SysInterval: -1, Remote: node})
		node.Attach(srv)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)
		tn := &testNode{srv: srv, node: node, addr: ln.Addr().String()}
		nodes = append(nodes, tn)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
			node.Close()
		})
	}
	// Routes form asynchronously: wait until every node has a route to
	// each of the others.
	waitFor(t, "full mesh", func() bool {
		for _, tn := range nodes {
			if tn.node.NumRoutes() < n-1 {
				return false
			}
		}
		return true
	})
	return nodes
}

// waitFor polls cond, a bounded number of times.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// sub is an MQTT client that records what it receives.
type sub struct {
	c  *client.Client
	ch chan *client.Message
}

func connect(t testing.TB, addr, id string) *sub {
	t.Helper()
	s := &sub{ch: make(chan *client.Message, 10000)}
	c, err := client.New(client.Options{
		Servers:    []string{addr},
		ClientID:   id,
		CleanStart: true,
		OnMessage:  func(_ *client.Client, m *client.Message) { s.ch <- m },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	s.c = c
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c.Disconnect(ctx)
	})
	return s
}

func (s *sub) subscribe(t testing.TB, qos byte, filters ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ps []packet.Subscription
	for _, f := range filters {
		ps = append(ps, packet.Subscription{Filter: f, QoS: qos})
	}
	ack, err := s.c.Subscribe(ctx, nil, ps...)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range ack.ReasonCodes {
		if code >= 0x80 {
			t.Fatalf("subscribe %v: reason %#x", filters, code)
		}
	}
}

func (s *sub) publish(t testing.TB, topic string, payload string, qos byte, retain bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.c.Publish(ctx, &client.Message{Topic: topic, Payload: []byte(payload), QoS: qos, Retain: retain}); err != nil {
		t.Fatal(err)
	}
}

// next waits for the next message that is not a probe.
func (s *sub) next(t testing.TB) *client.Message {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m := <-s.ch:
			if bytes.Equal(m.Payload, probe) {
				continue
			}
			return m
		case <-timeout:
			t.Fatal("no message in 5s")
			return nil
		}
	}
}

// until collects messages up to and including the one on topic stop.
func (s *sub) until(t testing.TB, stop string) []string {
	t.Helper()
	var got []string
	for {
		m := s.next(t)
		got = append(got, m.Topic)
		if m.Topic == stop {
			return got
		}
	}
}

// none checks that nothing but probes is waiting.
func (s *sub) none(t testing.TB) {
	t.Helper()
	for {
		select {
		case m := <-s.ch:
			if !bytes.Equal(m.Payload, probe) {
				t.Fatalf("unexpected message %q %q", m.Topic, m.Payload)
			}
		default:
			return
		}
	}
}

var probe = []byte("\x00probe")

// ready publishes probes on topic from pub until every one of subs has
// received one: NATS interest propagates asynchronously, so this is how
// a test knows that a new subscription reaches across the cluster. The
// probes themselves are skipped by next.
func ready(t testing.TB, pub *sub, topic string, subs ...*sub) {
	t.Helper()
	got := make([]bool, len(subs))
	for range 500 {
		pub.publish(t, topic, string(probe), 0, false)
		deadline := time.After(20 * time.Millisecond)
	wait:
		for {
			all := true
			for i, s := range subs {
				if got[i] {
					continue
				}
				all = false
				select {
				case m := <-s.ch:
					if !bytes.Equal(m.Payload, probe) {
						t.Fatalf("message %q before the probe", m.Topic)
					}
					got[i] = true
				default:
				}
			}
			if all {
				return
			}
			select {
			case <-deadline:
				break wait
			case <-time.After(time.Millisecond):
			}
		}
	}
	t.Fatalf("subscriptions on %s never became reachable", topic)
}

func TestCluster(t *testing.T) {
	nodes := startCluster(t, 3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]

	t.Run("QoS", func(t *testing.T) {
		s := connect(t, n3.addr, "qos-sub")
		s.subscribe(t, 1, "house/#")
		p := connect(t, n1.addr, "qos-pub")
		ready(t, p, "house/probe", s)
		p.publish(t, "house/sensor1", "21.5", 0, false)
		p.publish(t, "house/main-light", "on", 1, false)
		m := s.next(t)
		if m.Topic != "house/sensor1" || string(m.Payload) != "21.5" || m.QoS != 0 {
			t.Fatalf("got %q %q QoS %d", m.Topic, m.Payload, m.QoS)
		}
		m = s.next(t)
		if m.Topic != "house/main-light" || string(m.Payload) != "on" || m.QoS != 1 {
			t.Fatalf("got %q %q QoS %d", m.Topic, m.Payload, m.QoS)
		}
	})

	t.Run("Properties", func(t *testing.T) {
		s := connect(t, n3.addr, "props-sub")
		s.subscribe(t, 1, "props/#")
		p := connect(t, n1.addr, "props-pub")
		ready(t, p, "props/probe", s)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m := &client.Message{Topic: "props/x", Payload: []byte("v"), QoS: 1}
		m.Properties.ContentType = "text/plain"
		m.Properties.Set(packet.PropContentType)
		m.Properties.User = []packet.UserProperty{{Key: "k", Value: "v"}}
		m.Properties.MessageExpiry = 3600
		m.Properties.Set(packet.PropMessageExpiry)
		if err := p.c.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		got := s.next(t)
		if got.Properties.ContentType != "text/plain" || len(got.Properties.User) != 1 ||
			got.Properties.User[0] != (packet.UserProperty{Key: "k", Value: "v"}) ||
			!got.Properties.Has(packet.PropMessageExpiry) || got.Properties.MessageExpiry > 3600 {
			t.Fatalf("properties %+v", got.Properties)
		}
	})

	t.Run("Wildcards", func(t *testing.T) {
		s := connect(t, n3.addr, "wild-sub")
		s.subscribe(t, 0, "w/+/t", "p/#")
		p := connect(t, n1.addr, "wild-pub")
		ready(t, p, "p/probe", s)
		ready(t, p, "w/probe/t", s)
		for _, topic := range []string{"w/a/b/t", "w/a/t", "w/t", "p", "p/x/y", "q/p", "end"} {
			p.publish(t, topic, "x", 0, false)
		}
		p.publish(t, "p/end", "x", 0, false)
		got := fmt.Sprint(s.until(t, "p/end"))
		if want := "[w/a/t p p/x/y p/end]"; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	})

	t.Run("DollarTopics", func(t *testing.T) {
		all := connect(t, n3.addr, "dollar-all")
		all.subscribe(t, 0, "#")
		dx := connect(t, n3.addr, "dollar-x")
		dx.subscribe(t, 0, "$x/#")
		p := connect(t, n1.addr, "dollar-pub")
		ready(t, p, "dollar/probe", all)
		ready(t, p, "$x/probe", dx)
		p.publish(t, "$x/y", "x", 0, false)
		p.publish(t, "dollar/end", "x", 0, false)
		for _, topic := range all.until(t, "dollar/end") {
			if topic[0] == '$' {
				t.Fatalf("# subscriber got %s", topic)
			}
		}
		if m := dx.next(t); m.Topic != "$x/y" {
			t.Fatalf("$x/# subscriber got %s", m.Topic)
		}
	})

	t.Run("LiteralStarAndGreater", func(t *testing.T) {
		s := connect(t, n3.addr, "lit-sub")
		s.subscribe(t, 0, "lit/*", "gt/>", "lit/end")
		p := connect(t, n1.addr, "lit-pub")
		ready(t, p, "lit/end", s)
		ready(t, p, "lit/*", s)
		ready(t, p, "gt/>", s)
		for _, topic := range []string{"lit/a", "gt/a", "gt/a/b", "lit/*", "gt/>", "lit/end"} {
			p.publish(t, topic, "x", 0, false)
		}
		got := fmt.Sprint(s.until(t, "lit/end"))
		if want := "[lit/* gt/> lit/end]"; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	})

	t.Run("NoDuplicates", func(t *testing.T) {
		// Overlapping filters on one session, and on two nodes, and a
		// subscriber next to the publisher.
		a := connect(t, n3.addr, "dup-a")
		a.subscribe(t, 1, "d/#", "d/+", "d/x")
		b := connect(t, n2.addr, "dup-b")
		b.subscribe(t, 1, "d/#")
		c := connect(t, n3.addr, "dup-c")
		c.subscribe(t, 1, "d/+")
		l := connect(t, n1.addr, "dup-local")
		l.subscribe(t, 1, "d/#")
		p := connect(t, n1.addr, "dup-pub")
		ready(t, p, "d/x", a, b, c, l)
		const count = 50
		for i := range count {
			p.publish(t, "d/x", fmt.Sprint(i), byte(i%2), false)
		}
		p.publish(t, "d/end", "end", 1, false)
		for _, s := range []*sub{a, b, c, l} {
			got := s.until(t, "d/end")
			if len(got) != count+1 {
				t.Fatalf("got %d messages, want %d: %v", len(got), count+1, got)
			}
			s.none(t)
		}
	})

	t.Run("Unsubscribe", func(t *testing.T) {
		s := connect(t, n3.addr, "unsub-sub")
		s.subscribe(t, 0, "u/#", "uctl")
		p := connect(t, n1.addr, "unsub-pub")
		ready(t, p, "u/probe", s)
		ready(t, p, "uctl", s)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := s.c.Unsubscribe(ctx, "u/#"); err != nil {
			t.Fatal(err)
		}
		// The interest leaves node 1's NATS server: nothing is sent.
		acc := n1.node.Server().GlobalAccount()
		waitFor(t, "interest to go", func() bool {
			return !acc.SubscriptionInterest(cluster.TopicSubject("u/x"))
		})
		p.publish(t, "u/x", "x", 0, false)
		p.publish(t, "uctl", "x", 0, false)
		if got := fmt.Sprint(s.until(t, "uctl")); got != "[uctl]" {
			t.Fatalf("got %s after unsubscribing", got)
		}
	})

	t.Run("SessionEndDropsInterest", func(t *testing.T) {
		s := connect(t, n2.addr, "end-sub")
		s.subscribe(t, 0, "gone/#")
		subj := cluster.TopicSubject("gone/x")
		acc := n1.node.Server().GlobalAccount()
		waitFor(t, "interest to come", func() bool { return acc.SubscriptionInterest(subj) })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.c.Disconnect(ctx)
		waitFor(t, "interest to go", func() bool { return !acc.SubscriptionInterest(subj) })
	})

	t.Run("SharedAcrossNodes", func(t *testing.T) {
		// One group with members on nodes 2 and 3, the publisher on node
		// 1: every message goes to exactly one member, and NATS spreads
		// them over both nodes.
		m2 := connect(t, n2.addr, "share-m2")
		m2.subscribe(t, 1, "$share/g/sh/#")
		m3 := connect(t, n3.addr, "share-m3")
		m3.subscribe(t, 1, "$share/g/sh/#")
		all := connect(t, n3.addr, "share-all")
		all.subscribe(t, 1, "sh/#")
		p := connect(t, n1.addr, "share-pub")
		ready(t, p, "sh/probe", all)
		readyShared(t, p, "sh/probe", m2, m3)
		const count = 200
		for i := range count {
			p.publish(t, "sh/x", fmt.Sprint(i), 1, false)
		}
		if got := len(all.until(t, "sh/x")); got != 1 {
			t.Fatalf("regular subscriber: first message after %d", got)
		}
		for i := 1; i < count; i++ {
			if m := all.next(t); string(m.Payload) != fmt.Sprint(i) {
				t.Fatalf("regular subscriber got %q, want %d", m.Payload, i)
			}
		}
		seen := collectShared(t, count, m2, m3)
		for name, n := range seen {
			if n == 0 {
				t.Errorf("member %s got none of %d messages", name, count)
			}
		}
		// A member next to the publisher: still once per message.
		m1 := connect(t, n1.addr, "share-m1")
		m1.subscribe(t, 1, "$share/g/sh/#")
		for i := range count {
			p.publish(t, "sh/y", fmt.Sprint(i), 1, false)
		}
		collectShared(t, count, m1, m2, m3)
	})

	t.Run("TakeoverAcrossNodes", func(t *testing.T) {
		// The same client id connecting on another node closes the
		// first connection [MQTT-3.1.4-3], clean sessions included.
		lost := make(chan error, 1)
		first, err := client.New(client.Options{
			Servers: []string{n1.addr}, ClientID: "twice", CleanStart: true,
			OnConnectionLost: func(_ *client.Client, err error) { lost <- err },
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := first.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		connect(t, n2.addr, "twice")
		select {
		case err := <-lost:
			if !strings.Contains(err.Error(), "0x8E") && !strings.Contains(strings.ToLower(err.Error()), "taken over") {
				t.Fatalf("first connection ended with %v, want a takeover", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the first connection, on node 1, is still open")
		}
	})

	t.Run("Retained", func(t *testing.T) {
		// A retained message reaches every node, interest or not, and is
		// kept there for later subscribers (best effort, core NATS).
		p := connect(t, n1.addr, "ret-pub")
		p.publish(t, "ret/t", "kept", 1, true)
		s := connect(t, n3.addr, "ret-sub")
		var got *client.Message
		waitFor(t, "retained message on node 3", func() bool {
			s.subscribe(t, 1, "ret/t") // retained messages come with SUBACK
			select {
			case got = <-s.ch:
				// A live copy (retain 0) may come first when the
				// subscription reaches node 1 before the retained copy
				// reaches node 3; subscribing again sends the kept one.
				return got.Retain
			case <-time.After(20 * time.Millisecond):
				return false
			}
		})
		if string(got.Payload) != "kept" || !got.Retain {
			t.Fatalf("got %q retain %v", got.Payload, got.Retain)
		}
	})
}

// readyShared publishes probes on topic until each member of a shared
// group has received one.
func readyShared(t testing.TB, pub *sub, topic string, members ...*sub) {
	t.Helper()
	got := make([]bool, len(members))
	for range 2000 {
		pub.publish(t, topic, string(probe), 0, false)
		all := true
		for i, m := range members {
			select {
			case <-m.ch:
				got[i] = true
			case <-time.After(2 * time.Millisecond):
			}
			all = all && got[i]
		}
		if all {
			return
		}
	}
	t.Fatalf("shared members on %s never all reachable", topic)
}

// collectShared receives payloads "0".."count-1" across the members of
// a shared group and fails on a duplicate or a missing one; it returns
// how many each member got.
func collectShared(t testing.TB, count int, members ...*sub) map[string]int {
	t.Helper()
	seen := make(map[string]bool)
	per := make(map[string]int)
	deadline := time.After(10 * time.Second)
	for len(seen) < count {
		progressed := false
		for _, m := range members {
			select {
			case msg := <-m.ch:
				progressed = true
				if bytes.Equal(msg.Payload, probe) {
					continue
				}
				if seen[string(msg.Payload)] {
					t.Fatalf("message %q delivered twice in the group", msg.Payload)
				}
				seen[string(msg.Payload)] = true
				per[m.c.ClientID()]++
			default:
			}
		}
		if !progressed {
			select {
			case <-deadline:
				t.Fatalf("group got %d of %d messages", len(seen), count)
			case <-time.After(time.Millisecond):
			}
		}
	}
	time.Sleep(50 * time.Millisecond) // a late duplicate would show now
	for _, m := range members {
		m.none(t)
	}
	return per
}

func TestRouteSecret(t *testing.T) {
	start := func(name, secret string, routes ...string) *cluster.Node {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n, err := cluster.Start(ctx, cluster.Options{NodeName: name, ClusterListen: "127.0.0.1:0", Routes: routes, Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	a := start("a", "s3cret")
	b := start("b", "s3cret", a.RouteURL())
	waitFor(t, "a route between nodes sharing the secret", func() bool { return a.NumRoutes() > 0 && b.NumRoutes() > 0 })
	c := start("c", "wrong", a.RouteURL())
	d := start("d", "", a.RouteURL())
	// c and d keep trying; a accepts neither. Give them a few attempts.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if c.NumRoutes() > 0 || d.NumRoutes() > 0 {
			t.Fatalf("a node without the secret joined: c %d routes, d %d", c.NumRoutes(), d.NumRoutes())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
