package hostile_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mastmq/mast/packet"
)

// Every password the test uses, right and wrong: distinctive strings that
// nothing else in a log could contain.
const (
	pwAlice     = "pw-Zq81x-alice"     // alice's, in the password file
	pwBob       = "pw-Kd93v-bob"       // bob's, in the password file
	pwMosqWrong = "pw-Mq47t-wrong"     // mosquitto_pub, wrong for alice
	pwMosqV5    = "pw-Vf52n-wrong5"    // mosquitto_pub -V mqttv5, wrong
	pwNoSuch    = "pw-Nu06k-nouser"    // mosquitto_pub, a user the file lacks
	pwRaw311    = "pw-Rw19c-raw311"    // raw 3.1.1 CONNECT, wrong
	pwRaw5      = "pw-Rf28d-raw5"      // raw v5 CONNECT, wrong
	pwRaw31     = "pw-Rt37e-raw31"     // raw 3.1 CONNECT, wrong
	pwNoUser5   = "pw-Ru46f-nouser5"   // v5 password without a user name
	pwNoUser311 = "pw-Rv55g-flag"      // 3.1.1 password flag without user name flag (malformed)
	pwTrunc     = "pw-Rx64h-truncated" // CONNECT cut off inside the password
	pwTrailing  = "pw-Ry73i-trailing"  // CONNECT with bytes after the password (malformed)
	pwBadUTF8   = "pw-Rz82j-badutf8"   // CONNECT whose user name is not UTF-8
	authData    = "pw-Ad91k-authdata"  // v5 Authentication Data (enhanced auth is refused)
)

var allPasswords = []string{pwAlice, pwBob, pwMosqWrong, pwMosqV5, pwNoSuch, pwRaw311, pwRaw5, pwRaw31,
	pwNoUser5, pwNoUser311, pwTrunc, pwTrailing, pwBadUTF8, authData}

// leakForms are the ways a secret could be written into a log: as it is,
// base64 (standard, URL, unpadded), hex (lower, upper, spaced), and the
// decimal bytes Go prints for a []byte.
func leakForms(secret string) []string {
	b := []byte(secret)
	var dec []string
	for _, c := range b {
		dec = append(dec, fmt.Sprint(c))
	}
	return []string{
		secret,
		base64.StdEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b),
		hex.EncodeToString(b),
		strings.ToUpper(hex.EncodeToString(b)),
		fmt.Sprintf("% x", b),
		fmt.Sprintf("% X", b),
		strings.Join(dec, " "),
		strings.Join(dec, ","),
	}
}

// lockedBuffer is the broker's whole console, written by the process and
// read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var listeningRE = regexp.MustCompile(`listening on tcp (127\.0\.0\.1:[0-9]+)`)

