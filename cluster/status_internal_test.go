package cluster

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/mastmq/mast/broker"
)

// jsCluster starts n NATS servers with JetStream, each configured with
// the routes of all (JetStream wants configured routes), and waits for
// the meta leader to see every peer current.
func jsCluster(t *testing.T, n int) []*server.Server {
	t.Helper()
	var routes []*url.URL
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		ports = append(ports, port)
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", port)})
	}
	var srvs []*server.Server
	for i := range n {
		ns, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("node%d", i+1),
			Host:       "127.0.0.1", Port: server.RANDOM_PORT,
			NoSigs: true, NoLog: true,
			Cluster:   server.ClusterOpts{Name: "mast", Host: "127.0.0.1", Port: ports[i]},
			Routes:    routes,
			JetStream: true, StoreDir: t.TempDir(),
		})
		if err != nil {
			t.Fatal(err)
		}
		go ns.Start()
		t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatal("not ready")
		}
		srvs = append(srvs, ns)
	}
	jsWait(t, "a meta leader seeing every peer current", func() bool {
		for _, ns := range srvs {
			if !ns.JetStreamIsLeader() {
				continue
			}
			jsz, err := ns.Jsz(nil)
			if err != nil || jsz.Meta == nil || len(jsz.Meta.Replicas) != n-1 {
				return false
			}
			for _, p := range jsz.Meta.Replicas {
				if !p.Current {
					return false
				}
			}
			return true
		}
		return false
	})
	return srvs
}

func jsWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func jsRetry(t *testing.T, what string, f func() error) {
	t.Helper()
	var err error
	for range 1500 {
		if err = f(); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

func TestStatusJetStream(t *testing.T) {
	srvs := jsCluster(t, 3)
	var conns []*nats.Conn
	for _, ns := range srvs {
		nc, err := nats.Connect("", nats.InProcessServer(ns))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		conns = append(conns, nc)
	}
	js, err := conns[0].JetStream()
	if err != nil {
		t.Fatal(err)
	}
	// Placement also waits for every server's statistics to reach the
	// meta leader: retry until it finds three peers.
	jsRetry(t, "stream placement", func() error {
		_, err := js.AddStream(&nats.StreamConfig{Name: "S", Subjects: []string{"status.test.>"}, Replicas: 3})
		return err
	})
	jsRetry(t, "bucket placement", func() error {
		_, err := js.CreateKeyValue(&nats.KeyValueConfig{Bucket: "b", Replicas: 3})
		return err
	})
	for i := range 2 {
		if _, err := js.Publish("status.test.x", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}

	var meta string
	for i, ns := range srvs {
		name := ns.Name()
		var st Status
		// The leaders' views settle (every replica current, the
		// messages replicated) shortly after the writes.
		jsWait(t, name+": every replica current", func() bool {
			st = status(name, ns, conns[i])
			if len(st.JetStream.Streams) != 2 {
				return false
			}
			for _, s := range st.JetStream.Streams {
				if len(s.Peers) != 3 {
					return false
				}
				for _, r := range s.Peers {
					if !r.Current || r.Lag != 0 {
						return false
					}
				}
			}
			return true
		})
		j := st.JetStream
		if j.Error != "" || !j.Enabled || j.MetaLeader == "" || !slices.Equal(j.MetaPeers, []string{"node1", "node2", "node3"}) {
			t.Errorf("%s: jetstream %+v", name, j)
		}
		if meta == "" {
			meta = j.MetaLeader
		} else if j.MetaLeader != meta {
			t.Errorf("%s: meta leader %s, another node says %s", name, j.MetaLeader, meta)
		}
		if st.ConnectedMembers() != 3 {
			t.Errorf("%s: members %+v", name, st.Members)
		}
		kv, s := j.Streams[0], j.Streams[1]
		if kv.Name != "KV_b" || kv.Bucket != "b" || s.Name != "S" || s.Bucket != "" {
			t.Fatalf("%s: streams %+v", name, j.Streams)
		}
		if s.Replicas != 3 || s.Messages != 2 || s.Bytes == 0 || s.Leader == "" || s.LeaderSince.IsZero() || s.Unavailable != "" {
			t.Errorf("%s: stream %+v", name, s)
		}
		if p := s.Peers[0]; p.Name != s.Leader || !p.Leader {
			t.Errorf("%s: peers %+v, want the leader %s first", name, s.Peers, s.Leader)
		}
		if s.MaxLag() != 0 {
			t.Errorf("%s: lag %d", name, s.MaxLag())
		}

		// The fallback: this node's own view, itself included.
		local := localStreams(name, ns)
		if len(local) != 2 || local[1].Name != "S" || local[1].Leader != s.Leader || len(local[1].Peers) != 3 ||
			!slices.ContainsFunc(local[1].Peers, func(r Replica) bool { return r.Name == name }) {
			t.Errorf("%s: local view %+v", name, local)
		}
	}

	// The $SYS topics of a node with JetStream.
	srv := broker.New(broker.Options{SysInterval: -1})
	defer srv.Shutdown(t.Context())
	p := sysPublisher{publish: srv.Publish, streams: map[string]bool{}}
	st := status("node1", srvs[0], conns[0])
	p.put(st)
	want := map[string]string{
		"$SYS/broker/cluster/node":                "node1",
		"$SYS/broker/cluster/name":                "mast",
		"$SYS/broker/cluster/members":             "3",
		"$SYS/broker/cluster/routes":              fmt.Sprint(st.Routes),
		"$SYS/broker/cluster/meta_leader":         meta,
		"$SYS/broker/cluster/streams/S/leader":    st.JetStream.Streams[1].Leader,
		"$SYS/broker/cluster/streams/S/lag":       "0",
		"$SYS/broker/cluster/streams/KV_b/leader": st.JetStream.Streams[0].Leader,
		"$SYS/broker/cluster/streams/KV_b/lag":    "0",
	}
	checkRetained(t, srv, want)

	// A stream gone has its topics cleared.
	if err := js.DeleteStream("S"); err != nil {
		t.Fatal(err)
	}
	p.put(status("node1", srvs[0], conns[0]))
	delete(want, "$SYS/broker/cluster/streams/S/leader")
	delete(want, "$SYS/broker/cluster/streams/S/lag")
	checkRetained(t, srv, want)
}

func checkRetained(t *testing.T, srv *broker.Server, want map[string]string) {
	t.Helper()
	msgs, err := srv.Retained("$SYS/broker/cluster/#", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range msgs {
		got[m.Topic] = string(m.Payload)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s = %q", k, got[k])
		}
	}
}

// A stream's replicas as one node reports them: NATS leaves the
// reporting node out of the list.
func TestStreamStatusPeers(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ci := &server.ClusterInfo{Leader: "n2", LeaderSince: &since, Replicas: []*server.PeerInfo{
		{Name: "n3", Current: false, Lag: 7, Active: 1500 * time.Millisecond},
		{Name: "n1", Current: true, Active: time.Second},
	}}
	// The leader's report.
	s := streamStatus("KV_x", 3, server.StreamState{Msgs: 4, Bytes: 100, Consumers: 1}, ci, "")
	if s.Bucket != "x" || s.Leader != "n2" || !s.LeaderSince.Equal(since) || s.Messages != 4 || s.Consumers != 1 {
		t.Errorf("%+v", s)
	}
	want := []Replica{
		{Name: "n2", Leader: true, Current: true},
		{Name: "n1", Current: true, ActiveSeconds: 1},
		{Name: "n3", Lag: 7, ActiveSeconds: 1.5},
	}
	if !slices.Equal(s.Peers, want) || s.MaxLag() != 7 {
		t.Errorf("peers %+v, want %+v", s.Peers, want)
	}
	// A follower's own view adds itself.
	ci = &server.ClusterInfo{Leader: "n2", Replicas: []*server.PeerInfo{{Name: "n2", Current: true}, {Name: "n3"}}}
	s = streamStatus("S", 3, server.StreamState{}, ci, "n1")
	if got := []string{s.Peers[0].Name, s.Peers[1].Name, s.Peers[2].Name}; len(s.Peers) != 3 || !s.Peers[0].Leader ||
		!slices.Equal(got, []string{"n2", "n1", "n3"}) {
		t.Errorf("follower's view: %+v", s.Peers)
	}
	// No leader: every replica by name, none leading.
	s = streamStatus("S", 0, server.StreamState{}, &server.ClusterInfo{Replicas: []*server.PeerInfo{{Name: "b"}, {Name: "a"}}}, "")
	if s.Leader != "" || s.Replicas != 1 || len(s.Peers) != 2 || s.Peers[0].Name != "a" || s.Peers[0].Leader {
		t.Errorf("leaderless: %+v", s)
	}
}
