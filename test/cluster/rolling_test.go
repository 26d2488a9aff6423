package cluster_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mastmq/mast/packet"
)

// TestRollingRestart restarts node 1, then 2, then 3 (SIGTERM, wait for
// the exit, start on the same configuration) while a publisher with
// automatic reconnect publishes at QoS 1 and two persistent subscribers
// follow the nodes they are on; no acknowledged message may be lost.
func TestRollingRestart(t *testing.T) {
	nodes := startCluster(t, nodeSpec{}, nodeSpec{}, nodeSpec{})
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]

	// Subscriber a starts on node 1, b on node 3; each moves to the next
	// server of its list when its node goes.
	var boxes []*inbox
	for _, s := range []struct {
		id      string
		version byte
		servers []string
	}{
		{"roll-a", packet.Version5, []string{n1.mqtt, n2.mqtt, n3.mqtt}},
		{"roll-b", packet.Version311, []string{n3.mqtt, n2.mqtt, n1.mqtt}},
	} {
		in := newInbox(s.id)
		o := clientOpts(s.id, s.version, in, s.servers...)
		o.CleanStart = false
		o.SessionExpiry = 3600
		o.AutoReconnect = true
		c, _ := dial(t, o)
		subscribe(t, c, 1, "roll/#")
		boxes = append(boxes, in)
	}
	po := clientOpts("roll-pub", packet.Version5, nil, n1.mqtt, n2.mqtt, n3.mqtt)
	po.AutoReconnect = true
	po.OfflineBuffer = 10000
	p, _ := dial(t, po)
	awaitRoute(t, p, "roll/probe", boxes...)

	t0 := time.Now()
	l := newLedger()
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		pump(ctx, p, l, "roll", "roll/x", 1, 1, 0, 2*time.Millisecond)
	}()
	progress := func(n int) {
		t.Helper()
		base := l.ackedCount("roll")
		if !until(20*time.Second, func() bool { return l.ackedCount("roll") >= base+n }) {
			t.Errorf("publisher: only %d acknowledgements in 20s (want %d)", l.ackedCount("roll")-base, n)
		}
	}
	progress(100)
	for _, n := range nodes {
		n.restart(t, nodes)
		progress(100)
	}
	stop()
	wg.Wait()
	until(60*time.Second, func() bool { return delivered(l, []string{"roll"}, boxes...) })
	for _, b := range boxes {
		var present []bool
		for _, rc := range b.reconnects() {
			present = append(present, rc.sessionPresent)
		}
		t.Logf("%s: %d reconnects, session present on each: %v; %s", b.name, len(present), present, b.history(t0))
		for i, sp := range present {
			if !sp {
				t.Errorf("%s: reconnect %d with session present 0, want 1", b.name, i+1)
			}
		}
		report(t, l, b, "roll", false)
	}
}