// TestPasswordsNotLogged runs the mast binary with a password file and its
// console at debug level with a line per packet (mosquitto -v), in text and
// JSON, and connects with right and wrong passwords: Debian's mosquitto_pub
// in 3.1, 3.1.1 and 5, and hand-made CONNECTs, well-formed, malformed,
// truncated, and with v5 authentication data. After the broker has
// stopped, its whole output (stderr and stdout) contains none of the
// passwords, in clear, base64 or hex.
//
// Memory is not the point here; no bound is asserted.
func TestPasswordsNotLogged(t *testing.T) {
	mosquittoPub, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		t.Fatalf("mosquitto_pub is not installed: run scripts/install-test-deps.sh (make deps): %v", err)
	}
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "passwd")
	for _, args := range [][]string{
		{"passwd", "-c", "-b", pwFile, "alice", pwAlice},
		{"passwd", "-b", pwFile, "bob", pwBob},
	} {
		if out, err := exec.Command(mastBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("mast %s: %v\n%s", strings.Join(args[:len(args)-1], " "), err, out)
		}
	}

	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			cfg := filepath.Join(dir, "mast-"+format+".yaml")
			yaml := fmt.Sprintf(`listeners:
  - address: 127.0.0.1:0
auth:
  password_file: %s
log:
  level: debug
  format: %s
  verbose: true
persistence:
  memory: true
sys_interval: 0
`, pwFile, format)
			if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var console lockedBuffer
			cmd := exec.Command(mastBin, "serve", "-c", cfg)
			cmd.Dir = dir
			cmd.Stdout = &console
			cmd.Stderr = &console
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			stopped := false
			stop := func() {
				if stopped {
					return
				}
				stopped = true
				cmd.Process.Signal(syscall.SIGINT)
				select {
				case err := <-exited:
					if err != nil {
						t.Errorf("mast serve exited: %v", err)
					}
				case <-time.After(waitTimeout):
					cmd.Process.Kill()
					<-exited
					t.Errorf("mast serve still running %v after SIGINT", waitTimeout)
				}
			}
			defer stop()

			// The address, once the console says it listens. The process
			// writes it once; there is no other signal to wait on.
			var addr string
			for deadline := time.Now().Add(waitTimeout); addr == ""; {
				if m := listeningRE.FindStringSubmatch(console.String()); m != nil {
					addr = m[1]
					break
				}
				select {
				case err := <-exited:
					t.Fatalf("mast serve exited before listening: %v\n%s", err, console.String())
				case <-time.After(10 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatalf("mast serve not listening after %v:\n%s", waitTimeout, console.String())
				}
			}
			host, port, _ := net.SplitHostPort(addr)

			mosq := func(wantOK bool, version, user, password string) {
				t.Helper()
				out, err := exec.Command(mosquittoPub, "-h", host, "-p", port, "-V", version,
					"-i", uniqueID("mosq"), "-u", user, "-P", password, "-t", "hostile/pw", "-m", "hi").CombinedOutput()
				if (err == nil) != wantOK {
					t.Errorf("mosquitto_pub -V %s -u %s: %v, want success %v\n%s", version, user, err, wantOK, out)
				}
			}
			raw := func(cp *packet.Connect, want byte) {
				t.Helper()
				c := dial(t, addr, cp.ClientID)
				defer c.nc.Close()
				ack, err := c.tryConnect(cp)
				switch {
				case ack == nil:
					t.Errorf("raw CONNECT %s: %v, want CONNACK 0x%02X", cp.ClientID, err, want)
				case ack.ReasonCode != want:
					t.Errorf("raw CONNECT %s: CONNACK 0x%02X, want 0x%02X", cp.ClientID, ack.ReasonCode, want)
				}
			}
			// rawBytes sends a hand-made CONNECT and expects the broker to
			// close without CONNACK.
			rawBytes := func(name string, b []byte, halfClose bool) {
				t.Helper()
				c := dial(t, addr, name)
				defer c.nc.Close()
				c.rd.Version = v311
				c.sendRaw(b)
				if halfClose {
					c.nc.(*net.TCPConn).CloseWrite()
				}
				if got := c.waitClosed(waitTimeout); len(got) != 0 {
					t.Errorf("%s: got %v before the close, want none", name, got[0].Type())
				}
			}
			// A successful login after each failed one: the broker slows
			// down an address that keeps failing, and a success resets it.
			good := func() {
				t.Helper()
				raw(&packet.Connect{Version: v311, CleanStart: true, ClientID: uniqueID("good"), UsernameFlag: true, Username: "alice", PasswordFlag: true, Password: []byte(pwAlice)}, 0)
			}

			mosq(true, "mqttv311", "alice", pwAlice)
			mosq(true, "mqttv5", "alice", pwAlice)
			mosq(true, "mqttv31", "bob", pwBob)
			mosq(false, "mqttv311", "alice", pwMosqWrong)
			good()
			mosq(false, "mqttv5", "alice", pwMosqV5)
			good()
			mosq(false, "mqttv311", "nosuchuser", pwNoSuch)
			good()

			cp := func(version byte, user string, password string) *packet.Connect {
				return &packet.Connect{Version: version, CleanStart: true, ClientID: uniqueID("raw"),
					UsernameFlag: user != "", Username: user, PasswordFlag: true, Password: []byte(password)}
			}
			raw(cp(v311, "bob", pwBob), 0)
			raw(cp(v311, "alice", pwRaw311), packet.ConnRefusedBadCredentials)
			good()
			raw(cp(v5, "alice", pwRaw5), packet.BadUsernameOrPassword)
			good()
			raw(cp(packet.Version31, "alice", pwRaw31), packet.ConnRefusedBadCredentials)
			good()
			raw(cp(v5, "", pwNoUser5), packet.NotAuthorized)
			good()
			withAuth := cp(v5, "alice", pwAlice)
			withAuth.Properties.AuthMethod = "SCRAM-SHA-256"
			withAuth.Properties.Set(packet.PropAuthMethod)
			withAuth.Properties.AuthData = []byte(authData)
			withAuth.Properties.Set(packet.PropAuthData)
			raw(withAuth, packet.BadAuthMethod)

			// Malformed CONNECTs that carry a password, written by hand.
			connect311 := func(flags byte, fields ...[]byte) []byte {
				body := []byte{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, flags, 0x00, 0x3C}
				for _, f := range fields {
					body = append(body, byte(len(f)>>8), byte(len(f)))
					body = append(body, f...)
				}
				return append(append([]byte{0x10}, varInt(len(body))...), body...)
			}
			// Password flag (0x40) without the user name flag [MQTT-3.1.2-22].
			rawBytes("noflag", connect311(0x42, []byte("noflag"), []byte(pwNoUser311)), false)
			// Cut off 4 bytes before the end of the password.
			whole := connect311(0xC2, []byte("trunc"), []byte("alice"), []byte(pwTrunc))
			rawBytes("trunc", whole[:len(whole)-4], true)
			// Two bytes after the password that no field accounts for.
			trailing := connect311(0xC2, []byte("trailing"), []byte("alice"), []byte(pwTrailing))
			trailing = append(trailing, 0xAB, 0xCD)
			trailing[1] += 2 // remaining length (under 128 here, one byte)
			rawBytes("trailing", trailing, false)
			// A user name that is not UTF-8.
			rawBytes("badutf8", connect311(0xC2, []byte("badutf8"), []byte{0xC3, 0x28, 'x'}, []byte(pwBadUTF8)), false)

			stop()
			out := console.String()
			// The console did log at debug level, per packet, and the
			// failures: the grep below is not vacuous.
			for _, line := range []string{
				"Sending CONNACK to",
				"Received PUBLISH from",
				"bad user name or password for user 'alice'",
				"bad user name or password for user 'nosuchuser'",
				"unsupported authentication method SCRAM-SHA-256",
				"malformed packet; closing",
			} {
				if !strings.Contains(out, line) {
					t.Errorf("the console has no line with %q", line)
				}
			}
			leaks := 0
			for _, pw := range allPasswords {
				for _, form := range leakForms(pw) {
					if i := strings.Index(out, form); i >= 0 {
						leaks++
						start := strings.LastIndexByte(out[:i], '\n') + 1
						end := i + strings.IndexByte(out[i:]+"\n", '\n')
						t.Errorf("password %q appears in the console as %q, in:\n%s", pw, form, out[start:end])
					}
				}
			}
			t.Logf("%d bytes of console, %d lines, checked for %d passwords in %d forms each: %d leaks",
				len(out), strings.Count(out, "\n"), len(allPasswords), len(leakForms("x")), leaks)
			if t.Failed() {
				t.Logf("console:\n%s", out)
			}
		})
	}
}
