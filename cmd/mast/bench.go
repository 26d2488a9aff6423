package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mastmq/mast/internal/loadgen"
)

const benchUsage = `usage: mast bench SCENARIO [flags]

Load-tests an MQTT broker. Scenarios:
  pub        publishers only (-c publishers on -t)
  sub        subscribers only (-c subscribers on --filter), counting what mast bench pub sends
  conn       open -c connections as fast as possible, one subscription each, hold them for -d
  fanin      -c publishers (default 8) -> 1 subscriber on a wildcard
  fanout     1 publisher -> -c subscribers (default 10) on one topic
  pairs      -c publisher/subscriber pairs (default 10), a topic per pair
  latency    pairs at a fixed total rate (--total-rate, default 1000/s); read the percentiles
  retained   -c publishers store -n retained messages each (default 100000) on distinct
             topics, then a subscriber to --filter receives them all; cleared afterwards

Topic patterns expand %i (client index) and %c (client id). Runs stop after -d
(default 10s) or -n messages per publisher, then drain for up to --drain.
A line per second goes to stderr; the summary to stdout (--json: one object).

Flags:
`

func runBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mast bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		io.WriteString(stderr, benchUsage)
		fs.PrintDefaults()
	}
	var cfg loadgen.Config
	host := fs.String("h", "127.0.0.1", "broker `host`")
	port := fs.Int("p", 1883, "broker `port`")
	rawURL := fs.String("url", "", "broker `URL`: mqtt://host:port or mqtts://host:port (overrides -h, -p)")
	fs.StringVar(&cfg.SubAddr, "sub-addr", "", "subscribers connect to `host:port` instead (another node of a cluster)")
	fs.IntVar(&cfg.Clients, "c", 0, "clients: the scenario's main count (see above)")
	fs.IntVar(&cfg.Pubs, "pubs", 0, "publishers (overrides -c for that role)")
	fs.IntVar(&cfg.Subs, "subs", 0, "subscribers (overrides -c for that role)")
	fs.StringVar(&cfg.Topic, "t", "", "publish topic `pattern` (default per scenario, e.g. bench/pairs/%i)")
	fs.StringVar(&cfg.Filter, "filter", "", "subscription filter `pattern` (default per scenario)")
	qos := fs.Int("q", 0, "QoS 0, 1 or 2")
	fs.IntVar(&cfg.Size, "s", 64, "payload `bytes` (at least 24)")
	fs.Float64Var(&cfg.Rate, "r", 0, "messages per second per publisher (0: as fast as possible)")
	fs.Float64Var(&cfg.TotalRate, "total-rate", 0, "messages per second over all publishers (overrides -r)")
	dur := durationFlag(0)
	fs.Var(&dur, "d", "duration, e.g. 10s or 10 (default 10s unless -n is given)")
	fs.Int64Var(&cfg.Count, "n", 0, "messages per publisher (0: until -d)")
	keepAlive := fs.Int("k", 60, "keep alive `seconds`")
	fs.BoolVar(&cfg.Clean, "clean", true, "clean session (3.1.1) / clean start (5.0); --clean=false for persistent sessions")
	expiry := fs.Uint("session-expiry", 0, "MQTT 5 session expiry interval, `seconds`")
	ifaddr := fs.String("ifaddr", "", "source IP `addresses`, comma-separated, used round-robin (e.g. 127.0.0.1,127.0.0.2)")
	fs.IntVar(&cfg.Inflight, "inflight", 64, "QoS 1/2 messages in flight per publisher")
	fs.IntVar(&cfg.Batch, "batch", 128, "flush at least every this many messages")
	version := fs.Int("V", 4, "MQTT version: 3 (3.1), 4 (3.1.1) or 5")
	fs.StringVar(&cfg.ClientPrefix, "prefix", "", "client id `prefix` (default mb-RUNID-; ids are PREFIX{p,s,c}INDEX)")
	drain := durationFlag(2 * time.Second)
	fs.Var(&drain, "drain", "how long to wait for messages still in flight after publishing stops")
	fs.IntVar(&cfg.ConnectParallel, "connect-parallel", 64, "connections opened at once")
	fs.IntVar(&cfg.BrokerPID, "pid", 0, "broker process `id`: report its CPU and RSS from /proc")
	fs.BoolVar(&cfg.KeepRetained, "keep-retained", false, "retained: leave the messages on the broker")
	asJSON := fs.Bool("json", false, "print the summary as one JSON object")
	quiet := fs.Bool("quiet", false, "no live line on stderr")
	interval := durationFlag(time.Second)
	fs.Var(&interval, "interval", "time between live lines")
	useTLS := fs.Bool("tls", false, "connect with TLS")
	caFile := fs.String("cafile", "", "TLS: trust the CA certificates in this PEM `file`")
	certFile := fs.String("cert", "", "TLS: client certificate PEM `file`")
	keyFile := fs.String("key", "", "TLS: client key PEM `file`")
	insecure := fs.Bool("insecure", false, "TLS: do not verify the broker's certificate")
	ws := fs.Bool("ws", false, "connect over WebSocket (not implemented yet)")

	// -h is the host, as in mosquitto_pub; alone it still asks for help.
	if len(args) == 1 && (args[0] == "-h" || args[0] == "help") {
		fs.Usage()
		return 0
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cfg.Scenario, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if cfg.Scenario == "" && fs.NArg() > 0 {
		cfg.Scenario = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return 2
		}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mast bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if cfg.Scenario == "" {
		fs.Usage()
		return 2
	}
	fail := func(f string, a ...any) int {
		fmt.Fprintf(stderr, "mast bench: "+f+"\n", a...)
		return 2
	}
	if *qos < 0 || *qos > 2 {
		return fail("-q %d: want 0, 1 or 2", *qos)
	}
	cfg.QoS = byte(*qos)
	if *version < 3 || *version > 5 {
		return fail("-V %d: want 3, 4 or 5", *version)
	}
	cfg.Version = byte(*version)
	if *keepAlive < 0 || *keepAlive > 65535 {
		return fail("-k %d: want 0 to 65535 seconds", *keepAlive)
	}
	cfg.KeepAlive = uint16(*keepAlive)
	if *expiry > 0xffffffff {
		return fail("--session-expiry %d is too large", *expiry)
	}
	cfg.SessionExpiry = uint32(*expiry)
	cfg.Duration = time.Duration(dur)
	cfg.Drain = time.Duration(drain)
	if *ifaddr != "" {
		cfg.LocalAddrs = strings.Split(*ifaddr, ",")
	}
	cfg.Addr = net.JoinHostPort(*host, strconv.Itoa(*port))
	if *rawURL != "" {
		u, err := url.Parse(*rawURL)
		if err != nil || u.Host == "" {
			return fail("--url %q: want mqtt://host:port", *rawURL)
		}
		p := u.Port()
		switch u.Scheme {
		case "mqtt", "tcp":
			if p == "" {
				p = "1883"
			}
		case "mqtts", "ssl", "tls":
			*useTLS = true
			if p == "" {
				p = "8883"
			}
		case "ws", "wss":
			*ws = true
		default:
			return fail("--url %q: unknown scheme %q", *rawURL, u.Scheme)
		}
		cfg.Addr = net.JoinHostPort(u.Hostname(), p)
	}
	if *ws {
		return fail("WebSocket is not implemented in mast bench yet; use plain TCP or --tls")
	}
	if *useTLS {
		tc, err := benchTLS(*caFile, *certFile, *keyFile, *insecure)
		if err != nil {
			return fail("%v", err)
		}
		cfg.TLS = tc
	}
	if !*quiet {
		cfg.Live = stderr
		cfg.LiveInterval = time.Duration(interval)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// A second interrupt kills at once.
		<-ctx.Done()
		stop()
	}()
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "mast bench:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(stderr, "mast bench:", err)
			return 1
		}
		return 0
	}
	res.WriteText(stdout)
	return 0
}

func benchTLS(caFile, certFile, keyFile string, insecure bool) (*tls.Config, error) {
	tc := &tls.Config{InsecureSkipVerify: insecure}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate found", caFile)
		}
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// durationFlag accepts a Go duration (10s, 1m30s) or whole seconds (10).
type durationFlag time.Duration

func (d *durationFlag) String() string { return time.Duration(*d).String() }

func (d *durationFlag) Set(s string) error {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		*d = durationFlag(n * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration such as 10s or a number of seconds")
	}
	*d = durationFlag(v)
	return nil
}
