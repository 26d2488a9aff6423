package config_test

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/config"
	"github.com/mastmq/mast/listener"
)

func ptr[T any](v T) *T { return &v }

func loadFixture(t *testing.T, name string) *config.Config {
	t.Helper()
	c, err := config.LoadMosquitto(filepath.Join("testdata", "mosquitto", name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fixtureErr loads a fixture that must fail and returns its error lines.
func fixtureErr(t *testing.T, name string) []string {
	t.Helper()
	_, err := config.LoadMosquitto(filepath.Join("testdata", "mosquitto", name))
	if err == nil {
		t.Fatalf("%s loaded without error", name)
	}
	return strings.Split(err.Error(), "\n")
}

func checkListeners(t *testing.T, got, want []listener.Config) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("listeners:\n got  %s\n want %s", dump(got), dump(want))
	}
}

func dump(ls []listener.Config) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "{%s %s proto=%q max=%d", l.Network, l.Address, l.Protocol, l.MaxConnections)
		if l.TLS != nil {
			fmt.Fprintf(&b, " tls=%+v", *l.TLS)
		}
		if a := l.Auth; a != nil {
			anon := "nil"
			if a.AllowAnonymous != nil {
				anon = fmt.Sprint(*a.AllowAnonymous)
			}
			fmt.Fprintf(&b, " auth={anon=%s pw=%q acl=%q}", anon, a.PasswordFile, a.ACLFile)
		}
		b.WriteString("} ")
	}
	return b.String()
}

func checkAuth(t *testing.T, got config.Auth, anon bool, pw, acl string) {
	t.Helper()
	if got.AllowAnonymous == nil || *got.AllowAnonymous != anon || got.PasswordFile != pw || got.ACLFile != acl {
		t.Errorf("auth = %+v (anonymous %v), want anonymous %v, password file %q, ACL %q",
			got, got.AllowAnonymous != nil && *got.AllowAnonymous, anon, pw, acl)
	}
}

func TestMosquittoDefaultListener(t *testing.T) {
	c := loadFixture(t, "default-listener.conf")
	checkListeners(t, c.Listeners, []listener.Config{
		{Network: "tcp4", Address: "127.0.0.1:1883", MaxConnections: 200},
	})
	checkAuth(t, c.Auth, false, "testdata/mosquitto/passwd", "testdata/mosquitto/acl")
	o := c.Broker
	if o.MaxInflight != 40 || o.MaxQueued != 500 || o.MaxPacketSize != 65536 || o.MaxKeepAlive != 120 ||
		!o.DisableRetain || o.SysInterval != 30*time.Second {
		t.Errorf("broker options = %+v", o)
	}
	if c.Limits.MessageSizeLimit != 32768 || c.Limits.MaxConnections != 0 {
		t.Errorf("limits = %+v", c.Limits)
	}
	if c.Persistence.Memory || c.Persistence.DataDir != filepath.Join("testdata/mosquitto/data", "mast-data") {
		t.Errorf("persistence = %+v", c.Persistence)
	}
	l := c.Log
	if !slices.Equal(l.Dest, []string{"stderr", "stdout"}) || l.File != "" ||
		!reflect.DeepEqual(l.Types, map[string]bool{"error": true, "warning": true, "notice": true}) ||
		l.Level != slog.LevelInfo || l.Verbose || !l.NoConnectionMessages {
		t.Errorf("log = %+v", l)
	}
	if c.PerListenerSettings || len(c.Warnings) > 0 {
		t.Errorf("per listener %v, warnings %q", c.PerListenerSettings, c.Warnings)
	}
	if err := c.CheckExposure(); err != nil {
		t.Error(err)
	}
}

func TestMosquittoListenersTLS(t *testing.T) {
	c := loadFixture(t, "listeners-tls.conf")
	certs := "testdata/mosquitto/certs/"
	checkListeners(t, c.Listeners, []listener.Config{
		{Network: "tcp4", Address: "127.0.0.1:1883", MaxConnections: 50},
		{Network: "tcp4", Address: "127.0.0.1:8883", TLS: &listener.TLS{
			CertFile: certs + "server.pem", KeyFile: certs + "server.key", MinVersion: "1.2"}},
		{Network: "tcp4", Address: "127.0.0.1:8884", Protocol: "mqtt", TLS: &listener.TLS{
			CAFile: certs + "ca.pem", CertFile: certs + "server.pem", KeyFile: certs + "server.key",
			RequireCertificate: true, UseIdentityAsUsername: true, MinVersion: "1.3"}},
		{Network: "unix", Address: "testdata/mosquitto/run/mqtt.sock"},
	})
	// Not in a listener's block: per_listener_settings is false.
	checkAuth(t, c.Auth, true, "", "testdata/mosquitto/acl")
	if !c.Persistence.Memory {
		t.Error("persistence is on; Mosquitto's default is off")
	}
}

