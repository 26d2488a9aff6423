package ops_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mastmq/mast/packet"
)

// The ACL before the reload: alice reads everything under a/ and writes
// x/old; bob does anything.
const aclBefore = `# before
user alice
topic read a/#
topic write x/old

user bob
topic readwrite #
`

// The ACL after the reload: alice loses a/secret (she keeps a/public)
// and may write x/new instead of x/old.
const aclAfter = `# after
user alice
topic read a/public
topic write x/new

user bob
topic readwrite #
`

// aclBroken is refused: line 3 has an unknown directive.
const aclBroken = `# broken
user alice
topc read a/#
`

// authSetup writes a password file (alice and bob, made with `mast
// passwd`), the ACL aclBefore and a YAML configuration using both, with
// one listener; it returns the configuration's path, the ACL's and the
// password file's.
func authSetup(t *testing.T, port int) (cfg, acl, passwd string) {
	t.Helper()
	dir := t.TempDir()
	passwd = filepath.Join(dir, "passwd")
	acl = filepath.Join(dir, "acl")
	cfg = filepath.Join(dir, "mast.yaml")
	mast(t, "passwd", "-c", "-b", passwd, "alice", "secret")
	mast(t, "passwd", "-b", passwd, "bob", "hunter2")
	writeFile(t, acl, aclBefore)
	writeFile(t, cfg, fmt.Sprintf(`listeners:
  - address: %s
auth:
  password_file: %s
  acl_file: %s
sys_interval: 0
`, addrOf(port), passwd, acl))
	return cfg, acl, passwd
}

// reloader makes the running broker reload its configuration and
// returns "" when it was applied, or the reason it was refused.
type reloader func(t *testing.T, p *proc) (refused string)

// bySIGHUP reloads with SIGHUP and reads the outcome from the log.
func bySIGHUP(t *testing.T, p *proc) string {
	t.Helper()
	m := p.mark()
	p.signal(syscall.SIGHUP)
	line, _ := p.waitLog(m, "configuration reloaded", "reload refused", "reload partly applied")
	if strings.Contains(line, "configuration reloaded") {
		return ""
	}
	return line
}

// byAPI reloads with POST /api/v1/reload and reads the outcome from the
// answer, checking that the log says the same.
func byAPI(httpAddr string) reloader {
	return func(t *testing.T, p *proc) string {
		t.Helper()
		m := p.mark()
		code, body := httpDo(t, "POST", "http://"+httpAddr+"/api/v1/reload")
		switch code {
		case 200:
			if !strings.Contains(body, `"reloaded":true`) {
				t.Fatalf("reload answered 200 %s", body)
			}
			p.waitLog(m, "configuration reloaded")
			return ""
		case 422:
			line, _ := p.waitLog(m, "reload refused")
			if !strings.Contains(body, "refused") {
				t.Errorf("refused reload answered %s, not saying it was refused", body)
			}
			t.Logf("POST /api/v1/reload: %d %s (log: %s)", code, strings.TrimSpace(body), line)
			return body
		}
		t.Fatalf("POST /api/v1/reload: %d %s", code, body)
		return ""
	}
}

// TestReloadACLOnSIGHUP: the ACL file is rewritten and SIGHUP sent;
// connected clients stay connected and the next publish and delivery
// follow the new rules. A broken ACL file is refused on SIGHUP with the
// reason in the log, and the rules in force stay.
func TestReloadACLOnSIGHUP(t *testing.T) {
	testReloadACL(t, addrOf(freePort(t)), bySIGHUP)
}

// TestReloadACLThroughAPI: the same with POST /api/v1/reload on the
// admin HTTP listener.
func TestReloadACLThroughAPI(t *testing.T) {
	httpAddr := addrOf(freePort(t))
	testReloadACL(t, httpAddr, byAPI(httpAddr))
}

