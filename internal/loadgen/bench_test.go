package loadgen_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mastmq/mast/internal/loadgen"
)

// BenchmarkBroker runs scenarios against an in-process broker, so that
// `go test -cpuprofile` (or -memprofile, -mutexprofile, -blockprofile)
// profiles the broker and the load generator together; the broker's share
// is what lies under github.com/mastmq/mast/broker. b.N is the number of
// messages published (conn: of connections). See bench/README.md for the
// commands.
func BenchmarkBroker(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  loadgen.Config
	}{
		{"fanin", loadgen.Config{Scenario: "fanin", Clients: 8}},
		{"fanout", loadgen.Config{Scenario: "fanout", Clients: 100}},
		{"pairs-qos1", loadgen.Config{Scenario: "pairs", Clients: 50, QoS: 1}},
		{"pairs-qos2", loadgen.Config{Scenario: "pairs", Clients: 10, QoS: 2}},
		{"conn", loadgen.Config{Scenario: "conn"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			_, addr := startBroker(b, nil)
			cfg := c.cfg
			cfg.Addr = addr
			resolved, err := cfg.Resolve()
			if err != nil {
				b.Fatal(err)
			}
			if cfg.Scenario == "conn" {
				cfg.Clients = b.N // b.N connections, each with one subscription
				cfg.Duration = time.Millisecond
			} else {
				cfg.Count = int64(max(1, b.N/resolved.Pubs))
			}
			b.ReportAllocs()
			b.ResetTimer()
			res, err := loadgen.Run(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if c := res.Connect; c != nil {
				b.ReportMetric(c.PerSec, "connects/s")
			} else {
				b.ReportMetric(res.RecvRate, "deliveries/s")
				b.ReportMetric(float64(res.Lost), "lost")
			}
			if res.Errors > 0 {
				b.Log(fmt.Sprintf("%d errors, first: %s", res.Errors, res.FirstError))
			}
		})
	}
}