func TestMosquittoPerListener(t *testing.T) {
	c := loadFixture(t, "per-listener.conf")
	pw, acl := "testdata/mosquitto/passwd", "testdata/mosquitto/acl"
	certs := "testdata/mosquitto/certs/"
	checkListeners(t, c.Listeners, []listener.Config{
		{Network: "tcp4", Address: "127.0.0.1:1883", Auth: &listener.Auth{AllowAnonymous: ptr(true)}},
		{Network: "tcp4", Address: "127.0.0.1:1884", Auth: &listener.Auth{AllowAnonymous: ptr(false), PasswordFile: pw, ACLFile: acl}},
		{Network: "tcp4", Address: "127.0.0.1:8883",
			TLS:  &listener.TLS{CertFile: certs + "server.pem", KeyFile: certs + "server.key"},
			Auth: &listener.Auth{AllowAnonymous: ptr(false), PasswordFile: pw}},
	})
	if !c.PerListenerSettings || c.Auth.AllowAnonymous != nil || c.Auth.PasswordFile != "" {
		t.Errorf("per listener %v, global auth %+v", c.PerListenerSettings, c.Auth)
	}
}

func TestMosquittoIncludeDir(t *testing.T) {
	c := loadFixture(t, "include-dir.conf")
	checkListeners(t, c.Listeners, []listener.Config{
		{Network: "tcp4", Address: "127.0.0.1:1883"},
		{Network: "tcp4", Address: "127.0.0.1:1884", MaxConnections: 10},
	})
	checkAuth(t, c.Auth, false, "testdata/mosquitto/passwd", "")
	// a-limits.conf then B-limits.conf: Mosquitto's order ignores case
	// first (byte order would read B before a).
	if c.Broker.MaxQueued != 200 || c.Broker.SysInterval >= 0 {
		t.Errorf("max queued %d, sys interval %v: included files read out of order", c.Broker.MaxQueued, c.Broker.SysInterval)
	}
	if !c.Persistence.Memory || !slices.Equal(c.Log.Dest, []string{"stderr"}) {
		t.Errorf("persistence %+v, log %+v", c.Persistence, c.Log)
	}
}

func TestMosquittoIncludeOrder(t *testing.T) {
	dir := t.TempDir()
	inc := filepath.Join(dir, "conf.d")
	os.Mkdir(inc, 0o755)
	// Mosquitto's documented example order.
	names := []string{"00.conf", "01.conf", "A.conf", "a.conf", "B.conf", "b.conf"}
	for _, n := range []string{"b.conf", "A.conf", "01.conf", "a.conf", "B.conf", "00.conf", "notes.txt", "x.conf.bak"} {
		port := 10000 + slices.Index(names, n) // files not read would give 9999
		os.WriteFile(filepath.Join(inc, n), []byte(fmt.Sprintf("listener %d 127.0.0.1\n", port)), 0o644)
	}
	main := filepath.Join(dir, "main.conf")
	os.WriteFile(main, []byte("include_dir "+inc+"\n"), 0o644)
	c, err := config.LoadMosquitto(main)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range c.Listeners {
		got = append(got, l.Address)
	}
	want := []string{"127.0.0.1:10000", "127.0.0.1:10001", "127.0.0.1:10002", "127.0.0.1:10003", "127.0.0.1:10004", "127.0.0.1:10005"}
	if !slices.Equal(got, want) {
		t.Errorf("include order %v, want %v (files %v)", got, want, names)
	}
}

func TestMosquittoDebianDefault(t *testing.T) {
	c := loadFixture(t, "debian.conf")
	// No listener: local only mode, anonymous allowed.
	checkListeners(t, c.Listeners, []listener.Config{{Network: "tcp4", Address: "127.0.0.1:1883"}})
	checkAuth(t, c.Auth, true, "", "")
	if c.PIDFile != "/run/mosquitto/mosquitto.pid" {
		t.Errorf("pid file %q", c.PIDFile)
	}
	if c.Persistence.Memory || c.Persistence.DataDir != "/var/lib/mosquitto/mast-data" {
		t.Errorf("persistence %+v", c.Persistence)
	}
	if !slices.Equal(c.Log.Dest, []string{"file"}) || c.Log.File != "/var/log/mosquitto/mosquitto.log" {
		t.Errorf("log %+v", c.Log)
	}
	if err := c.CheckExposure(); err != nil {
		t.Error(err)
	}
}

