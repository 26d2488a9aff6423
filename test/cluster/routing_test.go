package cluster_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
)

// TestRouting checks what one broker would do, with the publisher on
// node 1 and the subscribers on nodes 2 and 3.
func TestRouting(t *testing.T) {
	nodes := startCluster(t, nodeSpec{}, nodeSpec{}, nodeSpec{})
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]

	t.Run("QoS", func(t *testing.T) {
		// A paho.golang (MQTT 5) subscriber on node 3 with one filter per
		// QoS; an MQTT 3.1.1 publisher on node 1 at each QoS. Received
		// QoS = min(published, granted).
		in := newInbox("paho-sub@node3")
		pc := pahoConnect(t, n3.mqtt, "qos-sub", in)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sa, err := pc.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
			{Topic: "q/s0/#", QoS: 0}, {Topic: "q/s1/#", QoS: 1}, {Topic: "q/s2/#", QoS: 2},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if want := []byte{0, 1, 2}; !slices.Equal(sa.Reasons, want) {
			t.Fatalf("SUBACK %v, want %v", sa.Reasons, want)
		}
		p, _ := dial(t, clientOpts("qos-pub", packet.Version311, nil, n1.mqtt))
		for s := range 3 {
			awaitRoute(t, p, fmt.Sprintf("q/s%d/probe", s), in)
		}
		const count = 20
		l := newLedger()
		for i := 1; i <= count; i++ {
			for s := range 3 {
				for q := range 3 {
					stream := fmt.Sprintf("s%d-p%d", s, q)
					l.published[stream]++
					publish(t, p, fmt.Sprintf("q/s%d/p%d", s, q), payload(stream, i), byte(q), false)
					l.acked[stream] = append(l.acked[stream], i) // QoS 0: written to the socket
				}
			}
		}
		// A last QoS 2 message on each filter; MQTT orders messages per
		// topic only, so wait for those and for everything.
		var streams []string
		for s := range 3 {
			publish(t, p, fmt.Sprintf("q/s%d/end", s), []byte("end"), 2, false)
			for q := range 3 {
				streams = append(streams, fmt.Sprintf("s%d-p%d", s, q))
			}
		}
		ends := func() bool {
			n := 0
			for _, a := range in.arrived() {
				if strings.HasSuffix(a.topic, "/end") {
					n++
				}
			}
			return n == 3 && delivered(l, streams, in)
		}
		if !until(10*time.Second, ends) {
			t.Error("the messages and end markers did not all arrive in 10s")
		}
		for s := range 3 {
			for q := range 3 {
				stream := fmt.Sprintf("s%d-p%d", s, q)
				report(t, l, in, stream, true)
				want := byte(min(s, q))
				in.mu.Lock()
				for got, n := range in.qos[stream] {
					if got != want {
						t.Errorf("%s: %d messages at QoS %d, want QoS %d", stream, n, got, want)
					}
				}
				in.mu.Unlock()
			}
		}
	})

	t.Run("Retained", func(t *testing.T) {
		// Set, overwritten and cleared on node 1 (MQTT 5); read by new
		// MQTT 3.1.1 subscribers on node 3.
		p, _ := dial(t, clientOpts("ret-pub", packet.Version5, nil, n1.mqtt))
		publish(t, p, "ret/a", []byte("v1"), 1, true)
		publish(t, p, "ret/b", []byte("b"), 0, true)
		publish(t, p, "ret/c", []byte("c"), 2, true)
		publish(t, p, "ret/a", []byte("v2"), 1, true)
		publish(t, p, "ret/c", nil, 1, true) // clears ret/c [MQTT-3.3.1-6]
		publish(t, p, "retmark", []byte("m"), 1, true)
		// Copies reach node 3 asynchronously: subscribe anew until it
		// has them all, or give up and show what it had.
		want := []arrival{{"ret/a", "v2", 1, true}, {"ret/b", "b", 0, true}, {"retmark", "m", 1, true}}
		var got []arrival
		attempts := 0
		ok := untilEvery(15*time.Second, 100*time.Millisecond, func() bool {
			attempts++
			in := newInbox("ret-sub@node3")
			c, _ := dial(t, clientOpts(fmt.Sprintf("ret-sub-%d", attempts), packet.Version311, in, n3.mqtt))
			defer disconnect(c)
			subscribe(t, c, 1, "ret/#", "retmark")
			until(time.Second, func() bool { return len(in.arrived()) >= len(want) })
			got = in.arrived()
			slices.SortFunc(got, func(a, b arrival) int { return strings.Compare(a.topic, b.topic) })
			return slices.Equal(got, want)
		})
		if !ok {
			t.Fatalf("retained on node 3 after %d attempts: %v, want %v", attempts, got, want)
		}
		t.Logf("retained messages on node 3 after %d subscribe attempts: %v", attempts, got)
		// Clean up for the other subtests.
		for _, topic := range []string{"ret/a", "ret/b", "retmark"} {
			publish(t, p, topic, nil, 1, true)
		}
	})

	t.Run("Wildcards", func(t *testing.T) {
		in := newInbox("wild-sub@node3")
		s, _ := dial(t, clientOpts("wild-sub", packet.Version5, in, n3.mqtt))
		subscribe(t, s, 1, "w/+/t", "a/#", "+/m/+")
		p, _ := dial(t, clientOpts("wild-pub", packet.Version311, nil, n1.mqtt))
		awaitRoute(t, p, "w/probe/t", in)
		awaitRoute(t, p, "a/probe", in)
		awaitRoute(t, p, "probe/m/x", in)
		cases := []struct {
			topic string
			match bool
		}{
			{"w/1/t", true}, {"w//t", true}, {"w/t", false}, {"w/1/2/t", false},
			{"a", true}, {"a/b", true}, {"a/b/c", true}, {"a/m/x", true}, // a/m/x matches two filters: one copy
			{"ab", false}, {"b/a", false},
			{"x/m/y", true}, {"/m/y", true}, {"x/m", false}, {"x/m/y/z", false},
			{"$w/m/y", false}, {"$a", false},
		}
		var want []string
		for i, c := range cases {
			publish(t, p, c.topic, fmt.Appendf(nil, "w:%d", i), 1, false)
			if c.match {
				want = append(want, c.topic)
			}
		}
		publish(t, p, "a/end", []byte("end"), 1, false)
		want = append(want, "a/end")
		// MQTT orders messages per topic only: compare the sets, once
		// as many as expected have come and the last one with them.
		slices.Sort(want)
		var got []string
		until(10*time.Second, func() bool {
			got = got[:0]
			for _, a := range in.arrived() {
				got = append(got, a.topic)
			}
			slices.Sort(got)
			return len(got) >= len(want) && slices.Contains(got, "a/end")
		})
		if !slices.Equal(got, want) {
			t.Fatalf("node 3 got %q, want %q", got, want)
		}
		t.Logf("wildcards: %d of %d topics matched, as expected", len(want)-1, len(cases))
	})

	t.Run("DollarTopics", func(t *testing.T) {
		all := newInbox("all@node3")
		sa, _ := dial(t, clientOpts("dollar-all", packet.Version5, all, n3.mqtt))
		subscribe(t, sa, 0, "#", "+/x", "+/+/+")
		dx := newInbox("dx@node3")
		sd, _ := dial(t, clientOpts("dollar-x", packet.Version311, dx, n3.mqtt))
		subscribe(t, sd, 0, "$x/#")
		p, _ := dial(t, clientOpts("dollar-pub", packet.Version5, nil, n1.mqtt))
		awaitRoute(t, p, "dollar/probe", all)
		awaitRoute(t, p, "$x/probe", dx)
		for _, topic := range []string{"$x/x", "$x/y/z", "$x"} {
			publish(t, p, topic, []byte("d"), 1, false)
		}
		publish(t, p, "$x/end", []byte("end"), 1, false)
		publish(t, p, "n/x", []byte("end"), 1, false)
		topicsOf := func(b *inbox) []string {
			var topics []string
			for _, a := range b.arrived() {
				topics = append(topics, a.topic)
			}
			slices.Sort(topics)
			return topics
		}
		wantDX := []string{"$x", "$x/end", "$x/x", "$x/y/z"}
		until(10*time.Second, func() bool {
			return len(topicsOf(dx)) >= len(wantDX) && slices.Contains(topicsOf(all), "n/x")
		})
		if got := topicsOf(all); !slices.Equal(got, []string{"n/x"}) {
			t.Errorf("subscriber to #, +/x and +/+/+ got %q, want only n/x", got)
		}
		if got := topicsOf(dx); !slices.Equal(got, wantDX) {
			t.Errorf("subscriber to $x/# got %q, want %q", got, wantDX)
		}
		t.Logf("$-topics: 4 published, %d reached the $x/# subscriber, %d the wildcard one", len(dx.arrived()), len(all.arrived())-1)
	})

	t.Run("Shared", func(t *testing.T) {
		// One group with members on nodes 2 (MQTT 5) and 3 (MQTT 3.1.1),
		// the publisher on node 1: each message exactly once in the
		// group, and both members get some.
		m2in, m3in := newInbox("member@node2"), newInbox("member@node3")
		m2, _ := dial(t, clientOpts("share-m2", packet.Version5, m2in, n2.mqtt))
		m3, _ := dial(t, clientOpts("share-m3", packet.Version311, m3in, n3.mqtt))
		for _, m := range []*client.Client{m2, m3} {
			subscribe(t, m, 1, "$share/g/sh/#")
			subscribe(t, m, 1, "shend")
		}
		p, _ := dial(t, clientOpts("share-pub", packet.Version5, nil, n1.mqtt))
		awaitRoute(t, p, "shend", m2in, m3in)
		// Probes on the group reach one member each: publish until both
		// have had one.
		if !until(20*time.Second, func() bool {
			if m2in.sawProbe("sh/probe") && m3in.sawProbe("sh/probe") {
				return true
			}
			publish(t, p, "sh/probe", probe, 0, false)
			return false
		}) {
			t.Fatal("shared group members never both reachable")
		}
		const count = 200
		l := newLedger()
		for i := 1; i <= count; i++ {
			l.published["sh"]++
			publish(t, p, "sh/x", payload("sh", i), 1, false)
			l.acked["sh"] = append(l.acked["sh"], i)
		}
		publish(t, p, "shend", []byte("end"), 1, false)
		ended := func(b *inbox) bool {
			for _, a := range b.arrived() {
				if a.topic == "shend" {
					return true
				}
			}
			return false
		}
		distinct := func() int { return m2in.count("sh") + m3in.count("sh") }
		until(10*time.Second, func() bool { return ended(m2in) && ended(m3in) && distinct() >= count })
		// The group as one subscriber: merge the members' receipts.
		group := newInbox("group g (node2+node3)")
		per := map[string]int{}
		var seqs []int
		for _, b := range []*inbox{m2in, m3in} {
			b.mu.Lock()
			per[b.name] = len(b.order["sh"])
			seqs = append(seqs, b.order["sh"]...)
			b.mu.Unlock()
		}
		slices.Sort(seqs) // the members' orders interleave
		for _, seq := range seqs {
			group.record("sh/x", payload("sh", seq), 1, false)
		}
		report(t, l, group, "sh", true)
		t.Logf("shared: %v", per)
		for name, n := range per {
			if n == 0 {
				t.Errorf("%s got none of the %d messages", name, count)
			}
		}
	})
}

// pahoConnect connects an eclipse/paho.golang (MQTT 5) client that
// records into in.
func pahoConnect(t testing.TB, addr, id string, in *inbox) *paho.Client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pc := paho.NewClient(paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				in.record(pr.Packet.Topic, pr.Packet.Payload, pr.Packet.QoS, pr.Packet.Retain)
				return true, nil
			},
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ca, err := pc.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	if err != nil {
		t.Fatalf("paho connect to %s: %v", addr, err)
	}
	if ca.ReasonCode != 0 {
		t.Fatalf("paho connect to %s: reason %#x", addr, ca.ReasonCode)
	}
	t.Cleanup(func() { pc.Disconnect(&paho.Disconnect{}) })
	return pc
}
