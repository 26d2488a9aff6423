package metrics_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/metrics"
	"github.com/mastmq/mast/packet"
)

// countingConn counts the bytes a test client writes and reads, so that
// the broker's byte counters can be checked exactly.
type countingConn struct {
	net.Conn
	in, out *atomic.Uint64
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.in.Add(uint64(n))
	return n, err
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.out.Add(uint64(n))
	return n, err
}

// mqttClient is a raw MQTT client whose traffic is counted.
type mqttClient struct {
	t       *testing.T
	nc      net.Conn
	br      *bufio.Reader
	version byte
}

// wire counts every byte the test's clients exchange with the broker.
type wire struct{ toBroker, fromBroker atomic.Uint64 }

func (w *wire) dial(t *testing.T, addr string, version byte, id string, clean bool) *mqttClient {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	nc := countingConn{raw, &w.fromBroker, &w.toBroker}
	c := &mqttClient{t: t, nc: nc, br: bufio.NewReader(nc), version: version}
	c.send(&packet.Connect{ProtocolName: "MQTT", Version: version, ClientID: id, CleanStart: clean, KeepAlive: 60})
	if ack, ok := c.read().(*packet.Connack); !ok || ack.ReasonCode != 0 {
		t.Fatalf("%s: CONNACK %+v", id, ack)
	}
	return c
}

func (c *mqttClient) send(p packet.Packet) {
	c.t.Helper()
	b, err := packet.Append(nil, c.version, p)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *mqttClient) read() packet.Packet {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := packet.Read(c.br, c.version, 0)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

// scrape fetches and parses the metrics with the Prometheus text parser,
// and checks that every family is introduced by HELP and TYPE lines.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want the text exposition format", ct)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("the text parser refuses the scrape: %v\n%s", err, body)
	}
	help, typ := map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == "#" && f[1] == "HELP" {
			help[f[2]] = true
		}
		if len(f) >= 4 && f[0] == "#" && f[1] == "TYPE" {
			typ[f[2]] = true
		}
	}
	for name, mf := range fams {
		if !help[name] || mf.GetHelp() == "" {
			t.Errorf("metric family %s has no HELP", name)
		}
		if !typ[name] || mf.GetType() == dto.MetricType_UNTYPED {
			t.Errorf("metric family %s has no TYPE (parsed as %v)", name, mf.GetType())
		}
	}
	return fams
}

// sample is the value of the metric name{labels...} in a parsed scrape:
// a counter's or gauge's value, a histogram's sample count; it fails the
// test when the metric is not there.
func sample(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	v, err := lookup(fams, name, labels...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func lookup(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, error) {
	mf := fams[name]
	if mf == nil {
		return 0, fmt.Errorf("no metric family %s in the scrape", name)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		for _, lp := range m.GetLabel() {
			if want[lp.GetName()] != lp.GetValue() {
				continue next
			}
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), nil
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), nil
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount()), nil
		}
		return 0, fmt.Errorf("%s is a %v", name, mf.GetType())
	}
	return 0, fmt.Errorf("no %s%v in the scrape", name, want)
}

