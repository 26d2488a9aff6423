package auth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mastmq/mast/auth"
)

// The passwords of testdata/mosquitto.passwd, which Debian's
// mosquitto_passwd 2.0.11 wrote.
var mosquittoUsers = map[string]string{
	"alice": "alice-secret",
	"bob":   "b0b:with spaces & ünïcode",
	"carol": "carol-1x-hash", // written with -H sha512: a $6$ hash
	"empty": "",
}

func login(user, password string) *auth.Client {
	return &auth.Client{ClientID: "c1", Username: user, HasUsername: true, Password: []byte(password), HasPassword: true}
}

func TestPasswordFileFromMosquitto(t *testing.T) {
	p, err := auth.LoadPasswordFile("testdata/mosquitto.passwd")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Users(), ","); got != "alice,bob,carol,empty" {
		t.Fatalf("users %s", got)
	}
	ctx := context.Background()
	for user, pw := range mosquittoUsers {
		if err := p.Authenticate(ctx, login(user, pw)); err != nil {
			t.Errorf("%s with the right password: %v", user, err)
		}
		if err := p.Authenticate(ctx, login(user, pw+"x")); !errors.Is(err, auth.ErrBadCredentials) {
			t.Errorf("%s with a wrong password: %v, want ErrBadCredentials", user, err)
		}
	}
}

// TestPasswordFileFromMosquittoPasswd has the installed mosquitto_passwd
// write a file now, in both hash formats, and reads it.
func TestPasswordFileFromMosquittoPasswd(t *testing.T) {
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd not installed")
	}
	file := filepath.Join(t.TempDir(), "passwd")
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd %s: %v\n%s", args, err, out)
		}
	}
	run("-c", "-b", file, "u1", "pw one")
	run("-b", file, "u2", "pw:two")
	run("-H", "sha512", "-b", file, "u3", "pw3")
	run("-H", "sha512-pbkdf2", "-b", file, "u4", "ω")
	p, err := auth.LoadPasswordFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for user, pw := range map[string]string{"u1": "pw one", "u2": "pw:two", "u3": "pw3", "u4": "ω"} {
		if err := p.Authenticate(ctx, login(user, pw)); err != nil {
			t.Errorf("%s: %v", user, err)
		}
		if err := p.Authenticate(ctx, login(user, "nope")); !errors.Is(err, auth.ErrBadCredentials) {
			t.Errorf("%s with a wrong password: %v", user, err)
		}
	}
}

func TestAuthenticateRefusals(t *testing.T) {
	p, err := auth.LoadPasswordFile("testdata/mosquitto.passwd")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		client *auth.Client
		want   error
	}{
		{"unknown user", login("mallory", "alice-secret"), auth.ErrBadCredentials},
		{"no password", &auth.Client{Username: "alice", HasUsername: true}, auth.ErrBadCredentials},
		{"empty password for a user with one", login("alice", ""), auth.ErrBadCredentials},
		{"user name differs in case", login("Alice", "alice-secret"), auth.ErrBadCredentials},
		{"anonymous", &auth.Client{ClientID: "x"}, auth.ErrNotAuthorized},
		{"empty user name", login("", ""), auth.ErrBadCredentials},
	} {
		if err := p.Authenticate(ctx, c.client); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// The empty password is a password like any other.
	if err := p.Authenticate(ctx, login("empty", "")); err != nil {
		t.Errorf("empty password: %v", err)
	}
	if err := p.Authenticate(ctx, &auth.Client{Username: "empty", HasUsername: true}); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("no password where the empty one is expected: %v", err)
	}
}

func TestAllowAnonymous(t *testing.T) {
	p, err := auth.LoadPasswordFile("testdata/mosquitto.passwd")
	if err != nil {
		t.Fatal(err)
	}
	a := auth.AllowAnonymous(p)
	ctx := context.Background()
	if err := a.Authenticate(ctx, &auth.Client{ClientID: "anon"}); err != nil {
		t.Errorf("anonymous: %v", err)
	}
	if err := a.Authenticate(ctx, login("alice", "alice-secret")); err != nil {
		t.Errorf("alice: %v", err)
	}
	if err := a.Authenticate(ctx, login("alice", "wrong")); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("alice, wrong password: %v", err)
	}
}

