package loadgen

import (
	"fmt"
	"io"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/mastmq/mast/packet"
)

// Result is the summary of one run. Rates are per second; latencies are in
// microseconds.
type Result struct {
	Scenario    string `json:"scenario"`
	Addr        string `json:"broker"`
	Version     byte   `json:"mqtt_version"`
	QoS         byte   `json:"qos"`
	Size        int    `json:"payload_bytes"`
	Publishers  int    `json:"publishers"`
	Subscribers int    `json:"subscribers"`

	// Seconds is the sending phase: from the first publish to the last.
	Seconds    float64 `json:"seconds"`
	Sent       uint64  `json:"sent"`
	Acked      uint64  `json:"acked"`
	Refused    uint64  `json:"refused,omitempty"`
	Received   uint64  `json:"received"` // duplicates included
	Expected   uint64  `json:"expected"`
	Lost       uint64  `json:"lost"`
	Duplicates uint64  `json:"duplicates"`
	Foreign    uint64  `json:"foreign,omitempty"` // messages of other runs, ignored
	SentRate   float64 `json:"sent_per_sec"`
	// RecvRate is Received over the time from the first publish to the
	// last message received.
	RecvRate float64      `json:"received_per_sec"`
	Latency  *Percentiles `json:"latency_us,omitempty"`

	Errors     int64  `json:"errors"`
	FirstError string `json:"first_error,omitempty"`

	Connect  *ConnectStats  `json:"connect,omitempty"`
	Retained *RetainedStats `json:"retained,omitempty"`
	Broker   *BrokerStats   `json:"broker_process,omitempty"`
	// LoadGen is this process's own CPU over the same phase as Broker:
	// on a machine it shares with the broker, what it spends the broker
	// does not get.
	LoadGen *LoadGenStats `json:"loadgen_process,omitempty"`
}

// Percentiles summarises a histogram, in microseconds.
type Percentiles struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   int64   `json:"p50"`
	P90   int64   `json:"p90"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p99_9"`
	Max   int64   `json:"max"`
}

func percentiles(h *hdrhistogram.Histogram) *Percentiles {
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	return &Percentiles{
		Count: h.TotalCount(),
		Mean:  h.Mean(),
		P50:   h.ValueAtQuantile(50),
		P90:   h.ValueAtQuantile(90),
		P99:   h.ValueAtQuantile(99),
		P999:  h.ValueAtQuantile(99.9),
		Max:   h.Max(),
	}
}

// ConnectStats is what the conn scenario measures.
type ConnectStats struct {
	Attempted int     `json:"attempted"`
	Connected int     `json:"connected"`
	Failed    int     `json:"failed"`
	Seconds   float64 `json:"seconds"`
	PerSec    float64 `json:"per_sec"`
	// Latency is dial to SUBACK per connection, in microseconds.
	Latency     *Percentiles `json:"latency_us,omitempty"`
	HeldSeconds float64      `json:"held_seconds"`
}

// RetainedStats is what the retained scenario measures.
type RetainedStats struct {
	Stored         uint64  `json:"stored"`
	StoreSeconds   float64 `json:"store_seconds"`
	StorePerSec    float64 `json:"store_per_sec"`
	Delivered      uint64  `json:"delivered"`
	DeliverSeconds float64 `json:"deliver_seconds"`
	DeliverPerSec  float64 `json:"deliver_per_sec"`
	Cleared        bool    `json:"cleared"`
}

// LoadGenStats is the load generator's own CPU (user + system).
type LoadGenStats struct {
	CPUSeconds      float64 `json:"cpu_seconds"`
	CPUPerMessageUS float64 `json:"cpu_us_per_message,omitempty"`
	CPUPerConnectUS float64 `json:"cpu_us_per_connect,omitempty"`
}

// loadGenStats is the CPU from cpu0 to cpu1 (selfCPU), per message or
// connection when counted; nil without /proc.
func loadGenStats(cpu0, cpu1 float64, messages, connects int) *LoadGenStats {
	if cpu0 < 0 || cpu1 < 0 {
		return nil
	}
	cpu := cpu1 - cpu0
	s := &LoadGenStats{CPUSeconds: cpu}
	if messages > 0 {
		s.CPUPerMessageUS = cpu * 1e6 / float64(messages)
	}
	if connects > 0 {
		s.CPUPerConnectUS = cpu * 1e6 / float64(connects)
	}
	return s
}

// BrokerStats is the broker process as seen in /proc, over the run's main
// phase: sending and draining for message scenarios, connecting for conn,
// delivering for retained.
type BrokerStats struct {
	PID             int     `json:"pid"`
	CPUSeconds      float64 `json:"cpu_seconds"`
	CPUPerMessageUS float64 `json:"cpu_us_per_message,omitempty"`
	CPUPerConnectUS float64 `json:"cpu_us_per_connect,omitempty"`
	IdleCPUSeconds  float64 `json:"idle_cpu_seconds,omitempty"`
	RSSStartKB      int64   `json:"rss_start_kb"`
	RSSKB           int64   `json:"rss_kb"`
	RSSPerConnB     float64 `json:"rss_bytes_per_connection,omitempty"`
	RSSPerRetainedB float64 `json:"rss_bytes_per_retained,omitempty"`
}

