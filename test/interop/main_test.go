package interop_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
)

// waitTimeout bounds every wait for something a peer or the broker should
// do. It is long enough for a loaded 2-core machine running -race and short
// enough that a hang fails the test rather than the package timeout.
const waitTimeout = 10 * time.Second

// mastBin is the real binary, built once by TestMain.
var mastBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mast-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		os.Exit(1)
	}
	mastBin = filepath.Join(dir, "mast")
	args := []string{"build", "-o", mastBin}
	if raceEnabled {
		// The binary under test gets the race detector too, so a race in
		// a code path only the real process takes (signals, flags, the
		// console) fails the test that drove it.
		args = append(args, "-race")
	}
	args = append(args, "github.com/mastmq/mast/cmd/mast")
	// "go test" puts its own GOROOT/bin first on PATH, so this is the same
	// toolchain that built the tests.
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "interop: building mast: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// console records a broker's log lines as they come, so that a test waits
// for the line saying something happened instead of sleeping.
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

// waitFor waits for a line containing substr and returns it.
func (c *console) waitFor(t testing.TB, substr string) string {
	t.Helper()
	return c.waitN(t, substr, 1)
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
			t.Fatalf("broker console: %d line(s) containing %q after %v, want %d; console:\n%s",
				seen, substr, waitTimeout, n, strings.Join(lines, "\n"))
		}
	}
}

// has reports whether a line already seen contains substr.
func (c *console) has(substr string) bool {
	lines, _ := c.snapshot()
	for _, l := range lines {
		if strings.Contains(l, substr) {
			return true
		}
	}
	return false
}

// consoleHandler is a slog.Handler feeding a console: the message, then
// key=value for each attribute, as the binary's console prints them.
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

// testBroker is an in-process broker on 127.0.0.1 port 0 with its verbose
// console captured.
type testBroker struct {
	srv     *broker.Server
	addr    string // host:port to dial
	console *console
}

func (b *testBroker) host() string { h, _, _ := net.SplitHostPort(b.addr); return h }
func (b *testBroker) port() string { _, p, _ := net.SplitHostPort(b.addr); return p }

// startBroker runs a broker in this process. $SYS is off unless opts turns
// it on; the console is verbose. The broker is shut down when the test ends
// and its console is logged if the test failed.
func startBroker(t testing.TB, opts broker.Options) *testBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.SysInterval == 0 {
		opts.SysInterval = -1
	}
	con := newConsole()
	opts.Verbose = true
	opts.Logger = slog.New(consoleHandler{c: con})
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
		if t.Failed() {
			t.Logf("broker console:\n%s", con.text())
		}
	})
	return &testBroker{srv: srv, addr: ln.Addr().String(), console: con}
}

// mastProc is the real mast binary running "serve -v" on 127.0.0.1 with a
// port the kernel picked; its stderr (the console) is captured line by line.
type mastProc struct {
	cmd     *exec.Cmd
	addr    string
	console *console
	done    chan struct{} // closed once the process has exited and been waited for
}

func (m *mastProc) host() string { h, _, _ := net.SplitHostPort(m.addr); return h }
func (m *mastProc) port() string { _, p, _ := net.SplitHostPort(m.addr); return p }

// startMast starts the binary and returns once it logs "listening on". When
// the test ends the process gets SIGINT and must exit.
func startMast(t testing.TB, extra ...string) *mastProc {
	t.Helper()
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "-v"}, extra...)
	cmd := exec.Command(mastBin, args...)
	// Run it in a directory of its own so that anything it keeps by
	// default (its data directory) starts empty and is removed after.
	cmd.Dir = t.TempDir()
	// A race-enabled binary sleeps a second before exiting by default;
	// reports are printed when found, so that wait buys nothing here.
	cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr // one console, as a person sees it in a terminal
	m := &mastProc{cmd: cmd, console: newConsole(), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", mastBin, err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			m.console.add(sc.Text())
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait() // the exit status is read from cmd.ProcessState
		close(m.done)
	}()
	t.Cleanup(func() {
		select {
		case <-m.done:
		default:
			cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-m.done:
			case <-time.After(waitTimeout):
				cmd.Process.Kill()
				<-m.done
				t.Errorf("mast did not exit within %v of SIGINT", waitTimeout)
			}
		}
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("mast exited with status %d, want 0", code)
		}
		if m.console.has("WARNING: DATA RACE") {
			t.Errorf("the mast binary reported a data race")
		}
		if t.Failed() {
			t.Logf("mast console:\n%s", m.console.text())
		}
	})
	line := m.console.waitFor(t, "listening on tcp ")
	_, after, _ := strings.Cut(line, "listening on tcp ")
	m.addr = strings.Fields(after)[0]
	if _, _, err := net.SplitHostPort(m.addr); err != nil {
		t.Fatalf("cannot read the address from %q: %v", line, err)
	}
	return m
}

// wait waits for the process to exit and returns its exit code.
func (m *mastProc) wait(t testing.TB) int {
	t.Helper()
	select {
	case <-m.done:
	case <-time.After(waitTimeout):
		t.Fatalf("mast still running %v later", waitTimeout)
	}
	return m.cmd.ProcessState.ExitCode()
}

// syncBuffer is a bytes.Buffer that a process writes while a test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is an external peer: mosquitto_sub, mosquitto_pub, python3.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{}
	err            error
}

// tool finds an external peer on PATH or fails the test: a missing peer is
// an install problem to fix, never a reason to skip.
func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run scripts/install-test-deps.sh (make deps): %v", name, err)
	}
	return p
}

// python is Debian's interpreter, the one python3-paho-mqtt installs into;
// the python3 first on PATH may be another one without paho.
const python = "/usr/bin/python3"

func requirePythonPaho(t testing.TB) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import paho.mqtt.client").CombinedOutput()
	if err != nil {
		t.Fatalf("%s cannot import paho.mqtt.client: run scripts/install-test-deps.sh (make deps): %v\n%s", python, err, out)
	}
}

// start runs an external program; it is killed if still running when the
// test ends.
func start(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	return startInput(t, "", name, args...)
}

// startInput is start with stdin read from a string.
func startInput(t testing.TB, stdin, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	return startCmd(t, cmd)
}

// startCmd starts a prepared command, capturing its output.
func startCmd(t testing.TB, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: filepath.Base(cmd.Path), cmd: cmd, done: make(chan struct{})}
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", p.name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the program to exit 0 and returns what it printed on
// stdout; anything else fails the test with both outputs.
func (p *proc) wait(t testing.TB) string {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(waitTimeout):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s %q still running after %v; stdout:\n%s\nstderr:\n%s",
			p.name, p.cmd.Args[1:], waitTimeout, p.stdout.String(), p.stderr.String())
	}
	if p.err != nil {
		t.Fatalf("%s %q: %v; stdout:\n%s\nstderr:\n%s",
			p.name, p.cmd.Args[1:], p.err, p.stdout.String(), p.stderr.String())
	}
	return p.stdout.String()
}

// run runs an external program to completion, as start then wait.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	return start(t, name, args...).wait(t)
}
