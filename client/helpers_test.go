package client_test

import (
	"bufio"
	"context"
	"fmt"
	"github.com/mastmq/mast/packet"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/client"
)

// startMast runs an in-process mast broker on 127.0.0.1 port 0 for the
// test's lifetime and returns its address.
func startMast(t testing.TB, opts broker.Options) string {
	t.Helper()
	addr, _ := startMastServer(t, opts)
	return addr
}

func startMastServer(t testing.TB, opts broker.Options) (string, *broker.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.SysInterval == 0 {
		opts.SysInterval = -1
	}
	srv := broker.New(opts)
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String(), srv
}

const mosquittoPath = "/usr/sbin/mosquitto"

// startMosquitto runs Debian's mosquitto on a free loopback port for the
// test's lifetime. It fails, never skips, when mosquitto is missing:
// scripts/install-test-deps.sh installs it.
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
		var out lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
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

// proxy is a TCP proxy between clients and a broker that the test can cut
// (close every connection) or stall (stop forwarding without closing).
type proxy struct {
	t       testing.TB
	ln      net.Listener
	target  string
	mu      sync.Mutex
	conns   []net.Conn
	stalled bool
	refuse  bool
	wg      sync.WaitGroup
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.refuse {
			p.mu.Unlock()
			in.Close()
			continue
		}
		p.mu.Unlock()
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			for {
				p.mu.Lock()
				stalled := p.stalled
				p.mu.Unlock()
				if !stalled {
					break
				}
				time.Sleep(5 * time.Millisecond)
				if p.isClosed(src) {
					return
				}
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				src.Close()
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *proxy) isClosed(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, x := range p.conns {
		if x == c {
			return false
		}
	}
	return true
}

// cut closes both sides of every connection through the proxy.
func (p *proxy) cut() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// stall stops (true) or resumes (false) forwarding bytes.
func (p *proxy) stall(on bool) {
	p.mu.Lock()
	p.stalled = on
	p.mu.Unlock()
}

// refuseNew makes the proxy close new connections at once.
func (p *proxy) refuseNew(on bool) {
	p.mu.Lock()
	p.refuse = on
	p.mu.Unlock()
}

// noLeak fails the test if goroutines started after it was called are still
// running when the returned function is called, after a grace period.
func noLeak(t testing.TB) func() {
	t.Helper()
	before := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		var n int
		for time.Now().Before(deadline) {
			if n = runtime.NumGoroutine(); n <= before {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf)
	}
}

// newClient makes a client for addr with opts, failing the test on error,
// and disconnects it when the test ends if it is still connected.
func newClient(t testing.TB, addr string, opts client.Options) *client.Client {
	t.Helper()
	if opts.Servers == nil {
		opts.Servers = []string{"mqtt://" + addr}
	}
	c, err := client.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Disconnect(ctx)
	})
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// recorder collects received messages.
type recorder struct {
	mu   sync.Mutex
	msgs []*client.Message
	ch   chan struct{}
}

func newRecorder() *recorder { return &recorder{ch: make(chan struct{}, 1)} }

func (r *recorder) handle(_ *client.Client, m *client.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	select {
	case r.ch <- struct{}{}:
	default:
	}
}

// wait waits until n messages have arrived and returns them all.
func (r *recorder) wait(t testing.TB, n int) []*client.Message {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		if len(r.msgs) >= n {
			out := append([]*client.Message(nil), r.msgs...)
			r.mu.Unlock()
			return out
		}
		got := len(r.msgs)
		r.mu.Unlock()
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("got %d messages, want %d", got, n)
		}
	}
}

func (r *recorder) all() []*client.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*client.Message(nil), r.msgs...)
}

var _ = io.EOF

// fakeServer is a scripted MQTT server: the test reads what the client
// sends and writes what the server answers, packet by packet.
type fakeServer struct {
	t     testing.TB
	ln    net.Listener
	conns chan *fakeConn
}

type fakeConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
	v  byte
}

func newFakeServer(t testing.TB) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{t: t, ln: ln, conns: make(chan *fakeConn, 16)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			f.conns <- &fakeConn{t: t, nc: nc, br: bufio.NewReader(nc)}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for {
			select {
			case fc := <-f.conns:
				fc.nc.Close()
			default:
				return
			}
		}
	})
	return f
}

func (f *fakeServer) addr() string { return f.ln.Addr().String() }

// accept waits for the next connection and reads its CONNECT.
func (f *fakeServer) accept() (*fakeConn, *packet.Connect) {
	f.t.Helper()
	select {
	case fc := <-f.conns:
		f.t.Cleanup(func() { fc.nc.Close() })
		p := fc.read()
		c, ok := p.(*packet.Connect)
		if !ok {
			f.t.Fatalf("first packet %v, want CONNECT", p.Type())
		}
		fc.v = c.Version
		return fc, c
	case <-time.After(10 * time.Second):
		f.t.Fatal("no connection")
	}
	return nil, nil
}

func (fc *fakeConn) read() packet.Packet {
	fc.t.Helper()
	fc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := packet.Read(fc.br, fc.v, 0)
	if err != nil {
		fc.t.Fatalf("fake server read: %v", err)
	}
	return p
}

// readErr reads a packet or returns the error (EOF when the client closed).
func (fc *fakeConn) readErr(d time.Duration) (packet.Packet, error) {
	fc.nc.SetReadDeadline(time.Now().Add(d))
	return packet.Read(fc.br, fc.v, 0)
}

func (fc *fakeConn) send(p packet.Packet) {
	fc.t.Helper()
	b, err := packet.Append(nil, fc.v, p)
	if err != nil {
		fc.t.Fatal(err)
	}
	if _, err := fc.nc.Write(b); err != nil {
		fc.t.Fatalf("fake server write: %v", err)
	}
}

// expect reads the next packet, skipping PINGREQ, and fails unless it has
// type T.
func expect[T packet.Packet](fc *fakeConn) T {
	fc.t.Helper()
	for {
		p := fc.read()
		if _, ok := p.(*packet.Pingreq); ok {
			continue
		}
		x, ok := p.(T)
		if !ok {
			var zero T
			fc.t.Fatalf("got %v %+v, want %T", p.Type(), p, zero)
		}
		return x
	}
}

func testBrokerOpts() broker.Options { return broker.Options{} }