func TestParsePasswordFile(t *testing.T) {
	h7, _ := auth.NewHash([]byte("x"), auth.AlgSHA512PBKDF2, 0)
	h6, _ := auth.NewHash([]byte("y"), auth.AlgSHA512, 0)
	ok := "# comment\n\n   # indented comment\r\n" +
		"a:" + h7.String() + "\r\n" +
		"  b :\t" + h6.String() + "  \n" +
		"c:" + h7.String() // no final newline
	p, err := auth.ParsePasswordFile("ok", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Users(), ","); got != "a,b,c" {
		t.Errorf("users %q", got)
	}
	ctx := context.Background()
	if err := p.Authenticate(ctx, login("b", "y")); err != nil {
		t.Errorf("b: %v", err)
	}

	for _, c := range []struct {
		name, text string
		line       int
		msg        string
	}{
		{"no colon", "a:" + h7.String() + "\nbob\n", 2, "no ':'"},
		{"empty user", ":" + h7.String(), 1, "empty user name"},
		{"plain text", "\n\nalice:secret\n", 3, "not hashed"},
		{"no hash", "alice:\n", 1, "not hashed"},
		{"duplicate", "a:" + h7.String() + "\n# x\na:" + h6.String(), 3, "already defined on line 1"},
		{"extra field", "a:" + h7.String() + ":x", 1, "unexpected ':'"},
		{"unknown type", "a:$5$abc$def", 1, "unknown hash type"},
		{"argon2", "a:$argon2id$v=19$m=47104,t=1,p=1$c2FsdA$aGFzaA", 1, "unknown hash type"},
		{"bad iterations", "a:$7$0$" + strings.SplitN(h7.String(), "$", 4)[3], 1, "iteration"},
		{"bad base64", "a:$6$!!!!$xyz", 1, "bad salt"},
		{"short hash", "a:$6$AAAAAAAAAAAAAAAA$AAAA", 1, "bad hash"},
	} {
		_, err := auth.ParsePasswordFile("pw.txt", []byte(c.text))
		var fe *auth.FileError
		if !errors.As(err, &fe) {
			t.Errorf("%s: error %v, want a *FileError", c.name, err)
			continue
		}
		if fe.File != "pw.txt" || fe.Line != c.line || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %q, want pw.txt line %d saying %q", c.name, err, c.line, c.msg)
		}
		if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "AAAAAAAAAAAAAAAA") {
			t.Errorf("%s: the error %q repeats the password or hash", c.name, err)
		}
	}

	if _, err := auth.LoadPasswordFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestHash(t *testing.T) {
	for _, alg := range []string{"", auth.AlgSHA512PBKDF2, auth.AlgSHA512} {
		h, err := auth.NewHash([]byte("pässword"), alg, 0)
		if err != nil {
			t.Fatal(err)
		}
		text := h.String()
		re := `^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$`
		if alg == auth.AlgSHA512 {
			re = `^\$6\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$`
		}
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("%q: %s does not look like what mosquitto_passwd writes", alg, text)
		}
		back, err := auth.ParseHash(text)
		if err != nil {
			t.Fatal(err)
		}
		if back.String() != text || back.Algorithm() != h.Algorithm() {
			t.Errorf("%q: round trip %s -> %s", alg, text, back)
		}
		if !back.Verify([]byte("pässword")) || back.Verify([]byte("password")) || back.Verify(nil) {
			t.Errorf("%q: Verify is wrong", alg)
		}
	}
	h, err := auth.NewHash([]byte("x"), "", 20000)
	if err != nil || h.Iterations() != 20000 || !strings.HasPrefix(h.String(), "$7$20000$") || !h.Verify([]byte("x")) {
		t.Errorf("20000 iterations: %v %s", err, h)
	}
	if _, err := auth.NewHash([]byte("x"), "md5", 0); err == nil {
		t.Error("md5 accepted")
	}
	if _, err := auth.NewHash([]byte("x"), "", -1); err == nil {
		t.Error("-1 iterations accepted")
	}
	var zero auth.Hash
	if zero.Verify(nil) || zero.Verify([]byte("")) {
		t.Error("the zero Hash matches")
	}
	// A 64-byte salt, as Mosquitto 2.1 writes, and no padding.
	b64 := base64.StdEncoding.EncodeToString(make([]byte, 64))
	long := "$7$101$" + b64 + "$" + strings.TrimRight(b64, "=")
	if _, err := auth.ParseHash(long); err != nil {
		t.Errorf("64-byte salt, unpadded hash: %v", err)
	}
}