func TestMosquittoUnsupportedDirectives(t *testing.T) {
	dir := t.TempDir()
	for _, name := range config.UnsupportedMosquittoDirectives() {
		name = strings.NewReplacer("bridge_*", "bridge_cafile", "auth_opt_*", "auth_opt_backends", "plugin_opt_*", "plugin_opt_config_file").Replace(name)
		path := filepath.Join(dir, "u.conf")
		os.WriteFile(path, []byte("listener 1883\n\n"+name+" something\n"), 0o644)
		_, err := config.LoadMosquitto(path)
		want := path + ":3: " + name + ": not supported by mast yet"
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error %v, want it to start %q", name, err, want)
		}
		if !errors.Is(err, config.ErrUnsupported) {
			t.Errorf("%s: %v is not ErrUnsupported", name, err)
		}
		var le *config.LineError
		if !errors.As(err, &le) || le.Line != 3 || le.File != path {
			t.Errorf("%s: not a LineError for line 3: %#v", name, err)
		}
	}
}

func TestMosquittoBridgeAndWebSockets(t *testing.T) {
	got := fixtureErr(t, "bridge.conf")
	want := []string{
		"bridge.conf:5: connection: not supported by mast yet (bridges come later)",
		"bridge.conf:6: address: not supported by mast yet",
		"bridge.conf:7: topic: not supported by mast yet",
		"bridge.conf:8: remote_username: not supported by mast yet",
		"bridge.conf:9: bridge_cafile: not supported by mast yet",
	}
	matchLines(t, got, want)

	c, err := config.LoadMosquitto(filepath.Join("testdata", "mosquitto", "websockets.conf"))
	if err != nil {
		t.Fatalf("websockets.conf: %v", err)
	}
	if len(c.Listeners) != 2 || c.Listeners[1].Protocol != "websockets" || c.Listeners[1].WebSocketPath != "*" {
		t.Fatalf("websockets.conf listeners: %+v", c.Listeners)
	}
}

// matchLines checks that each error line contains the wanted text, in order.
func matchLines(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d errors, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
		return
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("error %d = %q, want it to contain %q", i, got[i], want[i])
		}
	}
}

func TestMosquittoBadValues(t *testing.T) {
	got := fixtureErr(t, "bad-values.conf")
	matchLines(t, got, []string{
		`bad-values.conf:3: port: "seventy" is not a whole number`,
		`bad-values.conf:4: max_packet_size: 10 is out of range 20..268435455`,
		`bad-values.conf:5: allow_anonymous: "yes" is not true or false`,
		`bad-values.conf:6: socket_domain: "ipv5" is not ipv4 or ipv6`,
		`bad-values.conf:7: log_dest: "carrier-pigeon" is not stderr, stdout, file, syslog, topic, dlt or none`,
		`bad-values.conf:8: log_type: "chatter" is not one of`,
		`bad-values.conf:9: tls_version tlsv1.1: not supported by mast yet (TLS 1.2 and 1.3 only)`,
		`bad-values.conf:10: max_keepalive: 70000 is out of range 0..65535`,
		`bad-values.conf:11: password_file needs a value`,
		`bad-values.conf:12: unknown directive "frobnicate"`,
		`bad-values.conf:14: persistence_location given twice (first at testdata/mosquitto/bad-values.conf:13)`,
		`bad-values.conf:15: sys_interval: -1 is out of range 0..65535`,
		`bad-values.conf:16: listener 0 needs a unix socket path`,
	})
}

