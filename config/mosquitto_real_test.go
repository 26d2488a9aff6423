package config_test

import (
	"bytes"
	"context"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mastmq/mast/config"
	"github.com/mastmq/mast/listener"
	"github.com/mastmq/mast/listener/listenertest"
)

// TestFixturesRunInMosquitto keeps the fixtures honest: each one that mast
// accepts is started in Debian's real Mosquitto (ports moved to free
// ones, certificates made here), and every listener mast reads from it is
// tried with mosquitto_pub the way mast understood it: anonymous clients
// let in where mast lets them in and refused where mast refuses them, a
// password login where there is a password file, TLS and client
// certificates where mast sees them.
func TestFixturesRunInMosquitto(t *testing.T) {
	mosq, err := exec.LookPath("mosquitto")
	if err != nil {
		if mosq, err = exec.LookPath("/usr/sbin/mosquitto"); err != nil {
			t.Skip("mosquitto is not installed (Debian: apt install mosquitto mosquitto-clients)")
		}
	}
	pub, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		t.Skip("mosquitto_pub is not installed")
	}
	for _, name := range []string{"default-listener.conf", "listeners-tls.conf", "per-listener.conf", "include-dir.conf"} {
		t.Run(name, func(t *testing.T) { runInMosquitto(t, mosq, pub, name) })
	}
}

func runInMosquitto(t *testing.T, mosq, pub, name string) {
	// A directory Mosquitto can still read after dropping root for its
	// own user: t.TempDir's parent is private to us.
	tmp, err := os.MkdirTemp("", "mast-mosquitto-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	os.Chmod(tmp, 0o755)
	copyTree(t, filepath.Join("testdata", "mosquitto"), filepath.Join(tmp, "testdata", "mosquitto"))
	certs := filepath.Join(tmp, "testdata", "mosquitto", "certs")
	os.Mkdir(certs, 0o755)
	pki, err := listenertest.New(certs)
	if err != nil {
		t.Fatal(err)
	}
	// Mosquitto writes its database, and binds unix sockets, as its own
	// user.
	for _, d := range []string{"data", "run"} {
		dir := filepath.Join(tmp, "testdata", "mosquitto", d)
		os.Mkdir(dir, 0o777)
		os.Chmod(dir, 0o777)
	}
	moveToFreePorts(t, filepath.Join(tmp, "testdata", "mosquitto"))

	t.Chdir(tmp) // the fixtures' paths are relative, for mast and Mosquitto alike
	main := filepath.Join("testdata", "mosquitto", name)
	c, err := config.LoadMosquitto(main)
	if err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	cmd := exec.Command(mosq, "-c", main)
	cmd.Dir, cmd.Stdout, cmd.Stderr = tmp, &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("mosquitto said:\n%s", out.String())
		}
	}()

	for _, l := range c.Listeners {
		waitListening(t, l, exited)
		auth := listener.Auth{AllowAnonymous: c.Auth.AllowAnonymous, PasswordFile: c.Auth.PasswordFile, ACLFile: c.Auth.ACLFile}
		if l.Auth != nil {
			auth = *l.Auth
		}
		args := []string{"-t", "mast/fixture", "-m", "hello", "-q", "1", "-i", "mast-fixture-test"}
		if l.Network == "unix" {
			args = append(args, "--unix", l.Address)
		} else {
			_, port, _ := net.SplitHostPort(l.Address)
			args = append(args, "-h", "127.0.0.1", "-p", port)
		}
		if l.TLS != nil {
			args = append(args, "--cafile", pki.CAFile)
			if l.TLS.RequireCertificate {
				args = append(args, "--cert", pki.ClientCertFile, "--key", pki.ClientKeyFile)
			}
		}
		identity := l.TLS != nil && (l.TLS.UseIdentityAsUsername || l.TLS.UseSubjectAsUsername)
		anonymous := identity || (auth.AllowAnonymous != nil && *auth.AllowAnonymous)
		got, err := runPub(pub, args...)
		switch {
		case anonymous && err != nil:
			t.Errorf("listener %s: mast lets anonymous clients in, Mosquitto refused: %v\n%s", l, err, got)
		case !anonymous && err == nil:
			t.Errorf("listener %s: mast refuses anonymous clients, Mosquitto let one in", l)
		case !anonymous && !strings.Contains(got, "not authori"):
			t.Errorf("listener %s: anonymous client failed, but not for authorisation: %v\n%s", l, err, got)
		}
		if auth.PasswordFile != "" && !identity {
			if got, err := runPub(pub, append(args, "-u", "alice", "-P", "alice-secret")...); err != nil {
				t.Errorf("listener %s: alice's login refused: %v\n%s", l, err, got)
			}
			if _, err := runPub(pub, append(args, "-u", "alice", "-P", "wrong")...); err == nil {
				t.Errorf("listener %s: a wrong password was accepted", l)
			}
		}
	}
}

func runPub(pub string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, pub, args...).CombinedOutput()
	return string(out), err
}

func waitListening(t *testing.T, l listener.Config, exited <-chan struct{}) {
	t.Helper()
	network, addr := "unix", l.Address
	if l.Network != "unix" {
		_, port, _ := net.SplitHostPort(l.Address)
		network, addr = "tcp", net.JoinHostPort("127.0.0.1", port)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatal("mosquitto exited")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto is not listening on %s %s: %v", network, addr, err)
		}
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

var portLine = regexp.MustCompile(`(?m)^(listener|port)([ \t]+)([1-9][0-9]*)`)

// moveToFreePorts rewrites every listener and port line under dir to a
// free port, the same port for the same number across files.
func moveToFreePorts(t *testing.T, dir string) {
	t.Helper()
	ports := map[string]string{}
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".conf") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b = portLine.ReplaceAllFunc(b, func(m []byte) []byte {
			sub := portLine.FindSubmatch(m)
			n := string(sub[3])
			if ports[n] == "" {
				ports[n] = free()
			}
			return []byte(string(sub[1]) + string(sub[2]) + ports[n])
		})
		return os.WriteFile(path, b, 0o644)
	})
}
