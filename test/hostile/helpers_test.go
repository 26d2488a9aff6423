package hostile_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

// Protocol levels as CONNECT carries them.
const (
	v311 = packet.Version311
	v5   = packet.Version5
)

// waitTimeout bounds every wait for something the broker should do. It is
// long enough for a loaded 2-core machine running -race and short enough
// that a hang fails the test rather than the package timeout.
const waitTimeout = 10 * time.Second

const mib = 1 << 20

// testBroker is an in-process broker on 127.0.0.1 port 0 whose log lines
// are counted.
type testBroker struct {
	srv  *broker.Server
	addr string
	logs *logCounter
}

// startBroker runs a broker with $SYS off unless opts turns it on, and shuts
// it down when the test ends.
func startBroker(t testing.TB, opts broker.Options) *testBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.SysInterval == 0 {
		opts.SysInterval = -1
	}
	logs := newLogCounter()
	opts.Logger = slog.New(logs)
	srv := broker.New(opts)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("broker shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, broker.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return &testBroker{srv: srv, addr: ln.Addr().String(), logs: logs}
}

// waitStats waits until cond holds for the broker's counters and returns
// them. The broker has no notification for its counters, so this polls.
func (b *testBroker) waitStats(t testing.TB, what string, cond func(broker.Stats) bool) broker.Stats {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		st := b.srv.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: still not %s; stats: %+v", waitTimeout, what, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logCounter is a slog.Handler that counts the broker's lines at Info and
// above by message, and signals every new line.
type logCounter struct {
	mu      sync.Mutex
	counts  map[string]int
	changed chan struct{} // closed and replaced on every line
}

func newLogCounter() *logCounter {
	return &logCounter{counts: make(map[string]int), changed: make(chan struct{})}
}

func (l *logCounter) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }

func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[r.Message]++
	close(l.changed)
	l.changed = make(chan struct{})
	return nil
}

func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCounter) WithGroup(string) slog.Handler      { return l }

// count returns how many lines containing substr were logged, and a
// channel closed at the next line.
func (l *logCounter) count(substr string) (int, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for msg, k := range l.counts {
		if strings.Contains(msg, substr) {
			n += k
		}
	}
	return n, l.changed
}

// waitCount waits until at least n lines containing substr were logged and
// returns the count.
func (l *logCounter) waitCount(t testing.TB, substr string, n int) int {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		got, changed := l.count(substr)
		if got >= n {
			return got
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("%d log lines containing %q after %v, want %d", got, substr, waitTimeout, n)
		}
	}
}

// client is one raw TCP connection speaking MQTT. Packets are encoded with
// package packet; attacks write hand-made bytes with sendRaw.
type client struct {
	t    testing.TB
	name string
	nc   net.Conn
	rd   packet.Reader
}

var clientSeq atomic.Int64

// uniqueID returns a client id not used before in this process.
func uniqueID(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, clientSeq.Add(1))
}

// dial opens a connection without sending anything; it is closed when the
// test ends.
func dial(t testing.TB, addr, name string) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatalf("%s: dial: %v", name, err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, name: name, nc: nc}
	c.rd.R = bufio.NewReader(nc)
	return c
}

// connect sends CONNECT (clean session) and fails the test unless CONNACK
// accepts it.
func (c *client) connect(version byte, keepAlive uint16) *packet.Connack {
	c.t.Helper()
	ack, err := c.tryConnect(&packet.Connect{Version: version, CleanStart: true, ClientID: c.name, KeepAlive: keepAlive})
	if err != nil {
		c.t.Fatalf("%s: CONNECT: %v", c.name, err)
	}
	return ack
}

// tryConnect sends cp and returns the CONNACK, or an error when the broker
// refuses (a CONNACK with a failure code, or a closed connection).
func (c *client) tryConnect(cp *packet.Connect) (*packet.Connack, error) {
	if err := c.write(cp); err != nil {
		return nil, err
	}
	c.rd.Version = cp.Version
	p, err := c.next(waitTimeout)
	if err != nil {
		return nil, err
	}
	ack, ok := p.(*packet.Connack)
	if !ok {
		return nil, fmt.Errorf("got %v, want CONNACK", p.Type())
	}
	if ack.ReasonCode != 0 {
		return ack, fmt.Errorf("CONNACK reason 0x%02X", ack.ReasonCode)
	}
	return ack, nil
}

