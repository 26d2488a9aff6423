package cluster_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/cluster"
	"github.com/mastmq/mast/packet"
)

func TestStatusMembersAndRoutes(t *testing.T) {
	nodes := startCluster(t, 3)
	// startCluster's NumRoutes counts pooled connections, which two
	// peers can reach before the third: wait for the members.
	waitFor(t, "every node routed to both others", func() bool {
		for _, tn := range nodes {
			if len(tn.node.Members()) != 3 {
				return false
			}
		}
		return true
	})
	for _, tn := range nodes {
		n := tn.node
		st := n.Status()
		if st.Node != n.Name() || st.Cluster != "mast" || st.Address != n.ClusterAddr() {
			t.Errorf("%s: node %q cluster %q address %q", n.Name(), st.Node, st.Cluster, st.Address)
		}
		if st.Routes < 2 {
			t.Errorf("%s: %d routes, want a pool to each of 2 peers", n.Name(), st.Routes)
		}
		var names []string
		routes := 0
		for _, m := range st.Members {
			names = append(names, m.Name)
			routes += m.Routes
			if !m.Connected {
				t.Errorf("%s: member %s not connected", n.Name(), m.Name)
			}
			if m.Self != (m.Name == n.Name()) {
				t.Errorf("%s: member %s self=%v", n.Name(), m.Name, m.Self)
			}
			if m.Address == "" {
				t.Errorf("%s: member %s has no address", n.Name(), m.Name)
			}
			if !m.Self && (m.Routes == 0 || m.ConnectedSince.IsZero()) {
				t.Errorf("%s: peer %s: %d routes since %v", n.Name(), m.Name, m.Routes, m.ConnectedSince)
			}
		}
		if got := strings.Join(names, ","); len(names) != 3 || names[0] != n.Name() || !strings.Contains(got, "node1") ||
			!strings.Contains(got, "node2") || !strings.Contains(got, "node3") {
			t.Errorf("%s: members %s, want itself first and node1..3", n.Name(), got)
		}
		if st.ConnectedMembers() != 3 {
			t.Errorf("%s: %d members connected", n.Name(), st.ConnectedMembers())
		}
		if routes != st.Routes {
			t.Logf("%s: members hold %d routes, Routes %d (read apart)", n.Name(), routes, st.Routes)
		}
		if len(n.Members()) != 3 {
			t.Errorf("%s: Members() = %+v", n.Name(), n.Members())
		}
		// Without JetStream the lists are there, empty.
		js := st.JetStream
		if js.Enabled || js.MetaLeader != "" || js.Streams == nil || len(js.Streams) != 0 || js.MetaPeers == nil {
			t.Errorf("%s: jetstream %+v", n.Name(), js)
		}
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"streams":[]`) || !strings.Contains(string(b), `"enabled":false`) {
			t.Errorf("%s: JSON %s", n.Name(), b)
		}
	}
}

// With replicated sessions, every node reports the same streams, each
// with a leader and its three replicas; a node that leaves stays a member
// of the meta group, disconnected.
func TestStatusJetStreamNodes(t *testing.T) {
	nodes := startJetStreamCluster(t, 3)
	for _, jn := range nodes {
		n := jn.node
		var st cluster.Status
		waitForLong(t, n.Name()+": streams with a leader and three current replicas", 30*time.Second, func() bool {
			st = n.Status()
			js := st.JetStream
			if !js.Enabled || js.Error != "" || js.MetaLeader == "" || len(js.MetaPeers) != 3 || len(js.Streams) == 0 {
				return false
			}
			for _, s := range js.Streams {
				if s.Leader == "" || s.Replicas != 3 || len(s.Peers) != 3 || s.Unavailable != "" {
					return false
				}
				for _, r := range s.Peers {
					if !r.Current {
						return false
					}
				}
			}
			return true
		})
		if !slices.ContainsFunc(st.JetStream.Streams, func(s cluster.StreamStatus) bool { return s.Bucket != "" }) {
			t.Errorf("%s: no KV bucket among %+v", n.Name(), st.JetStream.Streams)
		}
	}

	nodes[2].stop()
	waitForLong(t, "node3 seen gone", 30*time.Second, func() bool {
		st := nodes[0].node.Status()
		i := slices.IndexFunc(st.Members, func(m cluster.Member) bool { return m.Name == "node3" })
		return i >= 0 && !st.Members[i].Connected && st.ConnectedMembers() == 2
	})
}

// A subscriber to $SYS/broker/cluster/# on a node receives that node's
// cluster state, retained.
func TestPublishSys(t *testing.T) {
	nodes := startCluster(t, 3)
	stop := nodes[0].node.PublishSys(nodes[0].srv, 20*time.Millisecond)
	t.Cleanup(stop)

	got := make(chan *client.Message, 1000)
	c, err := client.New(client.Options{
		Servers:    []string{nodes[0].addr},
		ClientID:   "sys-watcher",
		CleanStart: true,
		OnMessage:  func(_ *client.Client, m *client.Message) { got <- m },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(context.Background())
	if _, err := c.Subscribe(ctx, nil, packet.Subscription{Filter: "$SYS/broker/cluster/#"}); err != nil {
		t.Fatal(err)
	}

	want := map[string]func(string) bool{
		"$SYS/broker/cluster/node":    func(v string) bool { return v == "node1" },
		"$SYS/broker/cluster/name":    func(v string) bool { return v == "mast" },
		"$SYS/broker/cluster/members": func(v string) bool { return v == "3" },
		"$SYS/broker/cluster/routes": func(v string) bool {
			n, err := strconv.Atoi(v)
			return err == nil && n >= 2
		},
	}
	last := map[string]string{}
	timeout := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case m := <-got:
			last[m.Topic] = string(m.Payload)
			if ok := want[m.Topic]; ok != nil && ok(string(m.Payload)) {
				delete(want, m.Topic)
			}
			if strings.Contains(m.Topic, "meta_leader") || strings.Contains(m.Topic, "/streams/") {
				t.Errorf("%s without JetStream", m.Topic)
			}
		case <-timeout:
			t.Fatalf("still waiting for %v; last seen %v", statusKeys(want), last)
		}
	}

	// Stopped, it publishes no more; the retained values stay.
	stop()
	msgs, err := nodes[0].srv.Retained("$SYS/broker/cluster/#", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 4 {
		t.Errorf("retained: %d messages, want node, name, members and routes", len(msgs))
	}
	// $SYS stays on its node.
	if msgs, _ := nodes[1].srv.Retained("$SYS/broker/cluster/#", 0); len(msgs) != 0 {
		t.Errorf("node2 holds node1's $SYS topics: %v", msgs)
	}
}

func statusKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
