package main

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
)

// Side by side: the same command line run as mosquitto_sub and as mast sub
// against one broker, with the same messages published (by mosquitto_pub)
// before and after they subscribe, must print the same thing and exit with
// the same code.

type sideCase struct {
	name   string
	args   []string   // mosquitto_sub flags, -h -p -i added
	before [][]string // mosquitto_pub flags run before the subscribers start
	after  [][]string // mosquitto_pub flags run once both have subscribed
}

var sideCases = []sideCase{
	{name: "verbose", args: []string{"-t", "s/#", "-v", "-C", "3"},
		after: [][]string{{"-t", "s/a", "-m", "one"}, {"-t", "s/b", "-m", "two words", "-q", "1"}, {"-t", "s/c", "-n"}}},
	{name: "plain", args: []string{"-t", "s/#", "-C", "3"},
		after: [][]string{{"-t", "s/a", "-m", "one"}, {"-t", "s/c", "-n"}, {"-t", "s/b", "-m", "two\nlines"}}},
	{name: "no-eol", args: []string{"-t", "s/#", "-v", "-N", "-C", "3"},
		after: [][]string{{"-t", "s/a", "-m", "one"}, {"-t", "s/c", "-n"}, {"-t", "s/b", "-m", "two"}}},
	{name: "format", args: []string{"-t", "s/#", "-C", "2", "-F", `%t|%p|%q|%r|%l|%x|%X|%%|%I|%U|\t@Y@@`},
		after: [][]string{{"-t", "s/a", "-m", "one"}, {"-t", "s/b", "-n", "-q", "2"}}},
	{name: "format-width", args: []string{"-t", "s/#", "-C", "1", "-F", `[%10t][%-10t][%.2t][%010l][%-4l][%8p][%2p]`},
		after: [][]string{{"-t", "s/abc", "-m", "payload"}}},
	{name: "json", args: []string{"-t", "s/#", "-C", "3", "-F", "%j"},
		after: [][]string{{"-t", "s/a", "-m", `say "hi"` + "\n\tbye"}, {"-t", "s/b", "-n"}, {"-t", "s/c", "-m", "é ü"}}},
	{name: "json-embedded", args: []string{"-t", "s/#", "-C", "2", "-F", "%J"},
		after: [][]string{{"-t", "s/a", "-m", `{"a": [1, 2.5, "x"], "b": null}`}, {"-t", "s/b", "-m", "42"}}},
	{name: "retained", args: []string{"-t", "s/#", "-v", "-C", "3"},
		before: [][]string{{"-t", "s/r1", "-m", "kept1", "-r"}, {"-t", "s/r2", "-m", "kept2", "-r", "-q", "1"}},
		after:  [][]string{{"-t", "s/new", "-m", "fresh"}}},
	{name: "retained-format", args: []string{"-t", "s/#", "-F", "%t %r %q", "-C", "2", "-q", "1"},
		before: [][]string{{"-t", "s/r", "-m", "kept", "-r", "-q", "1"}},
		after:  [][]string{{"-t", "s/new", "-m", "fresh", "-q", "1"}}},
	{name: "no-retained", args: []string{"-t", "s/#", "-v", "-R", "-C", "1"},
		before: [][]string{{"-t", "s/r", "-m", "kept", "-r"}},
		after:  [][]string{{"-t", "s/new", "-m", "fresh"}}},
	{name: "retained-only", args: []string{"-t", "s/#", "-v", "--retained-only"},
		before: [][]string{{"-t", "s/r1", "-m", "kept1", "-r"}, {"-t", "s/r2", "-m", "kept2", "-r"}},
		after:  [][]string{{"-t", "s/new", "-m", "fresh"}, {"-t", "s/newer", "-m", "fresher"}}},
	{name: "qos0", args: []string{"-t", "s/#", "-v", "-q", "0", "-F", "%t %q %p", "-C", "3"},
		after: [][]string{{"-t", "s/a", "-m", "0", "-q", "0"}, {"-t", "s/b", "-m", "1", "-q", "1"}, {"-t", "s/c", "-m", "2", "-q", "2"}}},
	{name: "qos1", args: []string{"-t", "s/#", "-v", "-q", "1", "-F", "%t %q %p", "-C", "3"},
		after: [][]string{{"-t", "s/a", "-m", "0", "-q", "0"}, {"-t", "s/b", "-m", "1", "-q", "1"}, {"-t", "s/c", "-m", "2", "-q", "2"}}},
	{name: "qos2", args: []string{"-t", "s/#", "-v", "-q", "2", "-F", "%t %q %p", "-C", "3"},
		after: [][]string{{"-t", "s/a", "-m", "0", "-q", "0"}, {"-t", "s/b", "-m", "1", "-q", "1"}, {"-t", "s/c", "-m", "2", "-q", "2"}}},
	{name: "several-topics", args: []string{"-t", "s/a", "-t", "s/b/+", "-v", "-C", "2"},
		after: [][]string{{"-t", "s/x", "-m", "not matched"}, {"-t", "s/b/1", "-m", "b1"}, {"-t", "s/a", "-m", "a"}}},
	{name: "filter-out", args: []string{"-t", "s/#", "-v", "-T", "s/skip/#", "-C", "2"},
		after: [][]string{{"-t", "s/skip/x", "-m", "no"}, {"-t", "s/a", "-m", "yes"}, {"-t", "s/skip", "-m", "no"}, {"-t", "s/b", "-m", "yes"}}},
	{name: "v5", args: []string{"-t", "s/#", "-V", "5", "-C", "2", "-F", "%t|%C|%P|%E|%F|%R|%D|%p",
		"-D", "subscribe", "subscription-identifier", "5"},
		after: [][]string{
			{"-t", "s/a", "-m", "{}", "-V", "5", "-D", "publish", "content-type", "application/json",
				"-D", "publish", "user-property", "k", "v", "-D", "publish", "user-property", "k2", "v2",
				"-D", "publish", "response-topic", "s/reply", "-D", "publish", "correlation-data", "c1",
				"-D", "publish", "payload-format-indicator", "1"},
			{"-t", "s/b", "-m", "plain", "-V", "5"}}},
	{name: "v5-json", args: []string{"-t", "s/#", "-V", "5", "-C", "1", "-F", "%j", "-D", "subscribe", "subscription-identifier", "9"},
		after: [][]string{{"-t", "s/a", "-m", "x", "-V", "5", "-D", "publish", "content-type", "text/plain",
			"-D", "publish", "user-property", "k", "v", "-D", "publish", "response-topic", "s/r",
			"-D", "publish", "correlation-data", "id", "-D", "publish", "payload-format-indicator", "1"}}},
	{name: "mqttv31", args: []string{"-t", "s/#", "-v", "-V", "mqttv31", "-C", "1", "-q", "2"},
		after: [][]string{{"-t", "s/a", "-m", "old", "-q", "2"}}},
	{name: "mqttv311", args: []string{"-t", "s/#", "-v", "-V", "311", "-C", "1"},
		after: [][]string{{"-t", "s/a", "-m", "x"}}},
	{name: "exit-after-subscribe", args: []string{"-t", "s/#", "-E", "-v"}},
	{name: "timeout", args: []string{"-t", "s/#", "-v", "-W", "1"},
		after: [][]string{{"-t", "s/a", "-m", "before the timeout"}}},
	{name: "persistent", args: []string{"-t", "s/#", "-v", "-c", "-q", "1", "-C", "1"},
		after: [][]string{{"-t", "s/a", "-m", "x", "-q", "1"}}},
	{name: "url", args: []string{"-v", "-C", "1"}, after: [][]string{{"-t", "s/u", "-m", "via url"}}},
}

