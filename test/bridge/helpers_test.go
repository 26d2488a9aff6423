package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mastmq/mast/bridge"
	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/store"
)

// waitTimeout bounds every wait for something that should happen. It is
// long enough for a loaded 2-core machine running -race and short enough
// that a hang fails the test rather than the package timeout.
const waitTimeout = 10 * time.Second

const mosquittoPath = "/usr/sbin/mosquitto"

// console records log lines as they come, so that a test waits for the
// line saying something happened instead of sleeping.
type console struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced on every new line
}

func newConsole() *console { return &console{changed: make(chan struct{})} }

func (c *console) add(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, line)
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *console) snapshot() ([]string, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lines[:len(c.lines):len(c.lines)], c.changed
}

func (c *console) text() string {
	lines, _ := c.snapshot()
	return strings.Join(lines, "\n")
}

func (c *console) count(substr string) int {
	lines, _ := c.snapshot()
	n := 0
	for _, l := range lines {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// waitN waits until n lines contain substr and returns the nth.
func (c *console) waitN(t testing.TB, substr string, n int) string {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		lines, changed := c.snapshot()
		seen := 0
		for _, l := range lines {
			if strings.Contains(l, substr) {
				if seen++; seen == n {
					return l
				}
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("console: %d line(s) containing %q after %v, want %d; console:\n%s",
				seen, substr, waitTimeout, n, strings.Join(lines, "\n"))
		}
	}
}

// consoleHandler is a slog.Handler feeding a console: the message, then
// key=value for each attribute.
type consoleHandler struct {
	c     *console
	attrs []slog.Attr
}

func (h consoleHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h consoleHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.c.add(b.String())
	return nil
}

func (h consoleHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(h.attrs[:len(h.attrs):len(h.attrs)], as...)
	return h
}

func (h consoleHandler) WithGroup(string) slog.Handler { return h }

// testBroker is an in-process mast broker on 127.0.0.1 with its console
// captured. With a store it can be stopped and started again on the same
// address, keeping its sessions and retained messages.
type testBroker struct {
	t       testing.TB
	name    string
	opts    broker.Options
	addr    string
	console *console

	mu     sync.Mutex
	srv    *broker.Server
	served chan error
}

// startBroker runs a broker in this process; st, when not nil, keeps its
// state across restart. The broker is shut down when the test ends and
// its console is logged if the test failed.
func startBroker(t testing.TB, name string, st store.Store) *testBroker {
	t.Helper()
	con := newConsole()
	b := &testBroker{t: t, name: name, console: con, addr: "127.0.0.1:0"}
	b.opts = broker.Options{SysInterval: -1, Store: st, Logger: slog.New(consoleHandler{c: con})}
	b.start()
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			t.Logf("%s console:\n%s", name, con.text())
		}
	})
	return b
}

func (b *testBroker) server() *broker.Server {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.srv
}

// open makes the server without serving it: a restarted broker whose
// listener is not open yet, to which no client can connect.
func (b *testBroker) open() {
	b.t.Helper()
	srv, err := broker.Open(b.opts)
	if err != nil {
		b.t.Fatal(err)
	}
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
}

// listen opens the listener, on the address of the first start.
func (b *testBroker) listen() {
	b.t.Helper()
	var ln net.Listener
	var err error
	for try := 0; ; try++ {
		ln, err = net.Listen("tcp", b.addr)
		if err == nil || try == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond) // the old listener's port being released
	}
	if err != nil {
		b.t.Fatal(err)
	}
	b.addr = ln.Addr().String()
	served := make(chan error, 1)
	srv := b.server()
	go func() { served <- srv.Serve(ln) }()
	b.mu.Lock()
	b.served = served
	b.mu.Unlock()
}

func (b *testBroker) start() {
	b.t.Helper()
	b.open()
	b.listen()
}

// stop shuts the broker down; with a store it can start again.
func (b *testBroker) stop() {
	b.t.Helper()
	b.mu.Lock()
	srv, served := b.srv, b.served
	b.srv, b.served = nil, nil
	b.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		b.t.Errorf("%s shutdown: %v", b.name, err)
	}
	if served != nil {
		if err := <-served; !errors.Is(err, broker.ErrServerClosed) {
			b.t.Errorf("%s: Serve returned %v, want ErrServerClosed", b.name, err)
		}
	}
}

