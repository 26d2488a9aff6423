// Command compare runs `mast bench` against mast and Mosquitto on this
// machine, alternately, for several rounds, and prints a markdown table of
// the medians with the ratio mast/Mosquitto.
//
//	go run ./bench/compare [-rounds 3] [-duration 5s] [-scenarios fanin,fanout,...]
//
// It installs Mosquitto from Debian's packages when it is missing (needs
// root), builds mast, and starts a fresh broker process for every run on a
// free loopback port, with the equivalent settings documented in
// bench/README.md. Both brokers and the load generator share the machine.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mastmq/mast/internal/loadgen"
)

// scenario is one row group of the table.
type scenario struct {
	name    string
	title   string
	args    func(o *options) []string
	metrics []metric
}

// metric extracts one number from a run; better says which way is good.
type metric struct {
	name   string
	better string // "higher" or "lower"
	value  func(r *loadgen.Result) (float64, bool)
}

func scenarios() []scenario {
	lost := metric{"lost %", "lower", func(r *loadgen.Result) (float64, bool) {
		if r.Expected == 0 {
			return 0, false
		}
		return 100 * float64(r.Lost) / float64(r.Expected), true
	}}
	recv := func(name string) metric {
		return metric{name, "higher", func(r *loadgen.Result) (float64, bool) { return r.RecvRate, true }}
	}
	cpuMsg := func(name string) metric {
		return metric{name, "lower", func(r *loadgen.Result) (float64, bool) {
			if r.Broker == nil || r.Broker.CPUPerMessageUS == 0 {
				return 0, false
			}
			return r.Broker.CPUPerMessageUS, true
		}}
	}
	rss := metric{"broker RSS MB at end", "lower", func(r *loadgen.Result) (float64, bool) {
		if r.Broker == nil {
			return 0, false
		}
		return float64(r.Broker.RSSKB) / 1024, true
	}}
	lat := func(name string, f func(p *loadgen.Percentiles) int64) metric {
		return metric{name, "lower", func(r *loadgen.Result) (float64, bool) {
			if r.Latency == nil {
				return 0, false
			}
			return float64(f(r.Latency)), true
		}}
	}
	d := func(o *options) string { return o.duration.String() }
	return []scenario{
		{"fanin", "fan-in 8→1, QoS 0", func(o *options) []string {
			return []string{"fanin", "-c", "8", "-q", "0", "-d", d(o)}
		}, []metric{recv("received msg/s"), lost, cpuMsg("broker CPU µs/msg"), rss}},
		{"fanout", "fan-out 1→100, QoS 0", func(o *options) []string {
			return []string{"fanout", "-c", "100", "-q", "0", "-d", d(o)}
		}, []metric{recv("deliveries/s"), lost, cpuMsg("broker CPU µs/delivery"), rss}},
		{"pairs", "50 pairs, QoS 1, max rate", func(o *options) []string {
			return []string{"pairs", "-c", "50", "-q", "1", "-d", d(o)}
		}, []metric{recv("received msg/s"), lost, cpuMsg("broker CPU µs/msg"), rss}},
		{"latency", "50 pairs, QoS 1, 10k msg/s", func(o *options) []string {
			return []string{"latency", "-c", "50", "-q", "1", "--total-rate", "10000", "-d", d(o)}
		}, []metric{
			lat("latency p50 µs", func(p *loadgen.Percentiles) int64 { return p.P50 }),
			lat("latency p99 µs", func(p *loadgen.Percentiles) int64 { return p.P99 }),
			lat("latency p99.9 µs", func(p *loadgen.Percentiles) int64 { return p.P999 }),
			lost, cpuMsg("broker CPU µs/msg")}},
		{"conn", "idle connections, keepalive 60, 1 subscription each", func(o *options) []string {
			return []string{"conn", "-c", strconv.Itoa(o.conns), "-k", "60", "-d", d(o),
				"--ifaddr", "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4"}
		}, []metric{
			{"connects/s", "higher", func(r *loadgen.Result) (float64, bool) {
				if r.Connect == nil {
					return 0, false
				}
				return r.Connect.PerSec, true
			}},
			{"failed connections", "lower", func(r *loadgen.Result) (float64, bool) {
				if r.Connect == nil {
					return 0, false
				}
				return float64(r.Connect.Failed), true
			}},
			{"broker RSS KB/connection", "lower", func(r *loadgen.Result) (float64, bool) {
				if r.Broker == nil {
					return 0, false
				}
				return r.Broker.RSSPerConnB / 1024, true
			}},
			{"broker CPU µs/connect", "lower", func(r *loadgen.Result) (float64, bool) {
				if r.Broker == nil {
					return 0, false
				}
				return r.Broker.CPUPerConnectUS, true
			}},
			rss}},
		{"retained", "retained messages, then a # subscriber", func(o *options) []string {
			return []string{"retained", "-c", "1", "-n", strconv.Itoa(o.retained), "-d", "120s"}
		}, []metric{
			{"stored msg/s", "higher", func(r *loadgen.Result) (float64, bool) {
				if r.Retained == nil {
					return 0, false
				}
				return r.Retained.StorePerSec, true
			}},
			{"delivered msg/s", "higher", func(r *loadgen.Result) (float64, bool) {
				if r.Retained == nil {
					return 0, false
				}
				return r.Retained.DeliverPerSec, true
			}},
			lost,
			{"broker RSS bytes/retained msg", "lower", func(r *loadgen.Result) (float64, bool) {
				if r.Broker == nil {
					return 0, false
				}
				return r.Broker.RSSPerRetainedB, true
			}},
			cpuMsg("broker CPU µs/delivered msg")}},
	}
}

