package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mastmq/mast/cluster"
	"github.com/mastmq/mast/metrics"
)

func scrapeText(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	hs := httptest.NewServer(m.Handler())
	defer hs.Close()
	resp, err := http.Get(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %d %s", resp.StatusCode, body)
	}
	return string(body)
}

func TestClusterGauges(t *testing.T) {
	m := metrics.New()
	if text := scrapeText(t, m); strings.Contains(text, "mast_cluster_") {
		t.Error("cluster gauges without a cluster")
	}

	st := cluster.Status{
		Node: "node1", Cluster: "mast", Routes: 8,
		Members: []cluster.Member{
			{Name: "node1", Self: true, Connected: true},
			{Name: "node2", Connected: true, Routes: 4, RTTSeconds: 0.0005},
			{Name: "node3", Connected: false},
		},
		JetStream: cluster.JetStreamStatus{
			Enabled: true, MetaLeader: "node2", MetaPeers: []string{"node1", "node2", "node3"},
			Streams: []cluster.StreamStatus{
				{Name: "KV_mast_sessions", Bucket: "mast_sessions", Replicas: 3, Leader: "node2", Messages: 5, Bytes: 500,
					Peers: []cluster.Replica{
						{Name: "node2", Leader: true, Current: true},
						{Name: "node1", Current: true, ActiveSeconds: 0.25},
						{Name: "node3", Lag: 12, ActiveSeconds: 9},
						{Name: "node3", Lag: 12}, // a duplicate must not fail the scrape
					}},
				{Name: "GONE", Unavailable: "its leader did not answer in time"},
			},
		},
	}
	calls := 0
	m.AttachCluster(func() cluster.Status { calls++; return st })
	text := scrapeText(t, m)
	if calls != 1 {
		t.Errorf("status read %d times in one scrape", calls)
	}
	for _, want := range []string{
		`mast_cluster_node_info{cluster="mast",node="node1"} 1`,
		"mast_cluster_members 2",
		"mast_cluster_routes 8",
		`mast_cluster_route_rtt_seconds{peer="node2"} 0.0005`,
		"mast_cluster_jetstream_enabled 1",
		`mast_cluster_jetstream_meta_leader{node="node2"} 1`,
		`mast_cluster_jetstream_meta_leader{node="node1"} 0`,
		"mast_cluster_jetstream_streams 2",
		`mast_cluster_stream_replicas{stream="KV_mast_sessions"} 3`,
		`mast_cluster_stream_leader{node="node2",stream="KV_mast_sessions"} 1`,
		`mast_cluster_stream_leader{node="node3",stream="KV_mast_sessions"} 0`,
		`mast_cluster_stream_replica_lag{replica="node3",stream="KV_mast_sessions"} 12`,
		`mast_cluster_stream_replica_lag{replica="node2",stream="KV_mast_sessions"} 0`,
		`mast_cluster_stream_replica_current{replica="node1",stream="KV_mast_sessions"} 1`,
		`mast_cluster_stream_replica_current{replica="node3",stream="KV_mast_sessions"} 0`,
		`mast_cluster_stream_replica_last_seen_seconds{replica="node3",stream="KV_mast_sessions"} 9`,
		`mast_cluster_stream_messages{stream="KV_mast_sessions"} 5`,
		`mast_cluster_stream_bytes{stream="KV_mast_sessions"} 500`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(text, `stream="GONE"`) {
		t.Error("gauges for a stream nothing is known of")
	}

	// Without JetStream: no JetStream series but the flag.
	st = cluster.Status{Node: "node1", Cluster: "mast", Members: []cluster.Member{{Name: "node1", Self: true, Connected: true}}}
	text = scrapeText(t, m)
	if !strings.Contains(text, "mast_cluster_jetstream_enabled 0\n") || strings.Contains(text, "mast_cluster_stream_") ||
		strings.Contains(text, "meta_leader{") || !strings.Contains(text, "mast_cluster_members 1\n") {
		t.Errorf("without JetStream:\n%s", grepLines(text, "mast_cluster_"))
	}
}

func grepLines(text, prefix string) string {
	var out []string
	for l := range strings.Lines(text) {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}