// startBridge starts bridges on b, logging to b's console, and stops them
// when the test ends, before the broker.
func startBridge(t testing.TB, b *testBroker, cfgs ...bridge.Config) func() {
	t.Helper()
	stop, err := bridge.Start(context.Background(), b.server(), cfgs, slog.New(consoleHandler{c: b.console}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return stop
}

// startMosquitto runs Debian's Mosquitto on a free loopback port and
// returns its address.
func startMosquitto(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(mosquittoPath); err != nil {
		t.Fatalf("mosquitto not installed (run scripts/install-test-deps.sh): %v", err)
	}
	for try := 0; ; try++ {
		port := freePort(t)
		dir := t.TempDir()
		conf := filepath.Join(dir, "mosquitto.conf")
		cfg := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\n", port)
		if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(mosquittoPath, "-c", conf)
		out := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exited:
				if try < 3 && strings.Contains(out.String(), "in use") {
					goto again
				}
				t.Fatalf("mosquitto exited: %s", out.String())
			default:
			}
			if nc, err := net.Dial("tcp", addr); err == nil {
				nc.Close()
				t.Cleanup(func() {
					cmd.Process.Kill()
					<-exited
					if t.Failed() {
						t.Logf("mosquitto output:\n%s", out.String())
					}
				})
				return addr
			}
			time.Sleep(10 * time.Millisecond)
		}
		cmd.Process.Kill()
		t.Fatalf("mosquitto did not start: %s", out.String())
	again:
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// recorder collects the messages a client receives.
type recorder struct {
	mu      sync.Mutex
	msgs    []*client.Message
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) handle(_ *client.Client, m *client.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	close(r.changed)
	r.changed = make(chan struct{})
}

// on returns the messages received on topic so far.
func (r *recorder) on(topic string) []*client.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*client.Message
	for _, m := range r.msgs {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// waitFor waits until a message on topic with payload has arrived and
// returns the messages on topic so far.
func (r *recorder) waitFor(t testing.TB, topic, payload string) []*client.Message {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		changed := r.changed
		r.mu.Unlock()
		got := r.on(topic)
		if slices.ContainsFunc(got, func(m *client.Message) bool { return string(m.Payload) == payload }) {
			return got
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("no message %q on %s after %v; got %s", payload, topic, waitTimeout, payloads(got))
		}
	}
}

func payloads(ms []*client.Message) string {
	var b strings.Builder
	b.WriteString("[")
	for i, m := range ms {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s(q%d,r%d)", m.Payload, m.QoS, b2i(m.Retain))
	}
	b.WriteString("]")
	return b.String()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// connect connects a test client (MQTT 5 unless opts says otherwise).
func connect(t testing.TB, addr string, opts client.Options) *client.Client {
	t.Helper()
	opts.Servers = []string{addr}
	c, err := client.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := c.Connect(ctx); err != nil {
		t.Fatalf("connect %s to %s: %v", opts.ClientID, addr, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		c.Disconnect(ctx)
	})
	return c
}

// subscriber connects a client subscribed to filter at QoS 2 with Retain
// As Published, so that the test sees the retain flag of live messages.
func subscriber(t testing.TB, addr, id, filter string) *recorder {
	t.Helper()
	rec := newRecorder()
	c := connect(t, addr, client.Options{ClientID: id, CleanStart: true})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := c.Subscribe(ctx, rec.handle, packet.Subscription{Filter: filter, QoS: 2, RetainAsPublished: true}); err != nil {
		t.Fatal(err)
	}
	return rec
}

func publish(t testing.TB, c *client.Client, topic, payload string, qos byte, retain bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.Publish(ctx, &client.Message{Topic: topic, Payload: []byte(payload), QoS: qos, Retain: retain}); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

func subscribe(t testing.TB, c *client.Client, filter string, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := c.Subscribe(ctx, nil, packet.Subscription{Filter: filter, QoS: qos}); err != nil {
		t.Fatal(err)
	}
}

func contains(s, substr string) bool { return strings.Contains(s, substr) }