func TestSubSideBySide(t *testing.T) {
	for _, c := range sideCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv, port := cliBroker(t)
			pubArgs := func(a []string) []string { return append([]string{"-h", "127.0.0.1", "-p", port}, a...) }
			for _, b := range c.before {
				if r := runProc(t, "", mosquittoTool("pub"), pubArgs(b)...); r.code != 0 {
					t.Fatalf("mosquitto_pub %q: %+v", b, r)
				}
			}
			args := func(id string) []string {
				a := append([]string{"-i", id}, c.args...)
				if c.name == "url" {
					return append(a, "-L", "mqtt://127.0.0.1:"+port+"/s/#")
				}
				return append(a, "-h", "127.0.0.1", "-p", port)
			}
			mosq := start(t, "", mosquittoTool("sub"), args("side-mosquitto")...)
			mast := start(t, "", mastBin, append([]string{"sub"}, args("side-mast")...)...)
			if !hasFlag(c.args, "-E") {
				topics := countFlag(c.args, "-t")
				if c.name == "url" {
					topics = 1
				}
				waitSubscribed(t, srv, "side-mosquitto", topics)
				waitSubscribed(t, srv, "side-mast", topics)
			}
			for _, a := range c.after {
				if r := runProc(t, "", mosquittoTool("pub"), pubArgs(a)...); r.code != 0 {
					t.Fatalf("mosquitto_pub %q: %+v", a, r)
				}
			}
			want, got := mosq.wait(t), mast.wait(t)
			if got.code != want.code || normalize(got.stdout) != normalize(want.stdout) || normalize(got.stderr) != normalize(want.stderr) {
				t.Errorf("mast sub %q:\nmast      exit %d stdout %q stderr %q\nmosquitto exit %d stdout %q stderr %q",
					c.args, got.code, got.stdout, got.stderr, want.code, want.stdout, want.stderr)
			}
		})
	}
}

