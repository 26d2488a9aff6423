package cluster_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var mastBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mast-cluster-")
	if err != nil {
		panic(err)
	}
	mastBin = filepath.Join(dir, "mast")
	if bin := os.Getenv("MAST_CLUSTER_BIN"); bin != "" {
		mastBin = bin // a binary built elsewhere, e.g. from another revision
	} else {
		out, err := exec.Command("go", "build", "-o", mastBin, "github.com/mastmq/mast/cmd/mast").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building mast: %v\n%s", err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a TCP port that was free on host a moment ago.
func freePort(t testing.TB, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// nodeSpec says where one node listens; the zero value is a node on
// 127.0.0.1 in the test's own network namespace.
type nodeSpec struct {
	mqttHost    string // default 127.0.0.1
	clusterHost string // default 127.0.0.1
	netns       string // run the process in this network namespace
	extra       string // YAML appended to the configuration
}

// node is one `mast serve` process, which may be stopped and started
// again with the same configuration and data directory.
type node struct {
	name    string
	mqtt    string // host:port of its MQTT listener
	cluster string // host:port of its NATS routes
	dir     string // data directory
	cfg     string // configuration file
	log     string // the process's stdout and stderr, all runs appended
	netns   string

	mu        sync.Mutex
	cmd       *exec.Cmd
	exited    chan struct{} // closed when the current run has ended
	listening chan struct{} // closed when the current run listens for MQTT
	runs      int
}

// startCluster writes a configuration for each spec, every node naming
// all the others as routes, starts them all and waits until each accepts
// MQTT connections and a message published on any node reaches a
// subscriber on every other one. The processes are killed at the end of
// the test, and their consoles printed if it failed.
func startCluster(t *testing.T, specs ...nodeSpec) []*node {
	t.Helper()
	base := t.TempDir()
	nodes := make([]*node, len(specs))
	var routes []string
	for i, s := range specs {
		if s.mqttHost == "" {
			s.mqttHost = "127.0.0.1"
		}
		if s.clusterHost == "" {
			s.clusterHost = "127.0.0.1"
		}
		// A host in another namespace cannot be bound here to probe
		// for a free port; that namespace is new and has every port free.
		mp, cp := portFor(t, s.mqttHost, s.netns), portFor(t, s.clusterHost, s.netns)
		name := fmt.Sprintf("node%d", i+1)
		nodes[i] = &node{
			name:    name,
			mqtt:    net.JoinHostPort(s.mqttHost, strconv.Itoa(mp)),
			cluster: net.JoinHostPort(s.clusterHost, strconv.Itoa(cp)),
			dir:     filepath.Join(base, name),
			cfg:     filepath.Join(base, name+".yaml"),
			log:     filepath.Join(base, name+".log"),
			netns:   s.netns,
		}
		routes = append(routes, "nats-route://"+nodes[i].cluster)
	}
	for i, n := range nodes {
		cfg := fmt.Sprintf(`listeners:
  - address: %s
persistence:
  data_dir: %s
sys_interval: 0
limits:
  max_queued_messages: 100000
cluster:
  name: %s
  listen: %s
  routes: [%s]
  jetstream: true
  replicas: 3
  secret: test-cluster-secret
%s`, n.mqtt, n.dir, n.name, n.cluster, strings.Join(routes, ", "), specs[i].extra)
		if err := os.WriteFile(n.cfg, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Cleanups run last first: the processes end before their consoles
	// are printed.
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range nodes {
				n.printLog(t)
			}
		}
	})
	t.Cleanup(func() {
		for _, n := range nodes {
			n.kill(t)
		}
	})
	// All at once, as a cluster is started: a node may wait for the
	// others before it listens.
	for _, n := range nodes {
		n.launch(t)
	}
	for _, n := range nodes {
		n.awaitListening(t)
	}
	waitMesh(t, nodes...)
	return nodes
}

func portFor(t testing.TB, host, netns string) int {
	if netns != "" {
		return freePort(t, "127.0.0.1")
	}
	return freePort(t, host)
}

// start runs the node and waits for its listening line.
func (n *node) start(t testing.TB) {
	t.Helper()
	n.launch(t)
	n.awaitListening(t)
}

// launch starts the process.
func (n *node) launch(t testing.TB) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		t.Fatalf("%s: already running", n.name)
	}
	n.runs++
	f, err := os.OpenFile(n.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "=== %s run %d\n", n.name, n.runs)
	args := []string{"serve", "-c", n.cfg}
	cmd := exec.Command(mastBin, args...)
	if n.netns != "" {
		// ip netns exec execs the program: the pid is mast's own.
		cmd = exec.Command("ip", append([]string{"netns", "exec", n.netns, mastBin}, args...)...)
	}
	w := &lineWatch{want: "listening on ", seen: make(chan struct{})}
	cmd.Stdout = f
	cmd.Stderr = io.MultiWriter(f, w)
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("%s: %v", n.name, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		f.Close()
		close(exited)
	}()
	n.cmd, n.exited, n.listening = cmd, exited, w.seen
}