// TestMosquittoSemantics pins Mosquitto 2's rules, one small file each.
func TestMosquittoSemantics(t *testing.T) {
	tcp := func(network, addr string) listener.Config { return listener.Config{Network: network, Address: addr} }
	cases := []struct {
		name, text string
		check      func(t *testing.T, c *config.Config)
		err        string // wanted in the error, "" for none
	}{
		{"empty: local only, anonymous allowed", "", func(t *testing.T, c *config.Config) {
			checkListeners(t, c.Listeners, []listener.Config{tcp("tcp4", "127.0.0.1:1883")})
			checkAuth(t, c.Auth, true, "", "")
			if !c.Persistence.Memory {
				t.Error("persistence on by default")
			}
		}, ""},
		{"allow_anonymous false without a listener is overruled", "allow_anonymous false\n", func(t *testing.T, c *config.Config) {
			checkAuth(t, c.Auth, true, "", "")
			if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "x.conf:1: allow_anonymous false has no effect") {
				t.Errorf("warnings %q", c.Warnings)
			}
		}, ""},
		{"a listener: anonymous refused by default", "listener 1883\n", func(t *testing.T, c *config.Config) {
			checkListeners(t, c.Listeners, []listener.Config{tcp("tcp", ":1883")})
			checkAuth(t, c.Auth, false, "", "")
			if err := c.CheckExposure(); err == nil {
				t.Error("a listener on every interface with no authentication passed CheckExposure")
			}
		}, ""},
		{"port alone", "port 1884\n", func(t *testing.T, c *config.Config) {
			checkListeners(t, c.Listeners, []listener.Config{tcp("tcp", ":1884")})
			checkAuth(t, c.Auth, false, "", "")
		}, ""},
		{"listener settings before any listener open the default one", "max_connections 5\n", func(t *testing.T, c *config.Config) {
			checkListeners(t, c.Listeners, []listener.Config{{Network: "tcp", Address: ":1883", MaxConnections: 5}})
			checkAuth(t, c.Auth, false, "", "")
			if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "x.conf:1: this setting opens the default listener") {
				t.Errorf("warnings %q", c.Warnings)
			}
		}, ""},
		{"default listener comes after the listener lines", "port 1885\nlistener 1886 127.0.0.1\n", func(t *testing.T, c *config.Config) {
			checkListeners(t, c.Listeners, []listener.Config{tcp("tcp4", "127.0.0.1:1886"), tcp("tcp", ":1885")})
		}, ""},
		{"socket_domain", "listener 1883\nsocket_domain ipv6\nlistener 1884 ::1\nlistener 1885 localhost\nsocket_domain ipv4\n", func(t *testing.T, c *config.Config) {
			checkListeners(t, c.Listeners, []listener.Config{tcp("tcp6", ":1883"), tcp("tcp6", "[::1]:1884"), tcp("tcp4", "localhost:1885")})
		}, ""},
		{"socket_domain against the address", "listener 1883 127.0.0.1\nsocket_domain ipv6\n", nil,
			"x.conf:1: listener 127.0.0.1:1883: socket_domain ipv6 does not match the address"},
		{"unix socket", "listener 0 /run/mast.sock\n", func(t *testing.T, c *config.Config) {
			checkListeners(t, c.Listeners, []listener.Config{{Network: "unix", Address: "/run/mast.sock"}})
		}, ""},
		{"comments after values", "listener 1883 # main\nallow_anonymous true # for now\n", func(t *testing.T, c *config.Config) {
			checkListeners(t, c.Listeners, []listener.Config{tcp("tcp", ":1883")})
			checkAuth(t, c.Auth, true, "", "")
		}, ""},
		{"duplicate listener", "listener 1883\nlistener 1883\n", nil, "x.conf:2: listener :1883 is already defined at x.conf:1"},
		{"certfile without keyfile", "listener 8883\ncertfile s.pem\n", nil, "x.conf:1: listener :8883 has TLS settings but not both certfile and keyfile"},
		{"identity without require_certificate", "listener 8883\ncertfile s.pem\nkeyfile s.key\nuse_identity_as_username true\n", nil,
			"x.conf:1: listener :8883: tls: use_identity_as_username and use_subject_as_username need require_certificate"},
		{"require_certificate without cafile", "listener 8883\ncertfile s.pem\nkeyfile s.key\nrequire_certificate true\n", nil,
			"needs a CA file"},
		{"max_connections 0", "listener 1883\nmax_connections 0\n", nil, "x.conf:2: max_connections 0 would refuse every client"},
		{"max_connections -1", "listener 1883\nmax_connections -1\n", func(t *testing.T, c *config.Config) {
			checkListeners(t, c.Listeners, []listener.Config{tcp("tcp", ":1883")})
		}, ""},
		{"per_listener_settings after a security setting", "allow_anonymous true\nper_listener_settings true\n", nil,
			"x.conf:2: per_listener_settings must come before any other security setting (the first is at x.conf:1)"},
		{"per listener: before the first listener is the default listener's", "per_listener_settings true\nallow_anonymous true\nlistener 1883\n",
			func(t *testing.T, c *config.Config) {
				checkListeners(t, c.Listeners, []listener.Config{{Network: "tcp", Address: ":1883", Auth: &listener.Auth{AllowAnonymous: ptr(false)}}})
				if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "x.conf:2: allow_anonymous before the first listener line") {
					t.Errorf("warnings %q", c.Warnings)
				}
			}, ""},
		{"per listener: a password file opens the default listener", "per_listener_settings true\npassword_file pw\nlistener 1884\n",
			func(t *testing.T, c *config.Config) {
				checkListeners(t, c.Listeners, []listener.Config{
					{Network: "tcp", Address: ":1884", Auth: &listener.Auth{AllowAnonymous: ptr(false)}},
					{Network: "tcp", Address: ":1883", Auth: &listener.Auth{AllowAnonymous: ptr(false), PasswordFile: "pw"}},
				})
			}, ""},
		{"password_file twice", "password_file a\npassword_file b\n", nil, "x.conf:2: password_file given twice (first at x.conf:1)"},
		{"per listener: password_file per listener may repeat", "per_listener_settings true\nlistener 1\npassword_file a\nlistener 2\npassword_file b\n", nil, ""},
		{"zero length client ids", "allow_zero_length_clientid false\n", func(t *testing.T, c *config.Config) {
			if !c.Broker.DisallowEmptyClientID {
				t.Error("allow_zero_length_clientid false not carried")
			}
		}, ""},
		{"zero length client ids per listener", "per_listener_settings true\nlistener 1883\nallow_zero_length_clientid false\n", nil,
			"x.conf:3: allow_zero_length_clientid for one listener (per_listener_settings true): not supported by mast yet"},
		{"no maximum in flight or queued", "max_inflight_messages 0\nmax_queued_messages 0\nmax_keepalive 65535\n", func(t *testing.T, c *config.Config) {
			if c.Broker.MaxInflight != 65535 || c.Broker.MaxQueued != math.MaxInt32 || c.Broker.MaxKeepAlive != 0 {
				t.Errorf("options %+v", c.Broker)
			}
			if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "x.conf:2: max_queued_messages 0 means no maximum") {
				t.Errorf("warnings %q", c.Warnings)
			}
		}, ""},
		{"log_type all", "log_type error\nlog_type all\n", func(t *testing.T, c *config.Config) {
			if !c.Log.Verbose || c.Log.Level != slog.LevelDebug {
				t.Errorf("log %+v", c.Log)
			}
		}, ""},
		{"log_type none, log_dest none", "log_type warning\nlog_type none\nlog_dest stdout\nlog_dest none\n", func(t *testing.T, c *config.Config) {
			if c.Log.Level != config.LevelOff || len(c.Log.Types) != 0 || !slices.Equal(c.Log.Dest, []string{"none"}) {
				t.Errorf("log %+v", c.Log)
			}
		}, ""},
		{"log_type error only", "log_type error\n", func(t *testing.T, c *config.Config) {
			if c.Log.Level != slog.LevelError || c.Log.Verbose {
				t.Errorf("log %+v", c.Log)
			}
		}, ""},
		{"log_type takes one value", "log_type error warning\n", nil, `x.conf:1: log_type takes one value, got "error warning"`},
		{"log_dest file with spaces", "log_dest file /var/log/my broker.log\n", func(t *testing.T, c *config.Config) {
			if c.Log.File != "/var/log/my broker.log" {
				t.Errorf("log file %q", c.Log.File)
			}
		}, ""},
		{"persistence_location without persistence", "persistence_location /var/lib/mosquitto/\n", func(t *testing.T, c *config.Config) {
			if !c.Persistence.Memory || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "persistence is off") {
				t.Errorf("persistence %+v, warnings %q", c.Persistence, c.Warnings)
			}
		}, ""},
		{"persistence without location", "persistence true\n", func(t *testing.T, c *config.Config) {
			if c.Persistence.Memory || c.Persistence.DataDir != config.DefaultDataDir {
				t.Errorf("persistence %+v", c.Persistence)
			}
		}, ""},
		{"set_tcp_nodelay and retry_interval", "set_tcp_nodelay true\nset_tcp_nodelay false\nretry_interval 20\n", func(t *testing.T, c *config.Config) {
			if len(c.Warnings) != 2 || !strings.Contains(c.Warnings[0], "x.conf:2: set_tcp_nodelay false") ||
				!strings.Contains(c.Warnings[1], "x.conf:3: retry_interval is obsolete") {
				t.Errorf("warnings %q", c.Warnings)
			}
		}, ""},
		{"YAML fed as mosquitto.conf", "listeners:\n  - address: x\n", nil, `x.conf:1: unknown directive "listeners:" (is this YAML? name the file .yaml)`},
		{"every error is reported", "frob 1\nlistener 1883\nport x\n", nil, "x.conf:1: unknown directive \"frob\"\nx.conf:3: port: \"x\" is not a whole number"},
		{"include_dir that is not there", "include_dir /nonexistent/conf.d\n", nil, "x.conf:1: include_dir: open /nonexistent/conf.d: no such file or directory"},
		{"global_max_connections", "listener 1883\nglobal_max_connections 1000\n", func(t *testing.T, c *config.Config) {
			if c.Limits.MaxConnections != 1000 {
				t.Errorf("limits %+v", c.Limits)
			}
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.ParseMosquitto("x.conf", []byte(tc.text))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestIncludeDirOnlyFromMainFile(t *testing.T) {
	dir := t.TempDir()
	inc, inner := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.Mkdir(inc, 0o755)
	os.Mkdir(inner, 0o755)
	os.WriteFile(filepath.Join(inc, "x.conf"), []byte("listener 1883 127.0.0.1\ninclude_dir "+inner+"\n"), 0o644)
	os.WriteFile(filepath.Join(inner, "y.conf"), []byte("listener 1884 127.0.0.1\n"), 0o644)
	main := filepath.Join(dir, "main.conf")
	os.WriteFile(main, []byte("include_dir "+inc+"\n"), 0o644)
	c, err := config.LoadMosquitto(main)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Listeners) != 1 || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "x.conf:2: include_dir ignored") {
		t.Errorf("listeners %v, warnings %q", c.Listeners, c.Warnings)
	}

	// The main file inside its own include_dir.
	os.WriteFile(filepath.Join(inc, "main.conf"), []byte("include_dir "+inc+"\n"), 0o644)
	if _, err := config.LoadMosquitto(filepath.Join(inc, "main.conf")); err == nil || !strings.Contains(err.Error(), "holds the main configuration file") {
		t.Errorf("main file in its include_dir: %v", err)
	}
}

