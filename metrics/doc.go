// Package metrics exposes the broker to Prometheus: counters and gauges
// read from broker.Stats at scrape time (so the hot path pays nothing for
// them), and histograms the broker feeds through broker.Observer: the time
// from a PUBLISH arriving to its delivery being written, and the time of
// each store group commit. On a cluster node, AttachCluster adds the
// mast_cluster_* gauges, read from the node's status at scrape time.
package metrics
