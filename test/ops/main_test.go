package ops_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mastmq/mast/packet"
)

var mastBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mast-ops-")
	if err != nil {
		panic(err)
	}
	mastBin = filepath.Join(dir, "mast")
	out, err := exec.Command("go", "build", "-o", mastBin, "github.com/mastmq/mast/cmd/mast").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building mast: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// waitTimeout bounds every wait for the broker.
const waitTimeout = 10 * time.Second

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func addrOf(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// mast runs `mast ARGS...` to completion (passwd, say).
func mast(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(mastBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("mast %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// proc is a running `mast serve` whose standard error the test reads line
// by line.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []string
	more   chan struct{} // closed when a line arrives or the process ends
	exited chan struct{}
	err    error // the exit status, once exited is closed
}

// startMast runs `mast serve ARGS...` and waits for its first "listening
// on" line. The process is stopped when the test ends, and its log shown
// if the test failed.
func startMast(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, cmd: exec.Command(mastBin, append([]string{"serve"}, args...)...),
		more: make(chan struct{}), exited: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.read(stderr)
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("mast serve %s log:\n%s", strings.Join(args, " "), strings.Join(p.log(0), "\n"))
		}
	})
	p.waitLog(0, "listening on")
	return p
}

func (p *proc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		p.mu.Lock()
		p.lines = append(p.lines, sc.Text())
		close(p.more)
		p.more = make(chan struct{})
		p.mu.Unlock()
	}
	err := p.cmd.Wait()
	p.mu.Lock()
	p.err = err
	close(p.exited)
	close(p.more)
	p.more = make(chan struct{})
	p.mu.Unlock()
}

// mark is the number of lines logged so far: waitLog(mark, ...) looks at
// what comes after.
func (p *proc) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

func (p *proc) log(from int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines[min(from, len(p.lines)):]...)
}

// waitLog waits for a line at index from or later that contains one of
// wants, and returns it with the index after it.
func (p *proc) waitLog(from int, wants ...string) (string, int) {
	p.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		if line, next, ok := p.find(from, wants...); ok {
			return line, next
		}
		p.mu.Lock()
		more := p.more
		p.mu.Unlock()
		select {
		case <-more:
		case <-p.exited:
			// Look once more at the last lines, then give up.
			if line, next, ok := p.find(from, wants...); ok {
				return line, next
			}
			p.t.Fatalf("mast exited (%v) before logging %q", p.err, wants)
		case <-deadline:
			p.t.Fatalf("mast did not log %q within %v", wants, waitTimeout)
		}
	}
}

func (p *proc) find(from int, wants ...string) (string, int, bool) {
	for i, l := range p.log(from) {
		for _, w := range wants {
			if strings.Contains(l, w) {
				return l, from + i + 1, true
			}
		}
	}
	return "", 0, false
}

// waitReady waits for GET /readyz on the admin listener to answer 200.
// mast catches SIGHUP only from just after that point: a SIGHUP between
// its "listening on" line and then takes the default action and ends the
// process (cmd/mast/serve_run.go calls signal.Notify in wait(), after the
// listeners and the HTTP listener are open). Tests that send SIGHUP wait
// for this first.
func (p *proc) waitReady(httpAddr string) {
	p.t.Helper()
	hc := &http.Client{Timeout: time.Second}
	for end := time.Now().Add(waitTimeout); ; time.Sleep(5 * time.Millisecond) {
		resp, err := hc.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(end) {
			p.t.Fatalf("GET /readyz: not ready within %v (%v)", waitTimeout, err)
		}
	}
}

func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// stop ends the process with SIGTERM (SIGKILL if it does not go within
// the wait bound) and waits for it.
func (p *proc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(waitTimeout):
		p.t.Errorf("mast did not stop within %v of SIGTERM; killing it", waitTimeout)
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// kill ends the process with SIGKILL, as a crash would.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// client is an MQTT client that speaks raw packets.
type client struct {
	t       *testing.T
	name    string
	nc      net.Conn
	br      *bufio.Reader
	version byte
}

// dialMQTT connects and sends cp, returning the CONNACK.
func dialMQTT(t *testing.T, addr string, version byte, cp *packet.Connect) (*client, *packet.Connack) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, name: cp.ClientID, nc: nc, br: bufio.NewReader(nc), version: version}
	cp.Version = version
	cp.ProtocolName = "MQTT"
	if cp.KeepAlive == 0 {
		cp.KeepAlive = 60
	}
	c.send(cp)
	ack, ok := c.read().(*packet.Connack)
	if !ok {
		t.Fatalf("%s: expected CONNACK", cp.ClientID)
	}
	return c, ack
}

