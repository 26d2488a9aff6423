package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mastmq/mast/auth"
)

// runPW runs mast passwd with stdin, returning the exit code and stderr.
func runPW(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := passwd(args, strings.NewReader(stdin), &out, &errb)
	return code, errb.String()
}

func mustRunPW(t *testing.T, stdin string, args ...string) {
	t.Helper()
	if code, msg := runPW(t, stdin, args...); code != 0 {
		t.Fatalf("mast passwd %s: exit %d: %s", strings.Join(args, " "), code, msg)
	}
}

// checkLogin asserts what the password file at path answers for user.
func checkLogin(t *testing.T, path, user, password string, want error) {
	t.Helper()
	p, err := auth.LoadPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := &auth.Client{ClientID: "c", Username: user, HasUsername: true, Password: []byte(password), HasPassword: true}
	if err := p.Authenticate(context.Background(), c); !errors.Is(err, want) {
		t.Errorf("%s/%q: %v, want %v", user, password, err, want)
	}
}

func TestPasswdEdits(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	mustRunPW(t, "", "-c", "-b", file, "alice", "a-pw")
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new file: %v %v, want mode 0600", fi.Mode(), err)
	}
	mustRunPW(t, "", "-b", file, "bob", "b pw:with colon")
	mustRunPW(t, "", "-H", "sha512", "-b", file, "carol", "c-pw")
	mustRunPW(t, "", "-I", "1000", "-b", file, "dave", "d-pw")
	data, _ := os.ReadFile(file)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "alice:$7$101$") || !strings.HasPrefix(lines[2], "carol:$6$") || !strings.HasPrefix(lines[3], "dave:$7$1000$") {
		t.Fatalf("file:\n%s", data)
	}
	checkLogin(t, file, "alice", "a-pw", nil)
	checkLogin(t, file, "bob", "b pw:with colon", nil)
	checkLogin(t, file, "carol", "c-pw", nil)
	checkLogin(t, file, "dave", "d-pw", nil)

	// Changing a password keeps the other lines, comments included, in
	// place, and keeps the file itself (mode and inode).
	if err := os.WriteFile(file, []byte("# users\n\n"+string(data)), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(file, 0o640)
	before, _ := os.Stat(file)
	mustRunPW(t, "", "-b", file, "bob", "new")
	after, _ := os.Stat(file)
	if after.Mode().Perm() != 0o640 || !os.SameFile(before, after) {
		t.Errorf("the file was replaced (mode %v)", after.Mode())
	}
	if _, err := os.Stat(file + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("backup left behind: %v", err)
	}
	data2, _ := os.ReadFile(file)
	lines2 := strings.Split(string(data2), "\n")
	if lines2[0] != "# users" || lines2[1] != "" || lines2[2] != lines[0] || !strings.HasPrefix(lines2[3], "bob:") || lines2[3] == lines[1] || lines2[4] != lines[2] {
		t.Errorf("after changing bob:\n%s", data2)
	}
	checkLogin(t, file, "bob", "new", nil)
	checkLogin(t, file, "bob", "b pw:with colon", auth.ErrBadCredentials)
	checkLogin(t, file, "alice", "a-pw", nil)

	// Deleting.
	mustRunPW(t, "", "-D", file, "carol")
	checkLogin(t, file, "carol", "c-pw", auth.ErrBadCredentials)
	checkLogin(t, file, "alice", "a-pw", nil)
	unchanged, _ := os.ReadFile(file)
	if code, msg := runPW(t, "", "-D", file, "carol"); code != 1 || !strings.Contains(msg, "not found") {
		t.Errorf("deleting a missing user: exit %d %q", code, msg)
	}
	if now, _ := os.ReadFile(file); !bytes.Equal(now, unchanged) {
		t.Error("a failed delete changed the file")
	}

	// -c overwrites.
	mustRunPW(t, "", "-c", "-b", file, "zed", "z")
	if p, err := auth.LoadPasswordFile(file); err != nil || strings.Join(p.Users(), ",") != "zed" {
		t.Errorf("after -c: %v %v", p.Users(), err)
	}
}

func TestPasswdPrompt(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	mustRunPW(t, "s3cret\ns3cret\n", "-c", file, "alice")
	checkLogin(t, file, "alice", "s3cret", nil)
	mustRunPW(t, "p w\r\np w\r\n", file, "bob") // CRLF, blanks kept
	checkLogin(t, file, "bob", "p w", nil)
	for _, c := range []struct{ stdin, msg string }{
		{"one\ntwo\n", "do not match"},
		{"\n\n", "empty password"},
		{"only-once\n", "no password"},
		{"", "no password"},
	} {
		if code, msg := runPW(t, c.stdin, file, "carol"); code != 1 || !strings.Contains(msg, c.msg) {
			t.Errorf("stdin %q: exit %d %q, want %q", c.stdin, code, msg, c.msg)
		}
	}
	// A missing file is reported before the password is asked for.
	if code, msg := runPW(t, "", filepath.Join(t.TempDir(), "nope"), "carol"); code != 1 || !strings.Contains(msg, "no such file") {
		t.Errorf("missing file: exit %d %q", code, msg)
	}
}