type options struct {
	rounds    int
	duration  time.Duration
	conns     int
	retained  int
	scenarios string
	dir       string
	mosquitto string
	mast      string
	mastArgs  string

	loadBefore, loadAfter string
}

// broker is one of the two brokers under test.
type broker struct {
	name  string
	start func(dir string, port int) (*proc, error)
}

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every scenario once against each broker")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "duration of each message run and of holding idle connections")
	flag.IntVar(&o.conns, "conns", 10000, "connections in the conn scenario")
	flag.IntVar(&o.retained, "retained", 1000000, "messages in the retained scenario")
	flag.StringVar(&o.scenarios, "scenarios", "fanin,fanout,pairs,latency,conn,retained", "scenarios to run, comma-separated")
	flag.StringVar(&o.dir, "dir", "", "keep configurations, logs and raw results here (default: a new temporary directory)")
	flag.StringVar(&o.mosquitto, "mosquitto", "", "mosquitto binary (default: from PATH or /usr/sbin, installed with apt-get when missing)")
	flag.StringVar(&o.mast, "mast", "", "mast binary to test (default: build ./cmd/mast)")
	flag.StringVar(&o.mastArgs, "mast-args", "--memory", "extra `arguments` for mast serve, space-separated")
	flag.Parse()
	if err := compare(&o); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func compare(o *options) error {
	var err error
	if o.dir == "" {
		if o.dir, err = os.MkdirTemp("", "mast-compare-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	logf("work directory %s", o.dir)
	if o.mosquitto, err = ensureMosquitto(o.mosquitto); err != nil {
		return err
	}
	// The load generator is always built from this tree; the broker under
	// test may be another binary.
	bench := filepath.Join(o.dir, "mast")
	logf("building mast")
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || len(bytes.TrimSpace(gomod)) == 0 || string(bytes.TrimSpace(gomod)) == os.DevNull {
		return errors.New("run compare inside the mast module (go run ./bench/compare)")
	}
	build := exec.Command("go", "build", "-o", bench, "./cmd/mast")
	build.Dir = filepath.Dir(string(bytes.TrimSpace(gomod)))
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	mast := bench
	if o.mast != "" {
		mast = o.mast
	}
	raiseNoFile(20000)

	var picked []scenario
	for _, s := range scenarios() {
		if slices.Contains(strings.Split(o.scenarios, ","), s.name) {
			picked = append(picked, s)
		}
	}
	if len(picked) == 0 {
		return fmt.Errorf("no known scenario in %q", o.scenarios)
	}
	brokers := []broker{
		{"mast", func(dir string, port int) (*proc, error) {
			return startMast(mast, dir, port, strings.Fields(o.mastArgs))
		}},
		{"Mosquitto", func(dir string, port int) (*proc, error) { return startMosquitto(o.mosquitto, dir, port) }},
	}
	raw, err := os.Create(filepath.Join(o.dir, "results.jsonl"))
	if err != nil {
		return err
	}
	defer raw.Close()

	// results[scenario][broker] holds one Result per round.
	results := map[string]map[string][]*loadgen.Result{}
	began := time.Now()
	o.loadBefore = loadAverage()
	for round := range o.rounds {
		for _, s := range picked {
			order := brokers
			if round%2 == 1 {
				order = []broker{brokers[1], brokers[0]}
			}
			for _, b := range order {
				res, err := runOne(o, bench, b, s, round)
				if err != nil {
					return fmt.Errorf("round %d, %s, %s: %w", round+1, s.name, b.name, err)
				}
				if results[s.name] == nil {
					results[s.name] = map[string][]*loadgen.Result{}
				}
				results[s.name][b.name] = append(results[s.name][b.name], res)
				line, _ := json.Marshal(struct {
					Round  int             `json:"round"`
					Broker string          `json:"broker_name"`
					Result *loadgen.Result `json:"result"`
				}{round + 1, b.name, res})
				fmt.Fprintf(raw, "%s\n", line)
				logf("round %d/%d %-8s %-9s %s", round+1, o.rounds, s.name, b.name, brief(s, res))
			}
		}
	}
	o.loadAfter = loadAverage()
	logf("done in %v; raw results in %s", time.Since(began).Round(time.Second), raw.Name())
	printTable(os.Stdout, o, picked, results)
	return nil
}

// runOne starts a fresh broker, runs one scenario against it and stops it.
func runOne(o *options, bench string, b broker, s scenario, round int) (*loadgen.Result, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(o.dir, fmt.Sprintf("r%d-%s-%s", round+1, s.name, strings.ToLower(b.name)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p, err := b.start(dir, port)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	if err := waitListening(port, 10*time.Second); err != nil {
		return nil, fmt.Errorf("%s did not start (see %s): %w", b.name, dir, err)
	}
	args := append([]string{"bench"}, s.args(o)...)
	args = append(args, "-p", strconv.Itoa(port), "--pid", strconv.Itoa(p.cmd.Process.Pid), "--json", "--quiet")
	ctx, cancel := context.WithTimeout(context.Background(), o.duration*3+5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bench, args...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	errLog, err := os.Create(filepath.Join(dir, "bench.stderr"))
	if err != nil {
		return nil, err
	}
	defer errLog.Close()
	cmd.Stderr = errLog
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("mast %s: %w (see %s)", strings.Join(args, " "), err, errLog.Name())
	}
	var res loadgen.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("bench output: %w", err)
	}
	if res.Errors > 0 {
		logf("  %s/%s: %d errors, first: %s", s.name, b.name, res.Errors, res.FirstError)
	}
	return &res, nil
}

// startMast writes the configuration and starts `mast serve`.
func startMast(bin, dir string, port int, extra []string) (*proc, error) {
	conf := filepath.Join(dir, "mast.yaml")
	if err := os.WriteFile(conf, []byte(mastConfig), 0o644); err != nil {
		return nil, err
	}
	args := []string{"serve", "-c", conf, "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--data-dir", filepath.Join(dir, "data")}
	return startLogged(dir, bin, append(args, extra...)...)
}

// The settings below are the same limits as mosquittoConfig's; see
// bench/README.md.
const mastConfig = `log:
  level: warn
limits:
  max_inflight_messages: 1024
  max_queued_messages: 100000
  max_outbound_bytes: 8MiB
sys_interval: 0
`

func startMosquitto(bin, dir string, port int) (*proc, error) {
	conf := filepath.Join(dir, "mosquitto.conf")
	text := fmt.Sprintf(mosquittoConfig, port)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	return startLogged(dir, bin, "-c", conf)
}

const mosquittoConfig = `listener %d 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 1024
max_queued_messages 100000
max_queued_bytes 0
max_keepalive 65535
set_tcp_nodelay true
sys_interval 0
log_dest stderr
log_type error
log_type warning
`

// proc is a broker process; done is closed once it has exited.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startLogged(dir, bin string, args ...string) (*proc, error) {
	f, err := os.Create(filepath.Join(dir, "broker.log"))
	if err != nil {
		return nil, err
	}
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	go func() { p.cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

// stop asks the broker to exit and kills it if it has not within 10 s.
func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitListening(port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ensureMosquitto finds mosquitto, installing Debian's package if needed.
func ensureMosquitto(bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	find := func() string {
		if p, err := exec.LookPath("mosquitto"); err == nil {
			return p
		}
		if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
			return "/usr/sbin/mosquitto"
		}
		return ""
	}
	if p := find(); p != "" {
		return p, nil
	}
	logf("mosquitto not found: apt-get install -y mosquitto")
	install := func() error {
		cmd := exec.Command("apt-get", "install", "-y", "--no-install-recommends", "mosquitto")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd.Run()
	}
	if err := install(); err != nil {
		update := exec.Command("apt-get", "update")
		update.Stdout, update.Stderr = os.Stderr, os.Stderr
		if err := update.Run(); err != nil {
			return "", fmt.Errorf("apt-get update: %w", err)
		}
		if err := install(); err != nil {
			return "", fmt.Errorf("apt-get install mosquitto: %w", err)
		}
	}
	if p := find(); p != "" {
		return p, nil
	}
	return "", errors.New("mosquitto installed but not found")
}

// raiseNoFile raises the open-file limit that the brokers and the load
// generator inherit.
func raiseNoFile(n uint64) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	want := min(n, l.Max)
	if l.Cur >= want {
		return
	}
	l.Cur = want
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		logf("cannot raise the open-file limit to %d: %v", want, err)
		return
	}
	logf("open-file limit raised to %d", want)
}

func brief(s scenario, r *loadgen.Result) string {
	var parts []string
	for _, m := range s.metrics {
		if v, ok := m.value(r); ok {
			parts = append(parts, m.name+" "+format(v))
		}
	}
	return strings.Join(parts, ", ")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func format(v float64) string {
	switch a := max(v, -v); {
	case a == 0:
		return "0"
	case a >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 0.01:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
}

func printTable(w io.Writer, o *options, picked []scenario, results map[string]map[string][]*loadgen.Result) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	fmt.Fprintf(bw, "Medians of %d round(s), %v per run; %d × %s; %s; mast serve %s; load generator (%s) on the same machine; load average %s before, %s after.\n\n",
		o.rounds, o.duration, runtime.NumCPU(), cpuModel(), mosquittoVersion(o.mosquitto), o.mastArgs, runtime.Version(),
		o.loadBefore, o.loadAfter)
	fmt.Fprintln(bw, "| scenario | metric | mast | Mosquitto | mast/Mosquitto |")
	fmt.Fprintln(bw, "|---|---|---:|---:|---:|")
	for _, s := range picked {
		title := s.title
		if s.name == "conn" {
			title = fmt.Sprintf("%d %s", o.conns, s.title)
		}
		if s.name == "retained" {
			title = fmt.Sprintf("%d %s", o.retained, s.title)
		}
		for _, m := range s.metrics {
			med := map[string]string{}
			val := map[string]float64{}
			for _, b := range []string{"mast", "Mosquitto"} {
				var xs []float64
				for _, r := range results[s.name][b] {
					if v, ok := m.value(r); ok {
						xs = append(xs, v)
					}
				}
				med[b] = "–"
				if len(xs) > 0 {
					val[b] = median(xs)
					med[b] = format(val[b])
				}
			}
			ratio := "–"
			if mv, ok1 := val["mast"]; ok1 {
				if qv, ok2 := val["Mosquitto"]; ok2 && qv != 0 {
					ratio = fmt.Sprintf("%.2f", mv/qv)
				}
			}
			arrow := "↑"
			if m.better == "lower" {
				arrow = "↓"
			}
			fmt.Fprintf(bw, "| %s | %s %s | %s | %s | %s |\n", title, m.name, arrow, med["mast"], med["Mosquitto"], ratio)
			title = ""
		}
	}
	fmt.Fprintln(bw, "\n↑ higher is better, ↓ lower is better. CPU is the broker's utime+stime from /proc/PID/stat over the measured phase; RSS is VmRSS.")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func mosquittoVersion(bin string) string {
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	first, _, _ := strings.Cut(string(out), "\n")
	if strings.HasPrefix(first, "mosquitto version") {
		return "Mosquitto " + strings.TrimPrefix(first, "mosquitto version ")
	}
	return "Mosquitto"
}

// loadAverage is the 1-minute load average: other work on the machine
// skews the figures.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

func logf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s "+f+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}