// connect connects with a user name and password (none when user is
// empty) and fails the test unless the broker accepts.
func connect(t *testing.T, addr string, version byte, id, user, password string, clean bool) *client {
	t.Helper()
	cp := &packet.Connect{ClientID: id, CleanStart: clean}
	if user != "" {
		cp.Username, cp.UsernameFlag = user, true
		cp.Password, cp.PasswordFlag = []byte(password), true
	}
	c, ack := dialMQTT(t, addr, version, cp)
	if ack.ReasonCode != 0 {
		t.Fatalf("%s: CONNACK reason %#x", id, ack.ReasonCode)
	}
	return c
}

func (c *client) send(p packet.Packet) {
	c.t.Helper()
	b, err := packet.Append(nil, c.version, p)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

func (c *client) read() packet.Packet {
	c.t.Helper()
	p, err := c.readWithin(waitTimeout)
	if err != nil {
		c.t.Fatalf("%s: read: %v", c.name, err)
	}
	return p
}

func (c *client) readWithin(d time.Duration) (packet.Packet, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	return packet.Read(c.br, c.version, 0)
}

func (c *client) subscribe(pid uint16, filter string, qos byte) byte {
	c.t.Helper()
	c.send(&packet.Subscribe{PacketID: pid, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}})
	sa, ok := c.read().(*packet.Suback)
	if !ok || sa.PacketID != pid || len(sa.ReasonCodes) != 1 {
		c.t.Fatalf("%s: expected SUBACK %d, got %+v", c.name, pid, sa)
	}
	return sa.ReasonCodes[0]
}

// publish sends a QoS 1 PUBLISH and returns its PUBACK reason (always 0
// before MQTT 5).
func (c *client) publish(pid uint16, topic, payload string) byte {
	c.t.Helper()
	c.send(&packet.Publish{QoS: 1, PacketID: pid, Topic: topic, Payload: []byte(payload)})
	a, ok := c.read().(*packet.Ack)
	if !ok || a.Kind != packet.PUBACK || a.PacketID != pid {
		c.t.Fatalf("%s: expected PUBACK %d, got %+v", c.name, pid, a)
	}
	return a.ReasonCode
}

// readPublish reads the next PUBLISH and acknowledges it at QoS 1.
func (c *client) readPublish() *packet.Publish {
	c.t.Helper()
	p := c.read()
	pub, ok := p.(*packet.Publish)
	if !ok {
		c.t.Fatalf("%s: expected PUBLISH, got %T %+v", c.name, p, p)
	}
	if pub.QoS == 1 {
		c.send(&packet.Ack{Kind: packet.PUBACK, PacketID: pub.PacketID})
	}
	return pub
}

// alive checks that the connection is still up and that nothing but the
// PINGRESP is waiting on it: no DISCONNECT, no stray delivery.
func (c *client) alive() {
	c.t.Helper()
	c.send(&packet.Pingreq{})
	p, err := c.readWithin(waitTimeout)
	if err != nil {
		c.t.Fatalf("%s: connection lost: %v", c.name, err)
	}
	if _, ok := p.(*packet.Pingresp); !ok {
		c.t.Fatalf("%s: expected PINGRESP, got %T %+v", c.name, p, p)
	}
}

// expectClosed waits for the broker to close the connection and returns
// what it sent first.
func (c *client) expectClosed() []packet.Packet {
	c.t.Helper()
	var got []packet.Packet
	for {
		p, err := c.readWithin(waitTimeout)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatalf("%s: connection not closed; got %v", c.name, got)
			}
			return got
		}
		got = append(got, p)
	}
}

// httpDo sends a request to the admin API and returns the status and
// body.
func httpDo(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: waitTimeout}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
