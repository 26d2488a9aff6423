package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mastmq/mast/admin"
	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/listener"
	"github.com/mastmq/mast/metrics"
	"github.com/mastmq/mast/packet"
)

// The npm packages the tests use, pinned so that a run is repeatable;
// bump them here.
var npmPackages = []string{"mqtt@5.16.0", "playwright-core@1.65.1"}

// testTimeout bounds each test, install included.
const testTimeout = 55 * time.Second

var (
	npmOnce sync.Once
	npmErr  error
)

// needNode installs the npm packages into testdata/node_modules (kept
// between runs, ignored by git and by the go tool) unless they are there
// at the pinned versions. A missing node or npm fails the test.
func needNode(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: run scripts/install-test-deps.sh", tool)
		}
	}
	npmOnce.Do(func() {
		if installed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		args := append([]string{"install", "--no-save", "--no-audit", "--no-fund", "--no-package-lock", "--prefix", "testdata"}, npmPackages...)
		out, err := exec.CommandContext(ctx, "npm", args...).CombinedOutput()
		if err != nil {
			npmErr = fmt.Errorf("npm %s: %v\n%s", strings.Join(args, " "), err, out)
		} else if !installed() {
			npmErr = fmt.Errorf("npm install ran but %v are not in testdata/node_modules:\n%s", npmPackages, out)
		}
	})
	if npmErr != nil {
		t.Fatal(npmErr)
	}
}

func installed() bool {
	for _, p := range npmPackages {
		name, version, _ := strings.Cut(p, "@")
		raw, err := os.ReadFile(filepath.Join("testdata", "node_modules", name, "package.json"))
		if err != nil {
			return false
		}
		var pj struct{ Version string }
		if json.Unmarshal(raw, &pj) != nil || pj.Version != version {
			return false
		}
	}
	return true
}

func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		t.Fatal("/usr/bin/chromium is missing: run scripts/install-test-deps.sh (Debian package chromium)")
	}
}

// stack is a broker with a TCP and a WebSocket listener and the admin
// handler, all on 127.0.0.1 port 0.
type stack struct {
	srv     *broker.Server
	tcp     string // host:port
	ws      string // host:port
	wsURL   string // ws://host:port/mqtt
	adminHS *httptest.Server
}

func startStack(t *testing.T, opts admin.Options) *stack {
	t.Helper()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ws := listener.NewWebSocketListener(inner, "/mqtt", listener.WebSocketOptions{})
	m := metrics.New()
	srv := broker.New(broker.Options{Observer: m, SysInterval: -1, Version: "mast web-test"})
	m.Attach(srv)
	go srv.Serve(tcp)
	go srv.Serve(ws)
	s := &stack{srv: srv, tcp: tcp.Addr().String(), ws: ws.Addr().String()}
	s.wsURL = "ws://" + s.ws + "/mqtt"
	opts.WebSocketURL = s.wsURL
	s.adminHS = httptest.NewServer(admin.New(srv, m, opts))
	t.Cleanup(func() {
		s.adminHS.CloseClientConnections()
		s.adminHS.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return s
}

// tcpClient is an MQTT 3.1.1 client over TCP built from package packet.
type tcpClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
	mu sync.Mutex // writes
}

func (s *stack) connect(t *testing.T, id string) *tcpClient {
	t.Helper()
	nc, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &tcpClient{t: t, nc: nc, br: bufio.NewReader(nc)}
	c.send(&packet.Connect{ProtocolName: "MQTT", Version: 4, ClientID: id, CleanStart: true, KeepAlive: 60})
	if ack, ok := c.read(5 * time.Second).(*packet.Connack); !ok || ack.ReasonCode != 0 {
		t.Fatalf("%s: CONNACK %+v", id, ack)
	}
	return c
}

func (c *tcpClient) send(p packet.Packet) error {
	b, err := packet.Append(nil, 4, p)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err = c.nc.Write(b)
	return err
}

func (c *tcpClient) read(d time.Duration) packet.Packet {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(d))
	p, err := packet.Read(c.br, 4, 0)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

func (c *tcpClient) subscribe(filter string) {
	c.t.Helper()
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: 1}}})
	if _, ok := c.read(5 * time.Second).(*packet.Suback); !ok {
		c.t.Fatal("want SUBACK")
	}
}

func (c *tcpClient) publish(topic, payload string, retain bool) {
	c.t.Helper()
	if err := c.send(&packet.Publish{Topic: topic, Payload: []byte(payload), Retain: retain}); err != nil {
		c.t.Fatal(err)
	}
}

// expect reads PUBLISH packets until one on topic arrives and returns its
// payload, acknowledging QoS 1 on the way.
func (c *tcpClient) expect(topic string) string {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := c.read(time.Until(deadline))
		pub, ok := p.(*packet.Publish)
		if !ok {
			continue
		}
		if pub.QoS == 1 {
			c.send(&packet.Ack{Kind: packet.PUBACK, PacketID: pub.PacketID})
		}
		if pub.Topic == topic {
			return string(pub.Payload)
		}
	}
}

// expectClosed waits for the broker to close the connection.
func (c *tcpClient) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, err := packet.Read(c.br, 4, 0); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatal("connection still open")
			}
			return
		}
	}
}

// script runs a Node or Python script from testdata, calling onLine for
// each line it prints, and returns the JSON after its "RESULT " line. A
// non-zero exit fails the test with what the script wrote to stderr.
func script(t *testing.T, ctx context.Context, onLine func(string), name string, args ...string) string {
	t.Helper()
	var cmd *exec.Cmd
	if strings.HasSuffix(name, ".py") {
		cmd = exec.CommandContext(ctx, "/usr/bin/python3", append([]string{name}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, "node", append([]string{name}, args...)...)
	}
	cmd.Dir = "testdata"
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var result string
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		t.Logf("%s: %s", name, line)
		if r, ok := strings.CutPrefix(line, "RESULT "); ok {
			result = r
		}
		if onLine != nil {
			onLine(line)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, stderr.String())
	}
	if result == "" {
		t.Fatalf("%s printed no RESULT\n%s", name, stderr.String())
	}
	return result
}

// artifactDir is where screenshots go: $MAST_TEST_ARTIFACTS, or a
// temporary directory of the test.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("MAST_TEST_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		abs, _ := filepath.Abs(d)
		return abs
	}
	return t.TempDir()
}