// write encodes and writes one packet.
func (c *client) write(p packet.Packet) error {
	b, err := packet.Append(nil, c.version(p), p)
	if err != nil {
		return fmt.Errorf("encoding %v: %w", p.Type(), err)
	}
	c.nc.SetWriteDeadline(time.Now().Add(waitTimeout))
	_, err = c.nc.Write(b)
	return err
}

func (c *client) version(p packet.Packet) byte {
	if cp, ok := p.(*packet.Connect); ok {
		return cp.Version
	}
	return c.rd.Version
}

// send writes one packet or fails the test.
func (c *client) send(p packet.Packet) {
	c.t.Helper()
	if err := c.write(p); err != nil {
		c.t.Fatalf("%s: sending %v: %v", c.name, p.Type(), err)
	}
}

// sendRaw writes bytes as they are.
func (c *client) sendRaw(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(waitTimeout))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

// next reads one packet, waiting at most d. A PUBLISH is copied, since the
// reader reuses its value.
func (c *client) next(d time.Duration) (packet.Packet, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	p, err := c.rd.Read()
	if pub, ok := p.(*packet.Publish); ok {
		cp := *pub
		p = &cp
	}
	return p, err
}

// read reads one packet or fails the test.
func (c *client) read() packet.Packet {
	c.t.Helper()
	p, err := c.next(waitTimeout)
	if err != nil {
		c.t.Fatalf("%s: waiting for a packet: %v", c.name, err)
	}
	return p
}

// subscribe subscribes to filters at qos and returns the SUBACK codes.
func (c *client) subscribe(pid uint16, qos byte, filters ...string) []byte {
	c.t.Helper()
	sp := &packet.Subscribe{PacketID: pid}
	for _, f := range filters {
		sp.Subscriptions = append(sp.Subscriptions, packet.Subscription{Filter: f, QoS: qos})
	}
	c.send(sp)
	p := c.read()
	ack, ok := p.(*packet.Suback)
	if !ok || ack.PacketID != pid || len(ack.ReasonCodes) != len(filters) {
		c.t.Fatalf("%s: got %v %+v, want SUBACK %d with %d codes", c.name, p.Type(), p, pid, len(filters))
	}
	return ack.ReasonCodes
}

// publish sends one PUBLISH.
func (c *client) publish(topic string, payload []byte, qos byte, pid uint16) {
	c.t.Helper()
	c.send(&packet.Publish{Topic: topic, Payload: payload, QoS: qos, PacketID: pid})
}

// waitClosed reads until the broker closes the connection and returns the
// packets it sent first; it fails the test if the connection is still
// open after d.
func (c *client) waitClosed(d time.Duration) []packet.Packet {
	c.t.Helper()
	var got []packet.Packet
	deadline := time.Now().Add(d)
	for {
		p, err := c.next(time.Until(deadline))
		if err != nil {
			if !isClosed(err) {
				c.t.Fatalf("%s: connection not closed by the broker: %v (packets before: %d)", c.name, err, len(got))
			}
			return got
		}
		got = append(got, p)
	}
}

// isClosed reports whether err means the peer closed or reset the
// connection (rather than a timeout).
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// probe checks that the broker still serves a fresh client: CONNECT,
// SUBSCRIBE, and a QoS 1 PUBLISH that comes back to it with its PUBACK. A
// connection closed before CONNACK (refused at admission by a limit that
// time lifts: a rate bucket refilling, a socket not yet cleaned up) is
// retried until waitTimeout.
func probe(t testing.TB, b *testBroker) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	var c *client
	for {
		c = dial(t, b.addr, uniqueID("probe"))
		_, err := c.tryConnect(&packet.Connect{Version: v311, CleanStart: true, ClientID: c.name, KeepAlive: 30})
		if err == nil {
			break
		}
		c.nc.Close()
		if !isClosed(err) || time.Now().After(deadline) {
			t.Fatalf("probe: CONNECT: %v", err)
		}
		// Nothing to wait on for a limit that time lifts.
		time.Sleep(10 * time.Millisecond)
	}
	defer c.nc.Close()
	topic := "probe/" + c.name
	if codes := c.subscribe(1, 1, topic); codes[0] != 1 {
		t.Fatalf("probe: SUBACK code 0x%02X, want 1", codes[0])
	}
	payload := []byte("ping " + c.name)
	c.publish(topic, payload, 1, 2)
	gotAck, gotMsg := false, false
	for !gotAck || !gotMsg {
		switch p := c.read().(type) {
		case *packet.Ack:
			if p.Kind != packet.PUBACK || p.PacketID != 2 {
				t.Fatalf("probe: got %v %d, want PUBACK 2", p.Kind, p.PacketID)
			}
			gotAck = true
		case *packet.Publish:
			if p.Topic != topic || string(p.Payload) != string(payload) || p.QoS != 1 {
				t.Fatalf("probe: got PUBLISH %q %q QoS %d, want %q %q QoS 1", p.Topic, p.Payload, p.QoS, topic, payload)
			}
			c.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
			gotMsg = true
		default:
			t.Fatalf("probe: unexpected %v", p.Type())
		}
	}
	c.send(&packet.Disconnect{})
}

