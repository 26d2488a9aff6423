package metrics

import (
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/cluster"
	"github.com/mastmq/mast/packet"
)

// Metrics is the broker's Prometheus registry. Make it with New, pass it
// as broker.Options.Observer, then Attach the server.
type Metrics struct {
	reg      *prometheus.Registry
	srv      atomic.Pointer[broker.Server]
	cluster  atomic.Pointer[func() cluster.Status]
	latency  prometheus.Histogram
	commit   *prometheus.HistogramVec
	commitOp prometheus.Histogram
}

// New returns a registry with the Go runtime and process collectors and
// the broker's metrics.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "mast_delivery_latency_seconds",
		Help:    "Time from a PUBLISH arriving to a delivery of it being written to a subscriber.",
		Buckets: prometheus.ExponentialBuckets(10e-6, 2.5, 14), // 10µs .. ~1.5s
	})
	m.commit = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mast_store_commit_seconds",
		Help:    "Time of one store group commit, by whether it was synced to disk.",
		Buckets: prometheus.ExponentialBuckets(50e-6, 2, 14),
	}, []string{"synced"})
	m.commitOp = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "mast_store_commit_ops",
		Help:    "Operations carried by one store group commit.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 12),
	})
	m.reg.MustRegister(m.latency, m.commit, m.commitOp,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		statsCollector{m}, clusterCollector{m})
	return m
}

// Attach tells the registry which server to read at scrape time.
func (m *Metrics) Attach(s *broker.Server) { m.srv.Store(s) }

// Registry gives access for extra collectors (the store, listeners).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// DeliveryLatency implements broker.Observer.
func (m *Metrics) DeliveryLatency(d time.Duration) { m.latency.Observe(d.Seconds()) }

// StoreCommit implements broker.Observer.
func (m *Metrics) StoreCommit(d time.Duration, ops int, synced bool) {
	label := "false"
	if synced {
		label = "true"
	}
	m.commit.WithLabelValues(label).Observe(d.Seconds())
	m.commitOp.Observe(float64(ops))
}

// statsCollector turns broker.Stats into metrics at scrape time.
type statsCollector struct{ m *Metrics }

var (
	descConnected = prometheus.NewDesc("mast_clients_connected", "Clients connected now.", nil, nil)
	descSessions  = prometheus.NewDesc("mast_sessions", "Sessions, connected or not.", nil, nil)
	descSubs      = prometheus.NewDesc("mast_subscriptions", "Subscriptions, shared group members included.", nil, nil)
	descRetained  = prometheus.NewDesc("mast_retained_messages", "Retained messages.", nil, nil)
	descInflight  = prometheus.NewDesc("mast_inflight_messages", "QoS 1/2 messages sent and not yet acknowledged.", nil, nil)
	descQueued    = prometheus.NewDesc("mast_queued_messages", "Messages waiting in session queues.", nil, nil)
	descConnTotal = prometheus.NewDesc("mast_connections_total", "Sockets accepted.", nil, nil)
	descRefused   = prometheus.NewDesc("mast_connections_refused_total", "Connections refused, by reason.", []string{"reason"}, nil)
	descPktIn     = prometheus.NewDesc("mast_packets_received_total", "Packets received, by type.", []string{"type"}, nil)
	descPktOut    = prometheus.NewDesc("mast_packets_sent_total", "Packets sent, by type.", []string{"type"}, nil)
	descMsgIn     = prometheus.NewDesc("mast_messages_received_total", "PUBLISH received, by QoS.", []string{"qos"}, nil)
	descMsgOut    = prometheus.NewDesc("mast_messages_sent_total", "PUBLISH sent, by QoS.", []string{"qos"}, nil)
	descBytesIn   = prometheus.NewDesc("mast_bytes_received_total", "Bytes received.", nil, nil)
	descBytesOut  = prometheus.NewDesc("mast_bytes_sent_total", "Bytes sent.", nil, nil)
	descDropped   = prometheus.NewDesc("mast_messages_dropped_total", "Messages dropped for full queues or size limits.", nil, nil)
	descDenied    = prometheus.NewDesc("mast_authorization_denied_total", "Actions refused by authorization.", nil, nil)
	descLimits    = prometheus.NewDesc("mast_limit_hits_total", "Times a limit was hit, by limit.", []string{"limit"}, nil)
	descStoreFail = prometheus.NewDesc("mast_store_failures_total", "Store writes that failed.", nil, nil)
	descUptime    = prometheus.NewDesc("mast_uptime_seconds", "Seconds since the broker started.", nil, nil)
)

func (statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnected, descSessions, descSubs, descRetained, descInflight, descQueued,
		descConnTotal, descRefused, descPktIn, descPktOut, descMsgIn, descMsgOut, descBytesIn, descBytesOut,
		descDropped, descDenied, descLimits, descStoreFail, descUptime} {
		ch <- d
	}
}

func (c statsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.srv.Load()
	if s == nil {
		return
	}
	st := s.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descConnected, float64(st.ClientsConnected))
	gauge(descSessions, float64(st.Sessions))
	gauge(descSubs, float64(st.Subscriptions))
	gauge(descRetained, float64(st.Retained))
	gauge(descInflight, float64(st.Inflight))
	gauge(descQueued, float64(st.Queued))
	gauge(descUptime, float64(st.UptimeSeconds))
	counter(descConnTotal, st.ConnectionsTotal)
	counter(descRefused, st.RefusedMaxConns, "max_connections")
	counter(descRefused, st.RefusedRate, "rate")
	counter(descRefused, st.AuthFailures, "authentication")
	for t := packet.CONNECT; t <= packet.AUTH; t++ {
		name := strings.ToLower(t.String())
		counter(descPktIn, st.PacketsIn[t], name)
		counter(descPktOut, st.PacketsOut[t], name)
	}
	for q, name := range []string{"0", "1", "2"} {
		counter(descMsgIn, st.ReceivedByQoS[q], name)
		counter(descMsgOut, st.SentByQoS[q], name)
	}
	counter(descBytesIn, st.BytesReceived)
	counter(descBytesOut, st.BytesSent)
	counter(descDropped, st.MessagesDropped)
	counter(descDenied, st.Denied)
	counter(descLimits, st.Throttled, "publish_rate")
	counter(descLimits, st.TopicLimitHits, "topic")
	counter(descLimits, st.SubscriptionLimited, "subscriptions")
	counter(descLimits, st.ConnectTimeouts, "connect_timeout")
	counter(descLimits, st.KeepAliveTimeouts, "keepalive_timeout")
	counter(descLimits, st.PacketsTooLarge, "packet_size")
	counter(descLimits, st.BadPackets, "malformed_or_protocol_error")
	counter(descStoreFail, st.StoreFailures)
}

// WatchDirectory adds mast_store_disk_bytes, the size of the files under
// dir, measured at scrape time.
func (m *Metrics) WatchDirectory(dir string) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mast_store_disk_bytes",
		Help: "Bytes used by the data directory's files.",
	}, func() float64 {
		var total int64
		filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if info, err := d.Info(); err == nil {
					total += info.Size()
				}
			}
			return nil
		})
		return float64(total)
	}))
}