// TestCountersMoveAsMessagesFlow scrapes the metrics, sends messages
// through a real broker, scrapes again and checks each counter moved by
// exactly what the traffic explains, reading both scrapes with the
// Prometheus text parser.
func TestCountersMoveAsMessagesFlow(t *testing.T) {
	m := metrics.New()
	srv := broker.New(broker.Options{Observer: m, SysInterval: -1})
	m.Attach(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	hs := httptest.NewServer(m.Handler())
	defer hs.Close()
	addr := ln.Addr().String()

	var w wire
	sub := w.dial(t, addr, packet.Version5, "subscriber", true)
	sub.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "m/#", QoS: 1}}})
	if _, ok := sub.read().(*packet.Suback); !ok {
		t.Fatal("expected SUBACK")
	}
	pub := w.dial(t, addr, packet.Version311, "publisher", true)

	before := scrape(t, hs.URL)
	if got := sample(t, before, "mast_clients_connected"); got != 2 {
		t.Fatalf("mast_clients_connected %v, want 2", got)
	}
	toBroker, fromBroker := w.toBroker.Load(), w.fromBroker.Load()

	// N messages at QoS 1 and N at QoS 0; the subscriber acknowledges
	// each QoS 1 delivery.
	const n = 20
	payload := []byte(strings.Repeat("p", 100))
	for i := range n {
		pub.send(&packet.Publish{QoS: 1, PacketID: uint16(i + 1), Topic: fmt.Sprintf("m/%d", i), Payload: payload})
		pub.send(&packet.Publish{QoS: 0, Topic: fmt.Sprintf("m/%d", i), Payload: payload})
	}
	for range n {
		if a, ok := pub.read().(*packet.Ack); !ok || a.Kind != packet.PUBACK {
			t.Fatalf("publisher: expected PUBACK, got %+v", a)
		}
	}
	byQoS := [3]int{}
	for range 2 * n {
		p, ok := sub.read().(*packet.Publish)
		if !ok {
			t.Fatalf("subscriber: expected PUBLISH, got %+v", p)
		}
		byQoS[p.QoS]++
		if p.QoS == 1 {
			sub.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
		}
	}
	if byQoS[0] != n || byQoS[1] != n {
		t.Fatalf("subscriber got %v messages by QoS, want %d and %d", byQoS, n, n)
	}
	// A third client comes and stays for the second scrape.
	w.dial(t, addr, packet.Version5, "watcher", true)

	type delta struct {
		name   string
		labels []string
		want   float64
	}
	wantDeltas := []delta{
		{"mast_messages_received_total", []string{"qos", "0"}, n},
		{"mast_messages_received_total", []string{"qos", "1"}, n},
		{"mast_messages_received_total", []string{"qos", "2"}, 0},
		{"mast_messages_sent_total", []string{"qos", "0"}, n},
		{"mast_messages_sent_total", []string{"qos", "1"}, n},
		{"mast_messages_sent_total", []string{"qos", "2"}, 0},
		{"mast_packets_received_total", []string{"type", "publish"}, 2 * n},
		{"mast_packets_received_total", []string{"type", "puback"}, n},
		{"mast_packets_received_total", []string{"type", "connect"}, 1},
		{"mast_packets_received_total", []string{"type", "subscribe"}, 0},
		{"mast_packets_sent_total", []string{"type", "publish"}, 2 * n},
		{"mast_packets_sent_total", []string{"type", "puback"}, n},
		{"mast_packets_sent_total", []string{"type", "connack"}, 1},
		{"mast_delivery_latency_seconds", nil, 2 * n},
		{"mast_connections_total", nil, 1},
		{"mast_clients_connected", nil, 1},
		{"mast_messages_dropped_total", nil, 0},
		{"mast_authorization_denied_total", nil, 0},
	}
	// The broker counts a PUBACK once it has read it and a delivery's
	// latency once its write returned, both of which may come a moment
	// after the client saw the effect: scrape until the deltas are all
	// there, for at most 5 s.
	var after map[string]*dto.MetricFamily
	var bad []string
	for end := time.Now().Add(5 * time.Second); ; {
		after = scrape(t, hs.URL)
		bad = bad[:0]
		for _, d := range wantDeltas {
			b := sample(t, before, d.name, d.labels...)
			a := sample(t, after, d.name, d.labels...)
			if a-b != d.want {
				bad = append(bad, fmt.Sprintf("%s%v moved by %v (%v -> %v), want %v", d.name, d.labels, a-b, b, a, d.want))
			}
		}
		// Every byte the clients wrote was read by the broker, and every
		// byte they read was written by it.
		gotIn := sample(t, after, "mast_bytes_received_total") - sample(t, before, "mast_bytes_received_total")
		if wantIn := float64(w.toBroker.Load() - toBroker); gotIn != wantIn {
			bad = append(bad, fmt.Sprintf("mast_bytes_received_total moved by %v, the clients wrote %v", gotIn, wantIn))
		}
		gotOut := sample(t, after, "mast_bytes_sent_total") - sample(t, before, "mast_bytes_sent_total")
		if wantOut := float64(w.fromBroker.Load() - fromBroker); gotOut != wantOut {
			bad = append(bad, fmt.Sprintf("mast_bytes_sent_total moved by %v, the clients read %v", gotOut, wantOut))
		}
		if len(bad) == 0 || time.Now().After(end) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, b := range bad {
		t.Error(b)
	}
	if got := sample(t, after, "mast_clients_connected"); got != 3 {
		t.Errorf("mast_clients_connected %v, want 3", got)
	}

	// The latency histogram: its sum grew and its buckets are cumulative
	// and end with the count.
	h := after["mast_delivery_latency_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleSum() <= before["mast_delivery_latency_seconds"].GetMetric()[0].GetHistogram().GetSampleSum() {
		t.Errorf("delivery latency sum did not grow: %v", h.GetSampleSum())
	}
	var last uint64
	for _, b := range h.GetBucket() {
		if b.GetCumulativeCount() < last {
			t.Errorf("bucket le=%v count %d below the previous %d", b.GetUpperBound(), b.GetCumulativeCount(), last)
		}
		last = b.GetCumulativeCount()
	}
	if last > h.GetSampleCount() {
		t.Errorf("last bucket %d above the count %d", last, h.GetSampleCount())
	}

	// Gauges that follow the state: one subscription, and the watcher
	// leaving takes mast_clients_connected back down.
	if got := sample(t, after, "mast_subscriptions"); got != 1 {
		t.Errorf("mast_subscriptions %v, want 1", got)
	}
	if got := sample(t, after, "mast_inflight_messages"); got != 0 {
		t.Errorf("mast_inflight_messages %v, want 0 (every delivery was acknowledged)", got)
	}
	pub.send(&packet.Disconnect{})
	pub.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := pub.br.ReadByte(); err == nil {
		t.Fatal("the broker did not close the connection after DISCONNECT")
	}
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		v, err := lookup(scrape(t, hs.URL), "mast_clients_connected")
		if err == nil && v == 2 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("mast_clients_connected %v after a client left, want 2 (%v)", v, err)
		}
	}

	// Families the broker always exports, whatever the traffic.
	var names []string
	for name := range after {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, want := range []string{"mast_clients_connected", "mast_sessions", "mast_retained_messages",
		"mast_queued_messages", "mast_connections_refused_total", "mast_store_failures_total",
		"mast_uptime_seconds", "mast_limit_hits_total", "go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := after[want]; !ok {
			t.Errorf("no %s in the scrape; families: %v", want, names)
		}
	}
}
