package cluster_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mastmq/mast/packet"
)

// TestKillNode: persistent QoS 1 and QoS 2 subscribers on node 3, QoS 1
// and QoS 2 publishers on node 1; node 3 is killed with SIGKILL
// mid-stream. The subscribers reconnect to node 2, expect their session
// there, and must receive every acknowledged message. Node 3 then starts
// again on its data directory and must rejoin.
func TestKillNode(t *testing.T) {
	nodes := startCluster(t, nodeSpec{}, nodeSpec{}, nodeSpec{})
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]

	// Subscribers: node 3 first, node 2 when node 3 is gone.
	type subscriber struct {
		in  *inbox
		qos byte
	}
	var subs []subscriber
	for _, s := range []struct {
		id      string
		version byte
		qos     byte
	}{{"k-sub1", packet.Version5, 1}, {"k-sub2", packet.Version311, 2}} {
		in := newInbox(s.id)
		o := clientOpts(s.id, s.version, in, n3.mqtt, n2.mqtt)
		o.CleanStart = false
		o.SessionExpiry = 3600
		o.AutoReconnect = true
		c, _ := dial(t, o)
		subscribe(t, c, s.qos, "k/#")
		subs = append(subs, subscriber{in, s.qos})
	}
	boxes := []*inbox{subs[0].in, subs[1].in}
	probePub, _ := dial(t, clientOpts("k-probe", packet.Version5, nil, n1.mqtt))
	awaitRoute(t, probePub, "k/probe", boxes...)

	l := newLedger()
	streams := []string{"q1", "q2"}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	for _, s := range []struct {
		stream string
		qos    byte
	}{{"q1", 1}, {"q2", 2}} {
		p, _ := dial(t, clientOpts("k-pub-"+s.stream, packet.Version5, nil, n1.mqtt))
		wg.Add(1)
		go func() {
			defer wg.Done()
			pump(ctx, p, l, s.stream, "k/"+s.stream, s.qos, 1, 0, 2*time.Millisecond)
		}()
	}

	received := func(n int) func() bool {
		return func() bool {
			for _, b := range boxes {
				for _, s := range streams {
					if b.count(s) < n {
						return false
					}
				}
			}
			return true
		}
	}
	if !until(20*time.Second, received(200)) {
		t.Fatalf("subscribers did not get 200 messages of each stream in 20s")
	}
	killedAt := time.Now()
	acksAtKill := l.ackedCount("q1") + l.ackedCount("q2")
	n3.kill(t)
	t.Logf("node3 killed (SIGKILL) after %d acknowledged messages", acksAtKill)

	reconnected := until(20*time.Second, func() bool {
		for _, b := range boxes {
			if len(b.reconnects()) == 0 {
				return false
			}
		}
		return true
	})
	if !reconnected {
		stop()
		t.Fatalf("subscribers did not reconnect within 20s of the kill")
	}
	// Keep publishing until 300 more messages per stream are
	// acknowledged after the move, then stop and let the subscribers
	// catch up.
	base := map[string]int{"q1": l.ackedCount("q1"), "q2": l.ackedCount("q2")}
	if !until(20*time.Second, func() bool {
		return l.ackedCount("q1") >= base["q1"]+300 && l.ackedCount("q2") >= base["q2"]+300
	}) {
		t.Errorf("publishers on node 1 acknowledged only %d and %d messages in the 20s after the subscribers moved",
			l.ackedCount("q1")-base["q1"], l.ackedCount("q2")-base["q2"])
	}
	stop()
	wg.Wait()
	// A replay may wait for the log to elect a leader, then reads on
	// for as long as a publisher may resend: give it time.
	until(60*time.Second, func() bool { return delivered(l, streams, boxes...) })

	for _, s := range subs {
		rc := s.in.reconnects()
		s.in.mu.Lock()
		first := s.in.firstAfter
		s.in.mu.Unlock()
		failover := "no message after reconnecting"
		if !first.IsZero() {
			failover = first.Sub(killedAt).Round(time.Millisecond).String()
		}
		t.Logf("%s (QoS %d): reconnected %d times, first after %v with session present %v; failover (kill to first message after reconnect): %s",
			s.in.name, s.qos, len(rc), rc[0].at.Sub(killedAt).Round(time.Millisecond), rc[0].sessionPresent, failover)
		t.Logf("%s since the kill: %s", s.in.name, s.in.history(killedAt))
		if !rc[0].sessionPresent {
			t.Errorf("%s: reconnected to node 2 with session present 0, want 1", s.in.name)
		}
		for _, stream := range streams {
			// QoS 1 may repeat; QoS 2 duplicates are reported, not failed.
			report(t, l, s.in, stream, false)
		}
	}

	// Node 3 starts again on its data directory and rejoins: a
	// subscriber on it gets what node 1 publishes.
	start := time.Now()
	n3.start(t)
	waitMesh(t, nodes...)
	in := newInbox("k-rejoin@node3")
	c, _ := dial(t, clientOpts("k-rejoin", packet.Version5, in, n3.mqtt))
	subscribe(t, c, 1, "k2/#")
	awaitRoute(t, probePub, "k2/probe", in)
	l2 := newLedger()
	pump(context.Background(), probePub, l2, "rejoin", "k2/x", 1, 1, 50, time.Millisecond)
	until(10*time.Second, func() bool { return delivered(l2, []string{"rejoin"}, in) })
	report(t, l2, in, "rejoin", true)
	t.Logf("node3 restarted and rejoined in %v", time.Since(start).Round(time.Millisecond))
}