func TestDetectFormat(t *testing.T) {
	cases := []struct{ path, text, want string }{
		{"mosquitto.conf", "listeners:\n", config.FormatMosquitto},
		{"mast.yaml", "listener 1883\n", config.FormatYAML},
		{"mast.yml", "", config.FormatYAML},
		{"broker", "# my broker\n\nlistener 1883\n", config.FormatMosquitto},
		{"broker", "port 1883\n", config.FormatMosquitto},
		{"broker", "bridge_cafile x\n", config.FormatMosquitto},
		{"broker", "listeners:\n  - address: 127.0.0.1:1883\n", config.FormatYAML},
		{"broker", "log:\n  level: debug\n", config.FormatYAML},
		{"broker", "", config.FormatYAML},
	}
	for _, tc := range cases {
		if got := config.DetectFormat(tc.path, []byte(tc.text)); got != tc.want {
			t.Errorf("DetectFormat(%q, %q) = %s, want %s", tc.path, tc.text, got, tc.want)
		}
	}
}

func TestLoadAny(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	c, err := config.LoadAny(write("broker", "listener 1884 127.0.0.1\nallow_anonymous true\n"))
	if err != nil || len(c.Listeners) != 1 || c.Listeners[0].Address != "127.0.0.1:1884" {
		t.Fatalf("mosquitto file: %v, %v", c, err)
	}
	c, err = config.LoadAny(write("mast.yaml", "listeners:\n  - address: 127.0.0.1:1885\n"))
	if err != nil || len(c.Listeners) != 1 || c.Listeners[0].Address != "127.0.0.1:1885" {
		t.Fatalf("YAML file: %v, %v", c, err)
	}
	path := write("bad.yaml", "mqtt:\n  max_qos: 3\n")
	if _, err := config.LoadAny(path); err == nil || !strings.Contains(err.Error(), path+": line 2") {
		t.Errorf("YAML error %v lacks file and line", err)
	}
	if _, err := config.LoadAny(filepath.Join(dir, "missing.conf")); err == nil {
		t.Error("missing file accepted")
	}
}