func versionName(v byte) string {
	switch v {
	case packet.Version31:
		return "3.1"
	case packet.Version311:
		return "3.1.1"
	case packet.Version5:
		return "5.0"
	}
	return fmt.Sprint(v)
}

// WriteText prints the summary as aligned lines.
func (r *Result) WriteText(w io.Writer) {
	line := func(k, f string, a ...any) { fmt.Fprintf(w, "%-12s %s\n", k, fmt.Sprintf(f, a...)) }
	line("scenario", "%s: %s, %s, QoS %d, %d-byte payloads, MQTT %s, %s",
		r.Scenario, plural(r.Publishers, "publisher"), plural(r.Subscribers, "subscriber"),
		r.QoS, r.Size, versionName(r.Version), r.Addr)
	if c := r.Connect; c != nil {
		line("connections", "%d of %d in %.3f s: %.0f/s, %d failed; held %.1f s", c.Connected, c.Attempted, c.Seconds, c.PerSec, c.Failed, c.HeldSeconds)
		if l := c.Latency; l != nil {
			line("connect µs", "p50 %d  p90 %d  p99 %d  p99.9 %d  max %d", l.P50, l.P90, l.P99, l.P999, l.Max)
		}
	}
	if rt := r.Retained; rt != nil {
		line("stored", "%d retained in %.3f s: %.0f msg/s", rt.Stored, rt.StoreSeconds, rt.StorePerSec)
		line("delivered", "%d to a %q subscriber in %.3f s: %.0f msg/s", rt.Delivered, "#", rt.DeliverSeconds, rt.DeliverPerSec)
	}
	if r.Publishers > 0 || r.Subscribers > 0 && r.Connect == nil {
		line("duration", "%.3f s", r.Seconds)
		if r.Publishers > 0 {
			s := fmt.Sprintf("%d (%.0f msg/s)", r.Sent, r.SentRate)
			if r.QoS > 0 {
				s += fmt.Sprintf(", %d acknowledged", r.Acked)
			}
			if r.Refused > 0 {
				s += fmt.Sprintf(", %d refused", r.Refused)
			}
			line("sent", "%s", s)
		}
		if r.Subscribers > 0 {
			line("received", "%d (%.0f msg/s)", r.Received, r.RecvRate)
			line("expected", "%d", r.Expected)
			line("lost", "%d%s", r.Lost, pct(r.Lost, r.Expected))
			line("duplicates", "%d", r.Duplicates)
			if r.Foreign > 0 {
				line("foreign", "%d (not from this run, ignored)", r.Foreign)
			}
		}
	}
	if l := r.Latency; l != nil {
		line("latency µs", "p50 %d  p90 %d  p99 %d  p99.9 %d  max %d  (mean %.0f)", l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
	}
	e := fmt.Sprint(r.Errors)
	if r.FirstError != "" {
		e += " (first: " + r.FirstError + ")"
	}
	line("errors", "%s", e)
	if b := r.Broker; b != nil {
		var parts []string
		parts = append(parts, fmt.Sprintf("pid %d", b.PID), fmt.Sprintf("cpu %.2f s", b.CPUSeconds))
		if b.CPUPerMessageUS > 0 {
			parts = append(parts, fmt.Sprintf("%.2f µs/msg", b.CPUPerMessageUS))
		}
		if b.CPUPerConnectUS > 0 {
			parts = append(parts, fmt.Sprintf("%.1f µs/connect", b.CPUPerConnectUS))
		}
		parts = append(parts, fmt.Sprintf("rss %.1f MB (start %.1f MB)", float64(b.RSSKB)/1024, float64(b.RSSStartKB)/1024))
		if b.RSSPerConnB > 0 {
			parts = append(parts, fmt.Sprintf("%.0f bytes/connection", b.RSSPerConnB))
		}
		if b.RSSPerRetainedB > 0 {
			parts = append(parts, fmt.Sprintf("%.0f bytes/retained message", b.RSSPerRetainedB))
		}
		line("broker", "%s", strings.Join(parts, ", "))
	}
	if g := r.LoadGen; g != nil {
		s := fmt.Sprintf("cpu %.2f s", g.CPUSeconds)
		if g.CPUPerMessageUS > 0 {
			s += fmt.Sprintf(", %.2f µs/msg", g.CPUPerMessageUS)
		}
		if g.CPUPerConnectUS > 0 {
			s += fmt.Sprintf(", %.1f µs/connect", g.CPUPerConnectUS)
		}
		line("load gen", "%s", s)
	}
}

func pct(n, of uint64) string {
	if n == 0 || of == 0 {
		return ""
	}
	return fmt.Sprintf(" (%.3f%%)", 100*float64(n)/float64(of))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