func TestPasswdUpgrade(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	h, _ := auth.NewHash([]byte("kept"), "", 0)
	plain := "# plain text, as Mosquitto without TLS read it\n" +
		"alice:alice pw\n" +
		"bob:" + h.String() + "\n" +
		"\n" +
		"carol:c:olon\n"
	if err := os.WriteFile(file, []byte(plain), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.LoadPasswordFile(file); err == nil || !strings.Contains(err.Error(), "mast passwd -U") {
		t.Fatalf("plain file loaded: %v", err)
	}
	mustRunPW(t, "", "-U", file)
	checkLogin(t, file, "alice", "alice pw", nil)
	checkLogin(t, file, "bob", "kept", nil) // the hash was not hashed again
	checkLogin(t, file, "carol", "c:olon", nil)
	data, _ := os.ReadFile(file)
	if !strings.HasPrefix(string(data), "# plain text") || !strings.Contains(string(data), "bob:"+h.String()+"\n\n") {
		t.Errorf("comments or hashes not kept:\n%s", data)
	}
}

func TestPasswdUsage(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	mustRunPW(t, "", "-c", "-b", file, "alice", "x")
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-c", "-D", file, "alice"}, 2, "cannot be used together"},
		{[]string{"-U", "-b", file}, 2, "-U takes no"},
		{[]string{"-b", file, "alice"}, 2, "want 3 arguments"},
		{[]string{file}, 2, "want 2 arguments"},
		{[]string{"-U", file, "alice"}, 2, "want 1 arguments"},
		{[]string{"-H", "md5", "-b", file, "a", "b"}, 2, "-H"},
		{[]string{"-I", "0", "-b", file, "a", "b"}, 2, "-I"},
		{[]string{"-b", file, "a:b", "x"}, 1, "':'"},
		{[]string{"-b", file, "", "x"}, 1, "empty user name"},
		{[]string{"-b", file, "#root", "x"}, 1, "comment"},
		{[]string{"-b", file, " bob", "x"}, 1, "space"},
		{[]string{"-b", file, "bo\nb", "x"}, 1, "control"},
		{[]string{"-x"}, 2, "flag provided but not defined"},
	} {
		code, msg := runPW(t, "", c.args...)
		if code != c.code || !strings.Contains(msg, c.msg) {
			t.Errorf("%q: exit %d %q, want %d %q", c.args, code, msg, c.code, c.msg)
		}
	}
	if code, _ := runPW(t, "", "-h"); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
	checkLogin(t, file, "alice", "x", nil) // untouched by all that
}

// TestPasswdFilesWorkWithMosquitto has a real Mosquitto check logins
// against a file mast passwd wrote, in every form it writes, and has
// mast passwd edit a file mosquitto_passwd wrote.
func TestPasswdFilesWorkWithMosquitto(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mosquitto")
	}
	for _, tool := range []string{"/usr/sbin/mosquitto", "mosquitto_pub", "mosquitto_passwd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not installed")
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "passwd")
	// mosquitto_passwd starts the file; mast passwd adds to it.
	if out, err := exec.Command("mosquitto_passwd", "-c", "-b", file, "old", "old-pw").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v %s", err, out)
	}
	mustRunPW(t, "", "-b", file, "alice", "alice pw")
	mustRunPW(t, "", "-H", "sha512", "-b", file, "legacy", "legacy-pw")
	mustRunPW(t, "", "-I", "5000", "-b", file, "slow", "slow-pw")
	mustRunPW(t, "prömpted\nprömpted\n", file, "prompted")
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, []byte("upgraded:up-pw\n"), 0o600)
	mustRunPW(t, "", "-U", plain)
	up, _ := os.ReadFile(plain)
	f, _ := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(up)
	f.Close()
	checkLogin(t, file, "old", "old-pw", nil)

	port := startMosquittoForPasswd(t, dir, "password_file "+file, "allow_anonymous false")
	login := func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		args = append([]string{"-h", "127.0.0.1", "-p", port, "-t", "t", "-m", "m"}, args...)
		return exec.CommandContext(ctx, "mosquitto_pub", args...).Run()
	}
	for user, pw := range map[string]string{"old": "old-pw", "alice": "alice pw", "legacy": "legacy-pw", "slow": "slow-pw", "prompted": "prömpted", "upgraded": "up-pw"} {
		if err := login("-u", user, "-P", pw); err != nil {
			t.Errorf("mosquitto refused %s with the right password: %v", user, err)
		}
		if err := login("-u", user, "-P", pw+"!"); err == nil {
			t.Errorf("mosquitto let %s in with a wrong password", user)
		}
	}
	if err := login(); err == nil {
		t.Error("mosquitto let an anonymous client in")
	}
}

// startMosquittoForPasswd runs /usr/sbin/mosquitto on a free loopback port
// until the test ends, and returns the port.
func startMosquittoForPasswd(t *testing.T, dir string, conf ...string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	lines := append([]string{"listener " + port + " 127.0.0.1", "log_dest stderr", "log_type error", "log_type warning", "log_type notice", "log_type information"}, conf...)
	if os.Geteuid() == 0 {
		// As root Mosquitto would become its own user, who cannot read
		// the test's private directory.
		if u, err := user.Current(); err == nil {
			lines = append(lines, "user "+u.Username)
		}
	}
	confPath := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confPath, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/sbin/mosquitto", "-c", confPath)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	var log strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if !sent && strings.Contains(sc.Text(), " running") {
				ready <- true
				sent = true
			}
		}
		if !sent {
			ready <- false
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-done
		cmd.Wait()
	})
	select {
	case ok := <-ready:
		if !ok {
			<-done
			t.Fatalf("mosquitto exited:\n%s", log.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("mosquitto did not start within 10 s")
	}
	return port
}
