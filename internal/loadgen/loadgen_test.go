package loadgen_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/internal/loadgen"
)

// startBroker runs an in-process broker on 127.0.0.1 until the test ends.
// With tlsConfig set, it serves TLS.
func startBroker(t testing.TB, tlsConfig *tls.Config) (*broker.Server, string) {
	t.Helper()
	// Queues as large as bench/compare gives both brokers: flat-out QoS 1/2
	// publishers outrun their subscribers, and past the default of 1000
	// queued messages a broker drops (and counts) by design.
	srv := broker.New(broker.Options{SysInterval: -1, MaxQueued: 1_000_000})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, ln.Addr().String()
}

func run(t *testing.T, cfg loadgen.Config) *loadgen.Result {
	t.Helper()
	res, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Errors != 0 {
		t.Errorf("%d errors, first: %s", res.Errors, res.FirstError)
	}
	var b strings.Builder
	res.WriteText(&b)
	t.Logf("\n%s", b.String())
	return res
}

// checkLossless asserts what a user reads first: nothing lost or doubled,
// and every subscriber got every message meant for it.
func checkLossless(t *testing.T, res *loadgen.Result, perMessage uint64) {
	t.Helper()
	if res.Sent == 0 {
		t.Fatal("nothing sent")
	}
	if res.Lost != 0 || res.Duplicates != 0 || res.Foreign != 0 {
		t.Errorf("lost %d, duplicates %d, foreign %d", res.Lost, res.Duplicates, res.Foreign)
	}
	if res.Expected != res.Sent*perMessage || res.Received != res.Expected {
		t.Errorf("sent %d, expected %d, received %d; want %d deliveries per message", res.Sent, res.Expected, res.Received, perMessage)
	}
	if res.QoS > 0 && res.Acked != res.Sent {
		t.Errorf("acked %d of %d", res.Acked, res.Sent)
	}
	if res.Latency == nil || res.Latency.Count != int64(res.Received) {
		t.Errorf("latency %+v for %d messages", res.Latency, res.Received)
	}
}

func TestScenarios(t *testing.T) {
	_, addr := startBroker(t, nil)
	short := 400 * time.Millisecond
	cases := []struct {
		name       string
		cfg        loadgen.Config
		perMessage uint64 // deliveries per message sent
	}{
		{"pairs QoS 1 flat out", loadgen.Config{Scenario: "pairs", Clients: 3, QoS: 1, Duration: short}, 1},
		{"pairs QoS 2 v5", loadgen.Config{Scenario: "pairs", Clients: 2, QoS: 2, Version: 5, Duration: short}, 1},
		{"pairs QoS 1 v3.1 by count", loadgen.Config{Scenario: "pairs", Clients: 2, QoS: 1, Version: 3, Count: 300}, 1},
		{"pairs persistent v5", loadgen.Config{Scenario: "pairs", Clients: 2, QoS: 1, Version: 5, SessionExpiry: 60,
			ClientPrefix: "persist-", Duration: short}, 1},
		{"fanin", loadgen.Config{Scenario: "fanin", Clients: 4, Rate: 2000, Duration: short}, 1},
		{"fanin two subscribers", loadgen.Config{Scenario: "fanin", Clients: 3, Subs: 2, QoS: 1, Rate: 2000, Duration: short}, 2},
		{"fanout", loadgen.Config{Scenario: "fanout", Clients: 5, Rate: 2000, Duration: short}, 5},
		{"latency", loadgen.Config{Scenario: "latency", Clients: 4, QoS: 1, TotalRate: 2000, Duration: short, Size: 100}, 1},
		{"source addresses", loadgen.Config{Scenario: "pairs", Clients: 2, Rate: 1000, Duration: short,
			LocalAddrs: []string{"127.0.0.1", "127.0.0.2"}}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Addr = addr
			res := run(t, c.cfg)
			checkLossless(t, res, c.perMessage)
			if c.cfg.Count > 0 && res.Sent != uint64(c.cfg.Count)*uint64(res.Publishers) {
				t.Errorf("sent %d, want %d per publisher", res.Sent, c.cfg.Count)
			}
			if c.cfg.Rate > 0 || c.cfg.TotalRate > 0 {
				want := c.cfg.Rate * float64(res.Publishers)
				if c.cfg.TotalRate > 0 {
					want = c.cfg.TotalRate
				}
				// Paced publishers never run ahead of the schedule.
				if res.SentRate > want*1.2 {
					t.Errorf("sent %.0f msg/s, above the rate of %.0f", res.SentRate, want)
				}
			}
		})
	}
}

func TestPub(t *testing.T) {
	_, addr := startBroker(t, nil)
	res := run(t, loadgen.Config{Scenario: "pub", Addr: addr, Clients: 2, QoS: 1, Count: 500})
	if res.Sent != 1000 || res.Acked != 1000 || res.Subscribers != 0 {
		t.Errorf("sent %d acked %d subscribers %d", res.Sent, res.Acked, res.Subscribers)
	}
}