// memWatch samples the process's heap while an attack runs. The heap holds
// the test's own clients too, so a bound on it is a bound on the broker
// plus its attackers. Sys grows only when the process needs more memory
// than it ever had, so after an earlier test has grown it, it reads +0:
// the sampled peak heap is the figure that always means something.
type memWatch struct {
	base runtime.MemStats
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

// watchMemory takes a baseline after a collection and samples HeapAlloc
// every 10 ms until finish.
func watchMemory() *memWatch {
	w := &memWatch{stop: make(chan struct{}), done: make(chan struct{})}
	runtime.GC()
	runtime.ReadMemStats(&w.base)
	w.peak.Store(w.base.HeapAlloc)
	go func() {
		defer close(w.done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > w.peak.Load() {
				w.peak.Store(m.HeapAlloc)
			}
		}
	}()
	return w
}

// memReport is the memory an attack cost, in bytes above the baseline.
type memReport struct {
	peakHeap int64 // highest HeapAlloc sampled (garbage included)
	retained int64 // HeapAlloc after a collection at the end
	sys      int64 // growth of the memory obtained from the OS
}

func (r memReport) String() string {
	return fmt.Sprintf("peak heap %+.1f MiB, retained after GC %+.1f MiB, Sys %+.1f MiB",
		float64(r.peakHeap)/mib, float64(r.retained)/mib, float64(r.sys)/mib)
}

// finish stops sampling and reports; the retained figure is taken while
// whatever the attack left (stuck clients, subscriptions) is still there.
func (w *memWatch) finish() memReport {
	close(w.stop)
	<-w.done
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	peak := max(w.peak.Load(), m.HeapAlloc)
	runtime.GC()
	runtime.ReadMemStats(&m)
	return memReport{
		peakHeap: int64(peak) - int64(w.base.HeapAlloc),
		retained: int64(m.HeapAlloc) - int64(w.base.HeapAlloc),
		sys:      int64(m.Sys) - int64(w.base.Sys),
	}
}

// retainedNow returns HeapAlloc after a collection, above the baseline.
func (w *memWatch) retainedNow() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc) - int64(w.base.HeapAlloc)
}

// check fails the test when the peak heap or the memory taken from the OS
// grew by more than bound, and logs the figures either way.
func (r memReport) check(t testing.TB, bound int64) {
	t.Helper()
	t.Logf("memory: %v (bound %+d MiB)", r, bound/mib)
	if r.peakHeap > bound || r.sys > bound || r.retained > bound {
		t.Errorf("memory grew past the bound of %d MiB: %v", bound/mib, r)
	}
}

// rawConnect is a 3.1.1 CONNECT written by hand: clean session, keep alive
// keepAlive seconds, client id id (shorter than 128 bytes).
func rawConnect(id string, keepAlive uint16) []byte {
	b := []byte{
		0x10, byte(12 + len(id)), // CONNECT, remaining length
		0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
		0x04,                                  // level 4: 3.1.1
		0x02,                                  // flags: clean session
		byte(keepAlive >> 8), byte(keepAlive), // keep alive
		0x00, byte(len(id)), // client id length
	}
	return append(b, id...)
}

// errUnexpectedBytes is what a test reports when a socket it expected the
// broker to close received data instead.
var errUnexpectedBytes = errors.New("received bytes, want the connection closed")

// waitIdle waits until no client is connected: the probes and attackers of
// earlier steps have all been detached.
func waitIdle(t testing.TB, b *testBroker) {
	t.Helper()
	b.waitStats(t, "without connected clients", func(st broker.Stats) bool { return st.ClientsConnected == 0 })
}
