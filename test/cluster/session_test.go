package cluster_test

import (
	"testing"
	"time"

	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
)

// TestSessionResumeOnAnotherNode: a persistent session made on node 3 is
// resumed on node 2, with the messages published on node 1 while its
// client was away, and it keeps receiving after the move; then it moves
// back to node 3 and gets what was published meanwhile, nothing older.
func TestSessionResumeOnAnotherNode(t *testing.T) {
	for _, v := range []struct {
		name    string
		version byte
	}{{"v5", packet.Version5}, {"v3.1.1", packet.Version311}} {
		t.Run(v.name, func(t *testing.T) {
			nodes := startCluster(t, nodeSpec{}, nodeSpec{}, nodeSpec{})
			n1, n2, n3 := nodes[0], nodes[1], nodes[2]
			persistent := func(in *inbox, addr string) client.Options {
				o := clientOpts("s1", v.version, in, addr)
				o.CleanStart = false
				if v.version == packet.Version5 {
					o.SessionExpiry = 3600
				}
				return o
			}

			// The session is made on node 3, and its subscription
			// reaches node 1, before the client goes away.
			first := newInbox("s1@node3")
			c, _ := dial(t, persistent(first, n3.mqtt))
			subscribe(t, c, 1, "r/#")
			p, _ := dial(t, clientOpts("r-pub", v.version, nil, n1.mqtt))
			awaitRoute(t, p, "r/probe", first)
			disconnect(c)

			const count = 100
			l := newLedger()
			for i := 1; i <= count; i++ {
				l.published["r"]++
				publish(t, p, "r/x", payload("r", i), 1, false)
				l.acked["r"] = append(l.acked["r"], i)
			}

			// Back on node 2.
			in := newInbox("s1@node2")
			c2, ack := dial(t, persistent(in, n2.mqtt))
			if !ack.SessionPresent {
				t.Errorf("CONNACK on node 2: session present 0, want 1 (the session made on node 3)")
			}
			// Published right after the reconnect: the session's
			// subscription must already route to node 2.
			for i := count + 1; i <= count+20; i++ {
				l.published["r"]++
				publish(t, p, "r/x", payload("r", i), 1, false)
				l.acked["r"] = append(l.acked["r"], i)
			}
			until(30*time.Second, func() bool { return delivered(l, []string{"r"}, in) })
			report(t, l, in, "r", false)
			t.Logf("session present %v on node 2; %d of %d messages published while away arrived, %d of 20 published after",
				ack.SessionPresent, countRange(in, "r", 1, count), count, countRange(in, "r", count+1, count+20))
			disconnect(c2)

			// And back to node 3: only what was published since.
			l2 := newLedger()
			for i := count + 21; i <= count+30; i++ {
				l2.published["r"]++
				publish(t, p, "r/x", payload("r", i), 1, false)
				l2.acked["r"] = append(l2.acked["r"], i)
			}
			back := newInbox("s1@node3-again")
			_, ack = dial(t, persistent(back, n3.mqtt))
			if !ack.SessionPresent {
				t.Errorf("CONNACK back on node 3: session present 0, want 1")
			}
			until(30*time.Second, func() bool { return delivered(l2, []string{"r"}, back) })
			report(t, l2, back, "r", false)
			// A stale copy of the session on node 3 would have replayed
			// what node 2 delivered already, before the newer messages.
			again, late := 0, 0
			for seq := 1; seq <= count+20; seq++ {
				switch {
				case countRange(back, "r", seq, seq) == 0:
				case countRange(in, "r", seq, seq) > 0:
					again++
				default:
					late++
				}
			}
			t.Logf("back on node 3: %d messages node 2 had delivered came again, %d that node 2 never delivered came now", again, late)
			if again > 0 {
				t.Errorf("back on node 3, s1 received again %d messages node 2 had delivered (a stale copy of the session)", again)
			}
		})
	}
}

// countRange is how many distinct seqs in [lo, hi] of stream arrived.
func countRange(b *inbox, stream string, lo, hi int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for seq := range b.got[stream] {
		if seq >= lo && seq <= hi {
			n++
		}
	}
	return n
}