// A sub run counts what a separate pub run publishes, and finds no gap.
func TestSubCountsAnotherRun(t *testing.T) {
	srv, addr := startBroker(t, nil)
	done := make(chan *loadgen.Result)
	go func() {
		res, err := loadgen.Run(context.Background(), loadgen.Config{Scenario: "sub", Addr: addr, Clients: 2,
			QoS: 1, Filter: "bench/#", Duration: 1500 * time.Millisecond})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats().Subscriptions < 2 {
		if time.Now().After(deadline) {
			t.Fatal("subscribers never subscribed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	run(t, loadgen.Config{Scenario: "pub", Addr: addr, Clients: 3, QoS: 1, Count: 200})
	res := <-done
	if res == nil {
		t.FailNow()
	}
	if res.Received != 2*600 || res.Lost != 0 || res.Duplicates != 0 {
		t.Errorf("received %d lost %d duplicates %d; want 1200, 0, 0", res.Received, res.Lost, res.Duplicates)
	}
}

func TestConn(t *testing.T) {
	srv, addr := startBroker(t, nil)
	res := run(t, loadgen.Config{Scenario: "conn", Addr: addr, Clients: 200, KeepAlive: 1,
		Duration: 1200 * time.Millisecond, BrokerPID: os.Getpid(), LocalAddrs: []string{"127.0.0.1", "127.0.0.3"}})
	c := res.Connect
	if c == nil || c.Connected != 200 || c.Failed != 0 || c.PerSec <= 0 || c.Latency == nil {
		t.Fatalf("connect stats %+v", c)
	}
	if res.Broker == nil || res.Broker.RSSKB <= 0 || res.Broker.PID != os.Getpid() {
		t.Errorf("broker stats %+v", res.Broker)
	}
	// Keep alive 1 s held 1.2 s: the broker would have closed clients that
	// did not ping (after 1.5 s); and all are gone once Run returns.
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats().ClientsConnected != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d clients still connected after the run", srv.Stats().ClientsConnected)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRetained(t *testing.T) {
	srv, addr := startBroker(t, nil)
	res := run(t, loadgen.Config{Scenario: "retained", Addr: addr, Clients: 2, Count: 3000, Duration: 10 * time.Second})
	rt := res.Retained
	if rt == nil || rt.Stored != 6000 || rt.Delivered != 6000 || !rt.Cleared || rt.DeliverPerSec <= 0 {
		t.Fatalf("retained stats %+v", rt)
	}
	if res.Lost != 0 || res.Duplicates != 0 {
		t.Errorf("lost %d duplicates %d", res.Lost, res.Duplicates)
	}
	if n := srv.Stats().Retained; n != 0 {
		t.Errorf("%d retained messages left on the broker", n)
	}
}

func TestTLS(t *testing.T) {
	serverConf, pool := selfSigned(t)
	_, addr := startBroker(t, serverConf)
	res := run(t, loadgen.Config{Scenario: "pairs", Addr: addr, Clients: 2, QoS: 1, Duration: 300 * time.Millisecond,
		TLS: &tls.Config{RootCAs: pool}})
	checkLossless(t, res, 1)

	_, err := loadgen.Run(context.Background(), loadgen.Config{Scenario: "pairs", Addr: addr, Clients: 1,
		Duration: 100 * time.Millisecond, TLS: &tls.Config{}})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: err = %v", err)
	}
}

// Cancelling the context ends a long run early, still with a summary.
func TestCancel(t *testing.T) {
	_, addr := startBroker(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := loadgen.Run(ctx, loadgen.Config{Scenario: "pairs", Addr: addr, Clients: 2, QoS: 1, Rate: 1000, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v after cancel", d)
	}
	if res.Sent == 0 || res.Lost != 0 {
		t.Errorf("sent %d lost %d", res.Sent, res.Lost)
	}
}

func TestRefusedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := loadgen.Run(context.Background(), loadgen.Config{Scenario: "pairs", Addr: addr, Clients: 1}); err == nil {
		t.Fatal("no error without a broker")
	}
}

func TestExpand(t *testing.T) {
	for _, c := range []struct{ pattern, want string }{
		{"bench/%i", "bench/7"},
		{"bench/%c/x", "bench/mb-s7/x"},
		{"%i/%c/%i", "7/mb-s7/7"},
		{"100%%/%i", "100%/7"},
		{"a/%x/%", "a/%x/%"},
		{"plain", "plain"},
	} {
		if got := loadgen.Expand(c.pattern, 7, "mb-s7"); got != c.want {
			t.Errorf("Expand(%q) = %q, want %q", c.pattern, got, c.want)
		}
	}
}

func TestResolve(t *testing.T) {
	for _, c := range []struct {
		cfg  loadgen.Config
		want string
	}{
		{loadgen.Config{Scenario: "nope"}, "unknown scenario"},
		{loadgen.Config{Scenario: "pairs", Size: 10}, "at least 24"},
		{loadgen.Config{Scenario: "pairs", Pubs: 2, Subs: 3}, "as many subscribers"},
		{loadgen.Config{Scenario: "pub", QoS: 3}, "QoS"},
		{loadgen.Config{Scenario: "pub", Version: 6}, "version"},
		{loadgen.Config{Scenario: "pub", LocalAddrs: []string{"localhost"}}, "not an IP"},
	} {
		if _, err := c.cfg.Resolve(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.cfg, err, c.want)
		}
	}
	cfg, err := loadgen.Config{Scenario: "fanin"}.Resolve()
	if err != nil || cfg.Pubs != 8 || cfg.Subs != 1 || cfg.Filter != "bench/fanin/#" || cfg.Duration != 10*time.Second || cfg.Size != 64 {
		t.Errorf("fanin defaults: %+v, %v", cfg, err)
	}
	cfg, err = loadgen.Config{Scenario: "latency", Clients: 4}.Resolve()
	if err != nil || cfg.Pubs != 4 || cfg.Subs != 4 || cfg.Rate != 250 || cfg.Filter != cfg.Topic {
		t.Errorf("latency defaults: %+v, %v", cfg, err)
	}
}

// selfSigned returns a server TLS config for 127.0.0.1 and a pool that
// trusts it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mast test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}