// awaitListening waits for the listening line of the current run.
func (n *node) awaitListening(t testing.TB) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		t.Fatalf("%s: not running", n.name)
	}
	select {
	case <-n.listening:
	case <-n.exited:
		state := n.cmd.ProcessState
		n.cmd = nil
		t.Fatalf("%s exited before listening: %v; its console ends with:\n%s", n.name, state, n.tail(5))
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not listen within 20s; its console ends with:\n%s", n.name, n.tail(5))
	}
}

// signal sends sig and waits for the process to end (SIGKILL after 15s).
// It returns how long the process took to end.
func (n *node) signal(t testing.TB, sig syscall.Signal) time.Duration {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return 0
	}
	start := time.Now()
	n.cmd.Process.Signal(sig)
	select {
	case <-n.exited:
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not end within 15s of %v; killing it", n.name, sig)
		n.cmd.Process.Kill()
		<-n.exited
	}
	n.cmd = nil
	return time.Since(start)
}

func (n *node) kill(t testing.TB) { n.signal(t, syscall.SIGKILL) }

// restart stops the node with SIGTERM, starts it again on the same
// configuration and data directory, and waits until it is part of the
// cluster again.
func (n *node) restart(t testing.TB, all []*node) {
	t.Helper()
	took := n.signal(t, syscall.SIGTERM)
	start := time.Now()
	n.start(t)
	waitMesh(t, all...)
	t.Logf("%s: stopped in %v (SIGTERM), back in the cluster %v after starting", n.name, took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// logContains reports whether the node's console of its current run
// holds s.
func (n *node) logContains(s string) bool {
	b, _ := os.ReadFile(n.log)
	if i := bytes.LastIndex(b, []byte("=== "+n.name+" run ")); i >= 0 {
		b = b[i:]
	}
	return bytes.Contains(b, []byte(s))
}

// tail is the last lines of the node's console.
func (n *node) tail(lines int) string {
	b, _ := os.ReadFile(n.log)
	l := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}

// printLog logs the end of the node's console.
func (n *node) printLog(t testing.TB) {
	const keep = 300
	b, err := os.ReadFile(n.log)
	if err != nil {
		t.Logf("%s: no console: %v", n.name, err)
		return
	}
	total := strings.Count(string(b), "\n")
	cut := ""
	if total > keep {
		cut = fmt.Sprintf(" (last %d of %d lines)", keep, total)
	}
	t.Logf("--- %s console%s, %s:\n%s", n.name, cut, n.log, n.tail(keep))
}

// lineWatch closes seen at the first line holding want.
type lineWatch struct {
	want string
	seen chan struct{}
	buf  []byte
	done bool
}

func (w *lineWatch) Write(p []byte) (int, error) {
	if w.done {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := w.buf[:i]
		w.buf = w.buf[i+1:]
		if bytes.Contains(line, []byte(w.want)) {
			w.done = true
			w.buf = nil
			close(w.seen)
			return len(p), nil
		}
	}
}
