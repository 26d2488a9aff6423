package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/config"
)

func TestDefaultListensOnLocalhost(t *testing.T) {
	c := config.Default()
	if len(c.Listeners) != 1 || c.Listeners[0].Address != "127.0.0.1:1883" {
		t.Fatalf("default listeners = %v", c.Listeners)
	}
}

func TestParseFull(t *testing.T) {
	c, err := config.Parse([]byte(`
listeners:
  - address: 127.0.0.1:0
  - address: unix:/tmp/mast.sock
log:
  level: debug
  format: json
  verbose: true
mqtt:
  max_qos: 1
  retain_available: false
  topic_alias_maximum: 0
  max_session_expiry: 1h
limits:
  max_packet_size: 64KiB
  max_queued_messages: 50
  connect_timeout: 3s
sys_interval: 0
`))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Broker
	if len(c.Listeners) != 2 || c.Listeners[1].Network != "unix" {
		t.Errorf("listeners = %v", c.Listeners)
	}
	if c.Log.Format != "json" || !c.Log.Verbose || c.Log.Level.String() != "DEBUG" {
		t.Errorf("log = %+v", c.Log)
	}
	if o.MaxQoS != 1 || !o.DisableRetain || !o.DisableTopicAlias || o.MaxSessionExpiry != 3600 {
		t.Errorf("mqtt options wrong: %+v", o)
	}
	if o.MaxPacketSize != 64<<10 || o.MaxQueued != 50 || o.ConnectTimeout != 3*time.Second || o.SysInterval >= 0 {
		t.Errorf("limits wrong: %+v", o)
	}
}

func TestErrorsNameFileAndLine(t *testing.T) {
	cases := []struct{ text, want string }{
		{"listeners:\n  - adress: x\n", "line 2"},
		{"mqtt:\n  max_qos: 3\n", "line 2"},
		{"limits:\n  connect_timeout: soon\n", "line 2"},
		{"limits:\n  max_packet_size: -5\n", "line 2"},
		{"\n\nbogus: 1\n", "line 3"},
		{"log:\n  format: xml\n", "log.format"},
		{"listeners:\n  - address: nowhere\n", "listeners[0]"},
	}
	dir := t.TempDir()
	for i, tc := range cases {
		path := filepath.Join(dir, "c.yaml")
		os.WriteFile(path, []byte(tc.text), 0o600)
		_, err := config.Load(path)
		if err == nil {
			t.Errorf("case %d: %q accepted", i, tc.text)
			continue
		}
		if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("case %d: error %q lacks file name or %q", i, err, tc.want)
		}
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	c, err := config.Parse(nil)
	if err != nil || len(c.Listeners) != 1 {
		t.Fatalf("empty config: %v %v", c, err)
	}
}

func TestAuthRulesAndHook(t *testing.T) {
	c, err := config.Parse([]byte(`
listeners:
  - address: 0.0.0.0:1883
auth:
  acl:
    - {user: alice, access: readwrite, topic: "house/#"}
    - {pattern: true, access: write, topic: "devices/%c/state"}
  http_hook:
    url: http://127.0.0.1:9000/mqtt
    timeout: 3s
    cache_ttl: 1m
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Auth.ACL) != 2 || c.Auth.ACL[1].Topic != "devices/%c/state" || !c.Auth.ACL[1].Pattern {
		t.Errorf("acl = %+v", c.Auth.ACL)
	}
	if h := c.Auth.HTTPHook; h == nil || h.URL != "http://127.0.0.1:9000/mqtt" || h.Timeout != 3*time.Second || h.CacheTTL != time.Minute {
		t.Errorf("hook = %+v", c.Auth.HTTPHook)
	}
	// The hook authenticates, so an exposed listener is allowed.
	if err := c.CheckExposure(); err != nil {
		t.Errorf("exposure with a hook: %v", err)
	}
	for _, bad := range []string{
		"auth:\n  acl:\n    - {user: a, access: sometimes, topic: x}\n",
		"auth:\n  acl_file: /x\n  acl:\n    - {user: a, access: read, topic: x}\n",
		"auth:\n  http_hook:\n    timeout: 1s\n",
	} {
		if _, err := config.Parse([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestExposureNeedsAuthOrConsent(t *testing.T) {
	c, _ := config.Parse([]byte("listeners:\n  - address: 0.0.0.0:1883\n"))
	if err := c.CheckExposure(); err == nil || !strings.Contains(err.Error(), "allow_anonymous") {
		t.Fatalf("exposed anonymous broker allowed: %v", err)
	}
	c, _ = config.Parse([]byte("listeners:\n  - address: 0.0.0.0:1883\nauth:\n  allow_anonymous: true\nhttp:\n  listen: 0.0.0.0:8080\n"))
	if err := c.CheckExposure(); err == nil || !strings.Contains(err.Error(), "http.token") {
		t.Fatalf("exposed http without a token allowed: %v", err)
	}
}