func hasFlag(args []string, flag string) bool { return countFlag(args, flag) > 0 }

func countFlag(args []string, flag string) int {
	n := 0
	for _, a := range args {
		if a == flag {
			n++
		}
	}
	return n
}

// waitSubscribed waits until client id holds n subscriptions on srv.
func waitSubscribed(t *testing.T, srv *broker.Server, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, subs, ok := srv.Client(id); ok && len(subs) >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s never subscribed", id)
}

// -d prints the client's Paho-style lines and mosquitto_sub's
// "Subscribed" line.
func TestSubDebug(t *testing.T) {
	_, port := cliBroker(t)
	r := runIn("sub", "-h", "127.0.0.1", "-p", port, "-i", "dbg", "-t", "a", "-t", "b", "-q", "1", "-E", "-d")
	want := `Sending CONNECT (u0, p0, wr0, wq0, wf0, c1, k60) client_id=b'dbg'
Received CONNACK (0, 0)
Sending SUBSCRIBE (d0, m1) [(b'a', 1), (b'b', 1)]
Received SUBACK
Subscribed (mid: 1): 1, 1
Sending DISCONNECT
`
	if r.code != 0 || r.stdout != want {
		t.Errorf("exit %d, stdout:\n%s\nwant:\n%s", r.code, r.stdout, want)
	}
}

// On SIGINT both tools exit 0, and at MQTT 5 both ask the broker to
// publish their will (DISCONNECT 0x04), as mosquitto_sub does.
func TestSubSignalSideBySide(t *testing.T) {
	srv, port := cliBroker(t)
	watch := start(t, "", mosquittoTool("sub"), "-h", "127.0.0.1", "-p", port, "-i", "watch", "-t", "will/#", "-v", "-C", "2")
	waitSubscribed(t, srv, "watch", 1)
	args := func(id string) []string {
		return []string{"-h", "127.0.0.1", "-p", port, "-i", id, "-t", "x", "-V", "5",
			"--will-topic", "will/" + id, "--will-payload", "gone"}
	}
	mosq := start(t, "", mosquittoTool("sub"), args("mosq")...)
	mast := start(t, "", mastBin, append([]string{"sub"}, args("mast")...)...)
	waitSubscribed(t, srv, "mosq", 1)
	waitSubscribed(t, srv, "mast", 1)
	mosq.cmd.Process.Signal(syscall.SIGINT)
	want := mosq.wait(t)
	mast.cmd.Process.Signal(syscall.SIGINT)
	got := mast.wait(t)
	if got.code != want.code || got.stdout != want.stdout {
		t.Errorf("SIGINT: mast %+v, mosquitto %+v", got, want)
	}
	w := watch.wait(t)
	// Each tool has exited when its DISCONNECT is sent; the broker may
	// handle the second before the first, so the wills come in either
	// order.
	lines := strings.Split(strings.TrimSuffix(w.stdout, "\n"), "\n")
	slices.Sort(lines)
	if strings.Join(lines, "|") != "will/mast gone|will/mosq gone" {
		t.Errorf("wills: %q", w.stdout)
	}
}

// mast sub renews its subscription after the broker drops it (mosquitto_sub
// reconnects too).
func TestSubReconnects(t *testing.T) {
	srv, port := cliBroker(t)
	p := start(t, "", mastBin, "sub", "-h", "127.0.0.1", "-p", port, "-i", "again", "-t", "r", "-v", "-C", "1", "-q", "1")
	waitSubscribed(t, srv, "again", 1)
	first, _, _ := srv.Client("again")
	srv.Disconnect("again")
	// The clean session is gone with the connection; the renewed
	// subscription shows it reconnected.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ci, _, ok := srv.Client("again"); ok && ci.Connected && ci.Subscriptions == 1 && ci.ConnectedAt.After(first.ConnectedAt) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no reconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	runProc(t, "", mosquittoTool("pub"), "-h", "127.0.0.1", "-p", port, "-t", "r", "-m", "back", "-q", "1")
	if r := p.wait(t); r.code != 0 || r.stdout != "r back\n" {
		t.Errorf("%+v", r)
	}
}
