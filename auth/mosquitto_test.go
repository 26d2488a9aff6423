package auth_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/auth"
)

// This file runs the same ACL file through a real Mosquitto and through
// ACL, client by client and topic by topic, and asserts they agree.

// The ACL under comparison. Every user a subscribe case runs as may read
// sync/#, which the test uses to know a delivery is over.
const compareACL = `# anonymous clients
topic read public/#
topic deny public/secret
topic write anon/in
topic read sync/#

user admin
topic readwrite #
topic readwrite $x/#

user alice
topic read a/#
topic deny a/secret/#
topic write a/out
topic readwrite shared/+/data
topic read $x/alice
topic read sync/#

user bob
topic write b/#
topic read b/in
topic deny b/in/blocked
topic readwrite a/bob
topic read sync/#

user alice
topic read more/alice

user carol
topic read sync/#

user da#ve
topic write dave/out
topic read sync/#

pattern readwrite users/%u/#
pattern deny users/%u/private
pattern read clients/%c/#
pattern write up/%c/%u
pattern write open/#
pattern readwrite +/%u/dollar
pattern write dev/%c/out
`

// comparePasswords are the users of the test broker; eve has no section
// in the ACL, only patterns apply to her.
var comparePasswords = map[string]string{
	"admin": "admin-pw",
	"alice": "alice-pw",
	"bob":   "bob-pw",
	"carol": "carol-pw",
	"da#ve": "dave-pw",
	"eve":   "eve-pw",
}

type mosquitto struct {
	t    *testing.T
	port string
	log  *strings.Builder
}

// startMosquitto runs /usr/sbin/mosquitto on a free loopback port with the
// given configuration lines added, and stops it when the test ends.
func startMosquitto(t *testing.T, dir string, conf ...string) *mosquitto {
	t.Helper()
	bin := "/usr/sbin/mosquitto"
	if _, err := os.Stat(bin); err != nil {
		t.Skip("mosquitto not installed")
	}
	for _, tool := range []string{"mosquitto_pub", "mosquitto_sub", "stdbuf"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not installed")
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	lines := append([]string{"listener " + port + " 127.0.0.1", "log_dest stderr", "log_type error", "log_type warning", "log_type notice", "log_type information"}, conf...)
	if os.Geteuid() == 0 {
		// Run as root, Mosquitto would switch to its own user, which
		// cannot read the test's private directory.
		if u, err := osuser.Current(); err == nil {
			lines = append(lines, "user "+u.Username)
		}
	}
	confPath := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confPath, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", confPath)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &mosquitto{t: t, port: port, log: new(strings.Builder)}
	ready := make(chan bool, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			m.log.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), " running") {
				select {
				case ready <- true:
				default:
				}
			}
		}
		ready <- false
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		cmd.Wait()
	})
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("mosquitto exited:\n%s", m.log)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("mosquitto did not start within 10 s")
	}
	return m
}

// clientArgs returns the mosquitto_pub/sub arguments to connect as user
// ("" for anonymous) with client id cid.
func (m *mosquitto) clientArgs(user, cid string) []string {
	args := []string{"-h", "127.0.0.1", "-p", m.port, "-i", cid}
	if user != "" {
		args = append(args, "-u", user, "-P", comparePasswords[user])
	}
	return args
}

