package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
)

// mastBin is the mast binary, built once by TestMain for the tests that
// run mast pub / mast sub beside mosquitto_pub / mosquitto_sub.
var mastBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mast-cmd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mastBin = filepath.Join(dir, "mast")
	if out, err := exec.Command("go", "build", "-o", mastBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building mast: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cliBroker runs an in-process mast broker on 127.0.0.1 port 0.
func cliBroker(t *testing.T) (*broker.Server, string) {
	t.Helper()
	srv := broker.New(broker.Options{SysInterval: -1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return srv, port
}

// cliMosquitto runs Debian's mosquitto with conf (a listener line is
// added) and returns its port. Missing mosquitto fails the test.
func cliMosquitto(t *testing.T, conf string) string {
	t.Helper()
	const bin = "/usr/sbin/mosquitto"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("mosquitto not installed (run scripts/install-test-deps.sh): %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	path := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(path, []byte("listener "+port+" 127.0.0.1\n"+conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", path)
	logPath := filepath.Join(filepath.Dir(path), "mosquitto.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if nc, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			nc.Close()
			return port
		}
	}
	out, _ := os.ReadFile(logPath)
	t.Fatalf("mosquitto did not start: %s", out)
	return ""
}

// result is what a command did.
type result struct {
	code           int
	stdout, stderr string
}

// runIn runs mast in-process.
func runIn(args ...string) result {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return result{code, out.String(), errb.String()}
}

// proc is a command running in the background.
type proc struct {
	cmd         *exec.Cmd
	out, errout bytes.Buffer
	done        chan struct{}
}

func start(t *testing.T, stdin string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errout
	if stdin != "" {
		p.cmd.Stdin = strings.NewReader(stdin)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

func (p *proc) wait(t *testing.T) result {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%v did not exit; stdout %q stderr %q", p.cmd.Args, p.out.String(), p.errout.String())
	}
	return result{p.cmd.ProcessState.ExitCode(), p.out.String(), p.errout.String()}
}

func runProc(t *testing.T, stdin string, name string, args ...string) result {
	t.Helper()
	return start(t, stdin, name, args...).wait(t)
}

// mosquittoTool maps "mast pub" to mosquitto_pub, "mast sub" to mosquitto_sub.
func mosquittoTool(cmd string) string { return "/usr/bin/mosquitto_" + cmd }

// normalize makes the outputs of the two tools comparable: tool names and
// timestamps are masked.
var (
	reTime   = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6}Z)?[+-]\d{4}`)
	reUnix   = regexp.MustCompile(`\d{10}\.\d{9}`)
	reClock  = regexp.MustCompile(`\d\d:\d\d:\d\d`)
	reTools  = strings.NewReplacer("mosquitto_pub", "mast pub", "mosquitto_sub", "mast sub")
	reBlanks = regexp.MustCompile(`\n\n+`)
)

func normalize(s string) string {
	s = reTime.ReplaceAllString(s, "TIME")
	s = reUnix.ReplaceAllString(s, "UNIX")
	s = reClock.ReplaceAllString(s, "CLOCK")
	s = reTools.Replace(s)
	return reBlanks.ReplaceAllString(s, "\n\n")
}

func TestParseMQTTFlags(t *testing.T) {
	f, err := parseMQTTFlags("sub", []string{"-h", "example.org", "-p", "1884", "-t", "a/#", "-t", "b", "-q", "2",
		"-i", "me", "-c", "-k", "30", "-V", "mqttv5", "-x", "-1", "-u", "user", "-P", "pw", "-v", "-C", "3",
		"-D", "connect", "user-property", "k", "v", "-D", "subscribe", "subscription-identifier", "7",
		"--will-topic", "w", "--will-payload", "bye", "--will-qos", "1", "--will-retain", "-T", "a/x", "-R"})
	if err != nil {
		t.Fatal(err)
	}
	if f.host != "example.org" || f.port != 1884 || len(f.topics) != 2 || f.qos != 2 || f.id != "me" || f.clean ||
		f.keepalive != 30 || f.version != 5 || f.expiry != -1 || f.user != "user" || f.password != "pw" ||
		!f.verbose || f.count != 3 || f.willTopic != "w" || f.willQoS != 1 || !f.willRetain || !f.noRetain ||
		len(f.filterOut) != 1 {
		t.Errorf("%+v", f)
	}
	o, err := f.options(&lockedWriter{w: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	if o.Servers[0] != "mqtt://example.org:1884" || o.ClientID != "me" || o.CleanStart ||
		o.SessionExpiry != client.SessionExpiryNever || o.KeepAlive != 30*time.Second || o.Will == nil ||
		len(o.ConnectProperties.User) != 1 || string(o.Password) != "pw" {
		t.Errorf("options %+v", o)
	}
	if f.props["subscribe"].SubscriptionIDs[0] != 7 {
		t.Error("subscription identifier")
	}

	f, err = parseMQTTFlags("pub", []string{"-L", "mqtts://u:p@host:8884/some/topic", "-n", "-r", "--cafile", "/dev/null"})
	if err != nil {
		t.Fatal(err)
	}
	if f.host != "host" || f.port != 8884 || f.user != "u" || f.password != "p" || f.topics[0] != "some/topic" ||
		f.msgMode != "-n" || !f.retain || !f.tls {
		t.Errorf("%+v", f)
	}
	o, _ = f.options(&lockedWriter{w: &bytes.Buffer{}})
	if o.Servers[0] != "mqtts://host:8884" {
		t.Errorf("servers %v", o.Servers)
	}
	f, _ = parseMQTTFlags("pub", []string{"--unix", "/tmp/s.sock", "-t", "x", "-m", "y"})
	if o, _ := f.options(&lockedWriter{w: &bytes.Buffer{}}); o.Servers[0] != "unix:///tmp/s.sock" {
		t.Errorf("servers %v", o.Servers)
	}
}

// Command-line errors: mosquitto's message, and exit code 1.
func TestMQTTFlagErrors(t *testing.T) {
	cases := []struct {
		cmd  string
		args []string
		want string
	}{
		{"sub", []string{"-t", "a", "-q", "3"}, "Error: Invalid QoS given: 3"},
		{"sub", []string{"-t", "a", "-q"}, "Error: -q argument given but no QoS specified."},
		{"sub", []string{"-t", "a", "-V", "6"}, "Error: Invalid protocol version argument given."},
		{"sub", []string{"-t", "a/#/b"}, "Error: Invalid subscription topic 'a/#/b', are all '+' and '#' wildcards correct?"},
		{"sub", []string{}, "Error: You must specify a topic to subscribe to."},
		{"sub", []string{"-t", "a", "-Z"}, "Error: Unknown option '-Z'."},
		{"sub", []string{"-t", "a", "-c"}, "Error: You must provide a client id if you are using the -c option."},
		{"sub", []string{"-t", "a", "-c", "-V", "5"}, "Error: You must provide a client id if you are using an infinite session expiry interval."},
		{"sub", []string{"-t", "a", "-i", "x", "-I", "y"}, "Error: -i and -I argument cannot be used together."},
		{"sub", []string{"-t", "a", "-k", "abc"}, "Error: Invalid keepalive given, it must be between 5 and 65535 inclusive."},
		{"sub", []string{"-t", "a", "-C", "0"}, "Error: Invalid message count \"0\"."},
		{"sub", []string{"-t", "a", "-W", "0"}, "Error: Invalid timeout \"0\"."},
		{"sub", []string{"-t", "a", "-R", "--retained-only"}, "Error: Combining '-R' and '--retained-only' makes no sense."},
		{"sub", []string{"-t", "a", "--will-payload", "x"}, "Error: Will payload given, but no will topic given."},
		{"sub", []string{"-t", "a", "--will-topic", "w/#"}, "Error: Invalid will topic 'w/#', does it contain '+' or '#'?"},
		{"sub", []string{"-t", "a", "--will-topic", "w", "--will-qos", "3"}, "Error: Invalid will QoS 3."},
		{"sub", []string{"-t", "a", "-V", "5", "-D", "connect", "topic-alias", "1"}, "Error: topic-alias property not allowed for connect in --property argument."},
		{"sub", []string{"-t", "a", "-V", "5", "-D", "bogus", "receive-maximum", "1"}, "Error: Invalid command given in --property argument."},
		{"sub", []string{"-t", "a", "-V", "5", "-D", "connect", "bogus", "1"}, "Error: Invalid property name given in --property argument."},
		{"sub", []string{"-t", "a", "-x", "abc", "-V", "5"}, "Error: session-expiry-interval not a number."},
		{"sub", []string{"-t", "a", "-F", "%y"}, "Error: Invalid format specifier 'y'."},
		{"sub", []string{"-t", "a", "-m", "x"}, "Error: Unknown option '-m'."},
		{"pub", []string{"-t", "a/+", "-m", "x"}, "Error: Invalid publish topic 'a/+', does it contain '+' or '#'?"},
		{"pub", []string{"-t", "a"}, "Error: Both topic and message must be supplied."},
		{"pub", []string{"-m", "x"}, "Error: Both topic and message must be supplied."},
		{"pub", []string{"-t", "a", "-m", "x", "-n"}, "Error: Only one type of message can be sent at once."},
		{"pub", []string{"-t", "a", "-f", "/nonexistent/file"}, "Error: Unable to open file \"/nonexistent/file\".\nError loading input file \"/nonexistent/file\"."},
		{"pub", []string{"-t", "a", "-m", "x", "-C", "1"}, "Error: Unknown option '-C'."},
	}
	for _, c := range cases {
		r := runIn(append([]string{c.cmd}, c.args...)...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, c.want) {
			t.Errorf("mast %s %q: exit %d, stderr %q; want 1, %q", c.cmd, c.args, r.code, r.stderr, c.want)
		}
	}
	if r := runIn("sub", "--help"); r.code != 0 || !strings.Contains(r.stdout, "Usage: mast sub") {
		t.Errorf("--help: %d %q", r.code, r.stdout)
	}
}

// The same errors from mosquitto_sub / mosquitto_pub and mast: same first
// line on stderr, same exit code.
func TestMQTTFlagErrorsSideBySide(t *testing.T) {
	for _, args := range [][]string{
		{"sub", "-t", "a", "-q", "3"},
		{"sub", "-t", "a/#/b"},
		{"sub"},
		{"sub", "-t", "a", "-c"},
		{"sub", "-t", "a", "-i", "x", "-I", "y"},
		{"sub", "-t", "a", "-C", "0"},
		{"sub", "-t", "a", "-R", "--retained-only"},
		{"sub", "-t", "a", "--will-topic", "w/#"},
		{"sub", "-t", "a", "-F", "%y"},
		{"sub", "-t", "a", "-V", "5", "-D", "connect", "topic-alias", "1"},
		{"pub", "-t", "a/+", "-m", "x"},
		{"pub", "-t", "a", "-m", "x", "-n"},
		{"pub", "-t", "a", "-f", "/nonexistent/file"},
	} {
		want := runProc(t, "", mosquittoTool(args[0]), args[1:]...)
		got := runIn(args...)
		first := func(s string) string { return strings.SplitN(strings.TrimLeft(s, "\n"), "\n", 2)[0] }
		if got.code != want.code || first(got.stderr) != first(want.stderr) {
			t.Errorf("%q: mast exit %d %q, mosquitto exit %d %q", args, got.code, first(got.stderr), want.code, first(want.stderr))
		}
	}
}

// Connection failures: a closed port, and a CONNACK refusal at each
// protocol level, exit as mosquitto's tools do.
func TestConnectFailuresSideBySide(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	_, closed, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	refusing := cliMosquitto(t, "allow_anonymous false\n")
	for _, args := range [][]string{
		{"sub", "-p", closed, "-t", "a"},
		{"pub", "-p", closed, "-t", "a", "-m", "x"},
		{"sub", "-p", refusing, "-t", "a"},
		{"sub", "-p", refusing, "-t", "a", "-V", "5"},
		{"sub", "-p", refusing, "-t", "a", "-V", "31"},
		{"pub", "-p", refusing, "-t", "a", "-m", "x"},
		{"pub", "-p", refusing, "-t", "a", "-m", "x", "-V", "5"},
	} {
		args = append(args[:1], append([]string{"-h", "127.0.0.1"}, args[1:]...)...)
		want := runProc(t, "", mosquittoTool(args[0]), args[1:]...)
		got := runIn(args...)
		if got.code != want.code || got.stderr != want.stderr {
			t.Errorf("%q:\nmast      exit %d %q\nmosquitto exit %d %q", args, got.code, got.stderr, want.code, want.stderr)
		}
	}
}

func TestFormatMessage(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6007008, time.UTC)
	m := &client.Message{Topic: "a/b", Payload: []byte("hi\"\n"), QoS: 1, Retain: true, PacketID: 7}
	m.Properties.ContentType = "text/plain"
	m.Properties.Set(packet.PropContentType)
	m.Properties.User = []packet.UserProperty{{Key: "k", Value: "v"}, {Key: "k2", Value: "v2"}}
	m.Properties.SubscriptionIDs = []uint32{3}
	for _, c := range []struct{ format, want string }{
		{"%t %p %q %r %l %m %%", "a/b hi\"\n 1 1 4 7 %"},
		{"%x %X", "6869220a 6869220A"},
		{"[%10t] [%-5t] [%.1t] [%05l] [%-3m]", "[       a/b] [a/b  ] [a] [00004] [7  ]"},
		{"[%3p] [%6p]", "[hi\"] [  hi\"\n]"},
		{"%C|%P|%S|%E", "text/plain|k:v k2:v2|3|"},
		{"%I %U", "2026-01-02T03:04:05+0000 1767323045.006007008"},
		{"@Y-@m-@d @H:@M:@S @@ @N @s", "2026-01-02 03:04:05 @ 006007008 1767323045"},
		{`\t\\\e`, "\t\\\x1b"},
		{"%j", `{"tst":"2026-01-02T03:04:05.006007Z+0000","topic":"a/b","qos":1,"retain":1,"payloadlen":4,` +
			`"properties":{"content-type":"text/plain","subscription-identifier":3,"user-properties":{"k":"v","k2":"v2"}},` +
			`"payload":"hi\"\n"}`},
	} {
		var b bytes.Buffer
		formatMessage(&b, c.format, m, now, false)
		if b.String() != c.want {
			t.Errorf("%q: got %q, want %q", c.format, b.String(), c.want)
		}
	}
	var b bytes.Buffer
	err := formatMessage(&b, "%J", m, now, false)
	if err == nil || err.Error() != "Error: Message payload is not valid JSON on topic a/b." {
		t.Errorf("%%J on text: %v", err)
	}
	b.Reset()
	m2 := &client.Message{Topic: "j", Payload: []byte(`{"a": [1, 2.5]}`)}
	formatMessage(&b, "%J", m2, now, false)
	if want := `{"tst":"2026-01-02T03:04:05.006007Z+0000","topic":"j","qos":0,"retain":0,"payloadlen":15,"payload":{"a":[1,2.5]}}`; b.String() != want {
		t.Errorf("%%J: %s", b.String())
	}
}

// tlsBroker serves mast over TLS with a certificate for dnsName only (no IP
// address), and returns the port and the CA file.
func tlsBroker(t *testing.T, dnsName string) (port, caFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: dnsName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{dnsName}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := broker.New(broker.Options{SysInterval: -1})
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, caFile
}

// --cafile and --insecure: the connection succeeds or fails as with
// mosquitto_sub (the certificate names localhost, not 127.0.0.1).
func TestTLSSideBySide(t *testing.T) {
	port, ca := tlsBroker(t, "localhost")
	for _, extra := range [][]string{
		{"-h", "localhost"},
		{"-h", "127.0.0.1"},
		{"-h", "127.0.0.1", "--insecure"},
	} {
		args := append([]string{"-p", port, "--cafile", ca, "-t", "x", "-E"}, extra...)
		want := runProc(t, "", mosquittoTool("sub"), args...)
		got := runIn(append([]string{"sub"}, args...)...)
		if want.code != 0 {
			// mosquitto reports a failed handshake either from its
			// connect call ("Unable to connect (A TLS error occurred.).",
			// exit 1) or from its network loop ("Error: A TLS error
			// occurred.", exit 8), depending on timing; mast always does
			// the latter.
			if got.code != 8 || got.stderr != "Error: A TLS error occurred.\n" || !strings.Contains(want.stderr, "A TLS error occurred.") {
				t.Errorf("%q: mast exit %d %q, mosquitto exit %d %q", extra, got.code, got.stderr, want.code, want.stderr)
			}
			continue
		}
		if got.code != want.code || got.stderr != want.stderr {
			t.Errorf("%q: mast exit %d %q, mosquitto exit %d %q", extra, got.code, got.stderr, want.code, want.stderr)
		}
	}
}

// --unix connects through a Unix domain socket, as mosquitto's tools do.
func TestUnixSideBySide(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mqtt.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := broker.New(broker.Options{SysInterval: -1})
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	for _, args := range [][]string{
		{"sub", "--unix", path, "-t", "x", "-E"},
		{"pub", "--unix", path, "-t", "x", "-m", "y", "-q", "1"},
		{"sub", "--unix", path + ".missing", "-t", "x", "-E"},
	} {
		want := runProc(t, "", mosquittoTool(args[0]), args[1:]...)
		got := runIn(args...)
		if got.code != want.code || got.stderr != want.stderr {
			t.Errorf("%q: mast exit %d %q, mosquitto exit %d %q", args, got.code, got.stderr, want.code, want.stderr)
		}
	}
}
