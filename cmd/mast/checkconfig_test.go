package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mastmq/mast/listener/listenertest"
)

func checkConfig(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(append([]string{"check-config"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func writeConfigFile(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckConfigMosquitto(t *testing.T) {
	dir := t.TempDir()
	if _, err := listenertest.New(dir); err != nil {
		t.Fatal(err)
	}
	writeConfigFile(t, filepath.Join(dir, "passwd"), "alice:$7$101$x$y\n")
	writeConfigFile(t, filepath.Join(dir, "acl"), "topic read public/#\n")
	conf := writeConfigFile(t, filepath.Join(dir, "mosquitto.conf"), strings.ReplaceAll(`# Devices over mutual TLS, tools on localhost.
listener 1883 127.0.0.1
max_connections 50

listener 8884
cafile DIR/ca.pem
certfile DIR/server.pem
keyfile DIR/server.key
require_certificate true
use_identity_as_username true
tls_version tlsv1.3

password_file DIR/passwd
acl_file DIR/acl
max_inflight_messages 40
message_size_limit 1000
persistence true
persistence_location DIR/
sys_interval 30
log_dest file DIR/mast.log
log_type error
log_type warning
connection_messages false
set_tcp_nodelay false
`, "DIR", dir))

	code, out, errs := checkConfig(t, conf)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
	want := strings.ReplaceAll(`DIR/mosquitto.conf: Mosquitto configuration, as mast reads it

listeners
  127.0.0.1:1883  MQTT, IPv4, this machine only, at most 50 connections
  :8884           MQTT over TLS 1.3+, IPv4 and IPv6
                  certificate DIR/server.pem, key DIR/server.key
                  client certificate required, signed by a CA in DIR/ca.pem
                  user name: the certificate's Common Name (password file not used)

authentication
  anonymous clients  refused
  password file      DIR/passwd
  ACL file           DIR/acl

limits
  connections            no limit over all listeners
  packet size            at most 1048576 bytes
  message payload        at most 1000 bytes
  in flight to a client  40
  queued per session     1000
  receive maximum        1024
  outbound bytes         8388608 per connection
  keep alive             no cap
  CONNECT timeout        10s

mqtt
  max QoS                     2
  retained messages           on
  QoS 0 for offline sessions  off
  $SYS topics                 every 30s

persistence
  store       DIR/mast-data
  durability  sync: acknowledged once on disk

logging
  level                warn
  every packet (-v)    off
  format               text
  to                   file DIR/mast.log
  Mosquitto log types  error, warning
  connection messages  off

warnings
  DIR/mosquitto.conf:24: set_tcp_nodelay false: mast always sets TCP_NODELAY on client sockets

OK
`, "DIR", dir)
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

func TestCheckConfigYAMLPerListener(t *testing.T) {
	dir := t.TempDir()
	pw := writeConfigFile(t, filepath.Join(dir, "passwd"), "alice:x\n")
	conf := writeConfigFile(t, filepath.Join(dir, "mast.yaml"), `
listeners:
  - address: 0.0.0.0:1883
    auth:
      password_file: `+pw+`
  - address: unix:`+filepath.Join(dir, "m.sock")+`
persistence:
  memory: true
`)
	code, out, errs := checkConfig(t, conf)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		"mast YAML configuration",
		"0.0.0.0:1883",
		"anonymous clients refused (not said; there is a password file)",
		"password file " + pw + ", ACL file none",
		"MQTT, unix socket",
		"none: in memory only",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckConfigFailures(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, file, text string
		want             []string
	}{
		{"bad values", "bad.conf", "listener 1883 127.0.0.1\nport seventy\nbridge_cafile x\n", []string{
			"mast check-config: DIR/bad.conf:2: port: \"seventy\" is not a whole number",
			"mast check-config: DIR/bad.conf:3: bridge_cafile: not supported by mast yet (bridges come later)",
		}},
		{"bad YAML", "bad.yaml", "mqtt:\n  max_qos: 7\n", []string{
			"mast check-config: DIR/bad.yaml: line 2:",
		}},
		{"missing certificate", "tls.conf", "listener 8883 127.0.0.1\ncertfile DIR/nope.pem\nkeyfile DIR/nope.key\n", []string{
			"mast check-config: listener 127.0.0.1:8883: tls: certificate DIR/nope.pem with key DIR/nope.key: open DIR/nope.pem: no such file or directory",
		}},
		{"missing password file", "pw.conf", "listener 1883 127.0.0.1\npassword_file DIR/nope\n", []string{
			"mast check-config: password file: open DIR/nope: no such file or directory",
		}},
		{"open to all", "open.conf", "listener 1883\n", []string{
			"mast check-config: mast serve would refuse to start: listener :1883 is reachable from other machines and no authentication is configured",
		}},
		{"missing file", "", "", []string{"mast check-config: open DIR/missing.conf: no such file or directory"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "missing.conf")
			if tc.file != "" {
				path = writeConfigFile(t, filepath.Join(dir, tc.file), strings.ReplaceAll(tc.text, "DIR", dir))
			}
			code, _, errs := checkConfig(t, path)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			lines := strings.Split(strings.TrimSuffix(errs, "\n"), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("stderr:\n%s\nwant %d lines", errs, len(tc.want))
			}
			for i, w := range tc.want {
				if w = strings.ReplaceAll(w, "DIR", dir); !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d = %q, want it to start %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestCheckConfigUsage(t *testing.T) {
	if code, _, errs := checkConfig(t); code != 2 || !strings.Contains(errs, "usage: mast check-config FILE") {
		t.Errorf("no argument: exit %d, %q", code, errs)
	}
	if code, _, _ := checkConfig(t, "a", "b"); code != 2 {
		t.Errorf("two arguments: exit %d", code)
	}
}
