package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mastmq/mast/cluster"
)

// AttachCluster adds the cluster gauges, read from status at scrape
// time (cluster.Node.Status). The stream gauges are the stream leaders'
// view, the same from every node: aggregate them with max, not sum.
func (m *Metrics) AttachCluster(status func() cluster.Status) { m.cluster.Store(&status) }

// clusterCollector turns a cluster.Status into gauges at scrape time.
type clusterCollector struct{ m *Metrics }

var (
	descClusterNode = prometheus.NewDesc("mast_cluster_node_info",
		"This node's name and its cluster's, as labels; always 1.", []string{"node", "cluster"}, nil)
	descClusterMembers = prometheus.NewDesc("mast_cluster_members",
		"Cluster members connected to this node, itself included.", nil, nil)
	descClusterRoutes = prometheus.NewDesc("mast_cluster_routes",
		"Route connections to other nodes (a small pool per peer).", nil, nil)
	descClusterRTT = prometheus.NewDesc("mast_cluster_route_rtt_seconds",
		"Round trip last measured on a route to the peer.", []string{"peer"}, nil)
	descJetStream = prometheus.NewDesc("mast_cluster_jetstream_enabled",
		"1 when this node runs JetStream.", nil, nil)
	descMetaLeader = prometheus.NewDesc("mast_cluster_jetstream_meta_leader",
		"1 for the JetStream meta group's leader, 0 for its other members, as this node sees it.", []string{"node"}, nil)
	descStreams = prometheus.NewDesc("mast_cluster_jetstream_streams",
		"JetStream streams, KV buckets included.", nil, nil)
	descStreamReplicas = prometheus.NewDesc("mast_cluster_stream_replicas",
		"Configured replicas of the stream.", []string{"stream"}, nil)
	descStreamLeader = prometheus.NewDesc("mast_cluster_stream_leader",
		"1 for the stream's Raft leader, 0 for its other replicas.", []string{"stream", "node"}, nil)
	descStreamLag = prometheus.NewDesc("mast_cluster_stream_replica_lag",
		"Raft entries the replica is behind its leader's commit.", []string{"stream", "replica"}, nil)
	descStreamCurrent = prometheus.NewDesc("mast_cluster_stream_replica_current",
		"1 when the replica is caught up and was heard from recently.", []string{"stream", "replica"}, nil)
	descStreamSeen = prometheus.NewDesc("mast_cluster_stream_replica_last_seen_seconds",
		"Time since the stream's leader last heard from the replica.", []string{"stream", "replica"}, nil)
	descStreamMsgs = prometheus.NewDesc("mast_cluster_stream_messages",
		"Messages in the stream.", []string{"stream"}, nil)
	descStreamBytes = prometheus.NewDesc("mast_cluster_stream_bytes",
		"Bytes in the stream.", []string{"stream"}, nil)
)

func (clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descClusterNode, descClusterMembers, descClusterRoutes, descClusterRTT,
		descJetStream, descMetaLeader, descStreams, descStreamReplicas, descStreamLeader, descStreamLag,
		descStreamCurrent, descStreamSeen, descStreamMsgs, descStreamBytes} {
		ch <- d
	}
}

func (c clusterCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.cluster.Load()
	if f == nil {
		return
	}
	st := (*f)()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	bit := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	gauge(descClusterNode, 1, st.Node, st.Cluster)
	gauge(descClusterMembers, float64(st.ConnectedMembers()))
	gauge(descClusterRoutes, float64(st.Routes))
	for _, mb := range st.Members {
		if !mb.Self && mb.Connected && mb.RTTSeconds > 0 {
			gauge(descClusterRTT, mb.RTTSeconds, mb.Name)
		}
	}
	js := st.JetStream
	gauge(descJetStream, bit(js.Enabled))
	if !js.Enabled {
		return
	}
	seen := map[string]bool{} // a duplicate series would fail the whole scrape
	for _, p := range js.MetaPeers {
		if !seen[p] {
			seen[p] = true
			gauge(descMetaLeader, bit(p == js.MetaLeader), p)
		}
	}
	gauge(descStreams, float64(len(js.Streams)))
	for _, s := range js.Streams {
		if s.Unavailable != "" {
			continue // nothing known but its name
		}
		gauge(descStreamReplicas, float64(s.Replicas), s.Name)
		gauge(descStreamMsgs, float64(s.Messages), s.Name)
		gauge(descStreamBytes, float64(s.Bytes), s.Name)
		clear(seen)
		for _, r := range s.Peers {
			if seen[r.Name] {
				continue
			}
			seen[r.Name] = true
			gauge(descStreamLeader, bit(r.Leader), s.Name, r.Name)
			gauge(descStreamLag, float64(r.Lag), s.Name, r.Name)
			gauge(descStreamCurrent, bit(r.Current), s.Name, r.Name)
			gauge(descStreamSeen, r.ActiveSeconds, s.Name, r.Name)
		}
	}
}