// pub publishes one QoS 1 message and waits for mosquitto_pub to finish:
// Mosquitto has then handled the PUBLISH (a denied one is acknowledged
// too, and dropped).
func (m *mosquitto) pub(user, cid, topic, payload string) {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args := append(m.clientArgs(user, cid), "-q", "1", "-t", topic, "-m", payload)
	if out, err := exec.CommandContext(ctx, "mosquitto_pub", args...).CombinedOutput(); err != nil {
		m.t.Fatalf("mosquitto_pub %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// subscriber is a running mosquitto_sub whose output lines arrive on lines.
type subscriber struct {
	cmd   *exec.Cmd
	lines chan string
}

func (m *mosquitto) sub(user, cid string, filters ...string) *subscriber {
	m.t.Helper()
	args := append(m.clientArgs(user, cid), "-v", "-d")
	for _, f := range filters {
		args = append(args, "-t", f)
	}
	// mosquitto_sub flushes its output only for messages; stdbuf makes the
	// debug lines (the SUBACK) come out as they are written.
	cmd := exec.Command("stdbuf", append([]string{"-oL", "mosquitto_sub"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		m.t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	s := &subscriber{cmd: cmd, lines: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	m.t.Cleanup(s.stop)
	if _, ok := s.waitFor(func(l string) bool { return strings.HasPrefix(l, "Subscribed") }); !ok {
		m.t.Fatalf("mosquitto_sub %s: no SUBACK", strings.Join(args, " "))
	}
	return s
}

// waitFor reads lines until one satisfies match, for at most 10 s; it
// returns the lines read before it.
func (s *subscriber) waitFor(match func(string) bool) ([]string, bool) {
	var before []string
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				return before, false
			}
			if match(l) {
				return before, true
			}
			before = append(before, l)
		case <-timeout:
			return before, false
		}
	}
}

func (s *subscriber) stop() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		for range s.lines {
		}
	}
}

func writePasswordFile(t *testing.T, path string, users map[string]string, alg func(user string) (string, int)) {
	t.Helper()
	var b strings.Builder
	for u, pw := range users {
		a, iter := alg(u)
		h, err := auth.NewHash([]byte(pw), a, iter)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(u + ":" + h.String() + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// routes reports whether the broker would route topic to a subscription
// to filter, before asking the ACL: MQTT matching, where "#" and "+" do
// not reach a $-topic.
func routes(filter, topic string) bool {
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		_, filter, _ = strings.Cut(rest, "/")
	}
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	if strings.HasPrefix(topic, "$") && (f[0] == "+" || f[0] == "#") {
		return false
	}
	for i, l := range f {
		switch {
		case l == "#":
			return true
		case i >= len(t), l != "+" && l != t[i]:
			return false
		}
	}
	return len(f) == len(t)
}

type compareCase struct {
	user, cid string
	subscribe bool
	filter    string // subscribe cases
	topic     string
}

func (c compareCase) String() string {
	who := c.user
	if who == "" {
		who = "anonymous"
	}
	if c.subscribe {
		return fmt.Sprintf("%s (%s) subscribes %s, gets %s?", who, c.cid, c.filter, c.topic)
	}
	return fmt.Sprintf("%s (%s) publishes %s", who, c.cid, c.topic)
}

func TestACLMatchesMosquitto(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mosquitto")
	}
	dir := t.TempDir()
	pwPath, aclPath := filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")
	// The passwords are hashed by mast in all the forms it writes: this
	// also checks that Mosquitto accepts them.
	writePasswordFile(t, pwPath, comparePasswords, func(u string) (string, int) {
		switch u {
		case "carol":
			return auth.AlgSHA512, 0
		case "bob":
			return auth.AlgSHA512PBKDF2, 1000
		}
		return auth.AlgSHA512PBKDF2, 0
	})
	if err := os.WriteFile(aclPath, []byte(compareACL), 0o600); err != nil {
		t.Fatal(err)
	}
	ours, err := auth.LoadACLFile(aclPath)
	if err != nil {
		t.Fatal(err)
	}
	m := startMosquitto(t, dir, "password_file "+pwPath, "acl_file "+aclPath, "allow_anonymous true")
	admin := m.sub("admin", "admin-sub", "#", "$x/#")

	pub := func(user, cid, topic string) compareCase { return compareCase{user: user, cid: cid, topic: topic} }
	sub := func(user, cid, filter, topic string) compareCase {
		return compareCase{user: user, cid: cid, subscribe: true, filter: filter, topic: topic}
	}
	cases := []compareCase{
		pub("", "anon-1", "anon/in"),
		pub("", "anon-1", "public/x"),
		pub("", "anon-1", "users/x/y"), // %u patterns skip anonymous clients
		pub("", "ok-1", "open/x"),
		pub("", "c+1", "open/x"), // a wildcard in the client id: no patterns
		pub("", "dev/1", "dev/dev/1/out"),
		pub("", "dev/1", "open/x"),
		pub("alice", "alice-1", "a/out"),
		pub("alice", "alice-1", "a/x"),
		pub("alice", "alice-1", "users/alice/x"),
		pub("alice", "alice-1", "users/alice/private"),
		pub("alice", "alice-1", "users/bob/x"),
		pub("alice", "alice-1", "shared/1/data"),
		pub("alice", "alice-1", "more/alice"),
		pub("alice", "alice-1", "$x/alice"),
		pub("alice", "alice-1", "$x/alice/dollar"), // +/%u/dollar does not reach $x
		pub("alice", "alice-1", "y/alice/dollar"),
		pub("bob", "bob-1", "b/any/deep"),
		pub("bob", "bob-1", "b/in"),
		pub("bob", "bob-1", "b/in/blocked"),
		pub("bob", "bob-1", "a/bob"),
		pub("carol", "carol-1", "up/carol-1/carol"),
		pub("carol", "carol-1", "up/other/carol"),
		pub("carol", "carol-1", "clients/carol-1/t"),
		pub("eve", "eve-1", "open/x"),
		pub("eve", "eve-1", "users/eve/deep/x"),
		pub("eve", "eve-1", "up/eve-1/eve"),
		pub("eve", "eve-1", "a/x"),
		pub("da#ve", "dave-1", "open/x"), // a wildcard in the user name: no patterns
		pub("da#ve", "dave-1", "dave/out"),
		pub("admin", "admin-1", "$x/anything"),

		sub("alice", "alice-1", "a/#", "a/x"),
		sub("alice", "alice-1", "a/#", "a/secret/y"),
		sub("alice", "alice-1", "#", "a/x"),
		sub("alice", "alice-1", "#", "b/x"),
		sub("alice", "alice-1", "#", "$x/alice"),
		sub("alice", "alice-1", "b/x", "b/x"),
		sub("alice", "alice-1", "users/alice/#", "users/alice/x"),
		sub("alice", "alice-1", "users/alice/#", "users/alice/private"),
		sub("alice", "alice-1", "shared/+/data", "shared/1/data"),
		sub("alice", "alice-1", "$x/alice", "$x/alice"),
		sub("alice", "alice-1", "$x/+/dollar", "$x/alice/dollar"),
		sub("alice", "alice-1", "+/alice/dollar", "y/alice/dollar"),
		sub("alice", "alice-1", "more/alice", "more/alice"),
		sub("alice", "alice-1", "$share/g/a/#", "a/x"),
		sub("bob", "bob-1", "b/#", "b/in"),
		sub("bob", "bob-1", "b/#", "b/other"),
		sub("bob", "bob-1", "a/bob", "a/bob"),
		sub("carol", "carol-1", "clients/carol-1/#", "clients/carol-1/x"),
		sub("carol", "carol-1", "clients/+/x", "clients/other/x"),
		sub("carol", "carol-1", "users/carol", "users/carol"),
		sub("", "anon-1", "public/#", "public/x"),
		sub("", "anon-1", "public/#", "public/secret"),
		sub("", "anon-1", "#", "anon/in"),
		sub("", "dev/1", "clients/dev/1/#", "clients/dev/1/t"),
		sub("", "c+1", "public/#", "public/y"),
		sub("da#ve", "dave-1", "#", "dave/out"), // write only: not delivered
	}

	type result struct {
		c                    compareCase
		mosquitto, mast      bool
		mastSubscribeGranted bool
	}
	var results []result
	for i, c := range cases {
		n := strconv.Itoa(i)
		payload, syncTopic, syncPayload := "case-"+n, "sync/"+n, "sync-"+n
		isSync := func(l string) bool { return l == syncTopic+" "+syncPayload }
		var before []string
		var ok bool
		client := &auth.Client{ClientID: c.cid, Username: c.user, HasUsername: c.user != ""}
		r := result{c: c}
		if c.subscribe {
			s := m.sub(c.user, c.cid, c.filter, syncTopic)
			m.pub("admin", "admin-pub", c.topic, payload)
			m.pub("admin", "admin-pub", syncTopic, syncPayload)
			before, ok = s.waitFor(isSync)
			s.stop()
			r.mastSubscribeGranted = ours.Allow(client, c.filter, auth.Subscribe)
			r.mast = r.mastSubscribeGranted && routes(c.filter, c.topic) && ours.Allow(client, c.topic, auth.Read)
		} else {
			m.pub(c.user, c.cid, c.topic, payload)
			m.pub("admin", "admin-pub", syncTopic, syncPayload)
			before, ok = admin.waitFor(isSync)
			r.mast = ours.Allow(client, c.topic, auth.Write)
		}
		if !ok {
			t.Fatalf("%s: the sync message did not arrive\nmosquitto log:\n%s", c, m.log)
		}
		for _, l := range before {
			if l == c.topic+" "+payload {
				r.mosquitto = true
			}
		}
		results = append(results, r)
	}

	word := map[bool]string{true: "allow", false: "deny"}
	var table strings.Builder
	for _, r := range results {
		mark := "same"
		if r.mosquitto != r.mast {
			mark = "DIFFERENT"
			t.Errorf("%s: mosquitto %s, mast %s", r.c, word[r.mosquitto], word[r.mast])
		}
		extra := ""
		if r.c.subscribe && !r.mastSubscribeGranted {
			extra = " (mast refuses the SUBSCRIBE; mosquitto grants it and delivers nothing)"
		}
		fmt.Fprintf(&table, "%-70s mosquitto=%-5s mast=%-5s %s%s\n", r.c, word[r.mosquitto], word[r.mast], mark, extra)
	}
	t.Logf("%d cases:\n%s", len(results), table.String())
	admin.stop()
}