func testReloadACL(t *testing.T, httpAddr string, reload reloader) {
	port := freePort(t)
	addr := addrOf(port)
	cfg, acl, passwd := authSetup(t, port)
	p := startMast(t, "-c", cfg, "--memory", "--http", httpAddr)
	p.waitReady(httpAddr)

	alice := connect(t, addr, packet.Version5, "alice-1", "alice", "secret", true)
	if rc := alice.subscribe(1, "a/#", 1); rc != 1 {
		t.Fatalf("alice SUBSCRIBE a/#: %#x, want granted QoS 1", rc)
	}
	bob := connect(t, addr, packet.Version5, "bob-1", "bob", "hunter2", true)
	if rc := bob.subscribe(1, "x/#", 1); rc != 1 {
		t.Fatalf("bob SUBSCRIBE x/#: %#x, want granted QoS 1", rc)
	}
	// The second connection of each user uses 3.1.1, where a denied
	// publish is acknowledged and dropped.
	alice3 := connect(t, addr, packet.Version311, "alice-3", "alice", "secret", true)
	if _, ack := dialMQTT(t, addr, packet.Version5, &packet.Connect{ClientID: "carol-1", CleanStart: true,
		UsernameFlag: true, Username: "carol", PasswordFlag: true, Password: []byte("pw")}); ack.ReasonCode == 0 {
		t.Fatal("carol connected before she was in the password file")
	}

	var pid uint16
	next := func() uint16 { pid++; return pid }

	// rules checks what alice may read and write now.
	rules := func(when string, readSecret bool, writable, denied string) {
		t.Helper()
		// Bob may write a/secret; whether anyone may read it is the
		// v5 reason (0x10 no matching subscribers when alice may not).
		wantRC := packet.NoMatchingSubscribers
		if readSecret {
			wantRC = packet.Success
		}
		if rc := bob.publish(next(), "a/secret", "s"); rc != wantRC {
			t.Fatalf("%s: bob PUBLISH a/secret: %#x, want %#x", when, rc, wantRC)
		}
		if rc := bob.publish(next(), "a/public", "p"); rc != 0 {
			t.Fatalf("%s: bob PUBLISH a/public: %#x", when, rc)
		}
		// Deliveries keep the publisher's order: a/secret, if it is
		// delivered at all, comes first.
		first := alice.readPublish()
		if readSecret {
			if first.Topic != "a/secret" {
				t.Fatalf("%s: alice got %s first, want a/secret (she may read it)", when, first.Topic)
			}
			first = alice.readPublish()
		}
		if first.Topic != "a/public" {
			t.Fatalf("%s: alice got %s, want a/public (a/secret readable: %v)", when, first.Topic, readSecret)
		}

		// v5: a denied publish is answered 0x87; an allowed one reaches bob.
		if rc := alice.publish(next(), denied, "no"); rc != packet.NotAuthorized {
			t.Fatalf("%s: alice PUBLISH %s: PUBACK %#x, want 0x87 not authorized", when, denied, rc)
		}
		if rc := alice.publish(next(), writable, "yes"); rc != 0 {
			t.Fatalf("%s: alice PUBLISH %s: PUBACK %#x, want 0", when, writable, rc)
		}
		// 3.1.1: the denied one is acknowledged and dropped.
		alice3.publish(next(), denied, "no (3.1.1)")
		alice3.publish(next(), writable, "yes (3.1.1)")
		for _, want := range []string{"yes", "yes (3.1.1)"} {
			if got := bob.readPublish(); got.Topic != writable || string(got.Payload) != want {
				t.Fatalf("%s: bob got %s %q, want %s %q (and nothing on %s)", when, got.Topic, got.Payload, writable, want, denied)
			}
		}
		// Nothing else is waiting, and every connection is still up.
		for _, c := range []*client{alice, alice3, bob} {
			c.alive()
		}
	}
	rules("before the reload", true, "x/old", "x/new")

	writeFile(t, acl, aclAfter)
	mast(t, "passwd", "-b", passwd, "carol", "pw")
	m := p.mark()
	if why := reload(t, p); why != "" {
		t.Fatalf("valid configuration refused: %s", why)
	}
	rules("after the reload", false, "x/new", "x/old")
	connect(t, addr, packet.Version5, "carol-2", "carol", "pw", true)

	// A broken ACL file: refused with the file, the line and why; the
	// rules of the last good reload stay, and so do the connections.
	writeFile(t, acl, aclBroken)
	why := reload(t, p)
	if why == "" {
		t.Fatal("a broken ACL file was accepted")
	}
	line, _ := p.waitLog(m, "reload refused")
	for _, want := range []string{"running configuration stays", acl + ":3", `unknown directive "topc"`} {
		if !strings.Contains(line, want) {
			t.Errorf("the refusal %q does not say %q", line, want)
		}
	}
	rules("after a refused reload", false, "x/new", "x/old")
	connect(t, addr, packet.Version5, "carol-3", "carol", "pw", true)

	// Nobody was disconnected by any of it.
	for _, l := range p.log(0) {
		for _, id := range []string{"alice-1", "alice-3", "bob-1"} {
			if strings.Contains(l, "Client "+id+" disconnected") {
				t.Errorf("a reload disconnected %s: %s", id, l)
			}
		}
	}
}

// TestReloadListeners: a listener added to the file opens on SIGHUP and
// takes clients; a listener removed closes for new clients while its
// connected clients stay.
func TestReloadListeners(t *testing.T) {
	p1, p2 := freePort(t), freePort(t)
	cfg := filepath.Join(t.TempDir(), "mast.yaml")
	listeners := func(ports ...int) {
		s := "listeners:\n"
		for _, port := range ports {
			s += "  - address: " + addrOf(port) + "\n"
		}
		writeFile(t, cfg, s+"sys_interval: 0\n")
	}
	listeners(p1)
	httpAddr := addrOf(freePort(t))
	p := startMast(t, "-c", cfg, "--memory", "--http", httpAddr)
	p.waitReady(httpAddr)

	first := connect(t, addrOf(p1), packet.Version311, "on-first", "", "", true)
	if rc := first.subscribe(1, "l/#", 1); rc != 1 {
		t.Fatalf("SUBSCRIBE: %#x", rc)
	}
	if nc, err := net.DialTimeout("tcp", addrOf(p2), time.Second); err == nil {
		nc.Close()
		t.Fatalf("%s accepts connections before it is configured", addrOf(p2))
	}

	listeners(p1, p2)
	if why := bySIGHUP(t, p); why != "" {
		t.Fatalf("reload refused: %s", why)
	}
	p.waitLog(0, "listening on tcp "+addrOf(p2))
	second := connect(t, addrOf(p2), packet.Version5, "on-second", "", "", true)
	if rc := second.publish(1, "l/1", "via the new listener"); rc != 0 {
		t.Fatalf("PUBLISH on the new listener: PUBACK %#x", rc)
	}
	if got := first.readPublish(); string(got.Payload) != "via the new listener" {
		t.Fatalf("got %q", got.Payload)
	}

	listeners(p2)
	m := p.mark()
	if why := bySIGHUP(t, p); why != "" {
		t.Fatalf("reload refused: %s", why)
	}
	p.waitLog(m, "closing listener "+addrOf(p1))
	if nc, err := net.DialTimeout("tcp", addrOf(p1), time.Second); err == nil {
		nc.Close()
		t.Fatalf("%s still accepts connections after it was removed", addrOf(p1))
	}
	first.alive()
	if rc := second.publish(2, "l/2", "after the removal"); rc != 0 {
		t.Fatalf("PUBLISH: PUBACK %#x", rc)
	}
	if got := first.readPublish(); string(got.Payload) != "after the removal" {
		t.Fatalf("got %q", got.Payload)
	}
	connect(t, addrOf(p2), packet.Version311, "third", "", "", true)

	// A file mast cannot read is refused, naming the line; the listeners
	// stay as they are.
	writeFile(t, cfg, "listeners:\n  - address: "+addrOf(p1)+"\nlimits:\n  max_qso: 1\n")
	why := bySIGHUP(t, p)
	if !strings.Contains(why, "line 4") || !strings.Contains(why, "max_qso") {
		t.Fatalf("refusal %q, want it to name line 4 and max_qso", why)
	}
	if nc, err := net.DialTimeout("tcp", addrOf(p1), time.Second); err == nil {
		nc.Close()
		t.Fatalf("%s reopened by a refused configuration", addrOf(p1))
	}
	connect(t, addrOf(p2), packet.Version311, "fourth", "", "", true)
	first.alive()
}

// TestReloadReopensLogFile: logrotate renames the log file and sends
// SIGHUP; mast reopens the file by its name, so a new file appears and
// takes the lines from then on, while the renamed one keeps the old
// lines. The log file is set with Mosquitto's log_dest (the YAML file has
// no key for it).
func TestReloadReopensLogFile(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	logFile := filepath.Join(dir, "mast.log")
	cfg := filepath.Join(dir, "mosquitto.conf")
	writeFile(t, cfg, fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nlog_dest file %s\nlog_dest stderr\nsys_interval 0\n", port, logFile))
	httpAddr := addrOf(freePort(t))
	p := startMast(t, "-c", cfg, "--http", httpAddr)
	p.waitReady(httpAddr)
	connect(t, addrOf(port), packet.Version311, "before-rotation", "", "", true)
	p.waitLog(0, "before-rotation")

	rotated := logFile + ".1"
	if err := os.Rename(logFile, rotated); err != nil {
		t.Fatal(err)
	}
	if why := bySIGHUP(t, p); why != "" {
		t.Fatalf("reload refused: %s", why)
	}
	connect(t, addrOf(port), packet.Version311, "after-rotation", "", "", true)
	p.waitLog(0, "after-rotation")

	// The line reached standard error; the file gets it in the same
	// write, just after.
	var now string
	for end := time.Now().Add(waitTimeout); ; time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(logFile)
		if err == nil && strings.Contains(string(b), "after-rotation") {
			now = string(b)
			break
		}
		if time.Now().After(end) {
			t.Fatalf("%s after SIGHUP: %v\n%s", logFile, err, b)
		}
	}
	old, err := os.ReadFile(rotated)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"listening on", "before-rotation", "reloading the configuration"} {
		if !strings.Contains(string(old), want) {
			t.Errorf("the rotated file lacks %q:\n%s", want, old)
		}
	}
	if strings.Contains(string(old), "after-rotation") {
		t.Errorf("the rotated file got a line after SIGHUP:\n%s", old)
	}
	if !strings.Contains(now, "configuration reloaded") || strings.Contains(now, "before-rotation") {
		t.Errorf("the new file:\n%s\nwant the lines from the reload on only", now)
	}
}
