package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/bridge"
	"github.com/mastmq/mast/config"
)

func TestYAMLBridges(t *testing.T) {
	c, err := config.Parse([]byte(`
bridges:
  - name: cloud
    address: mqtts://cloud.example.com:8883
    client_id: site1
    username: site1
    password: secret
    protocol: "5"
    session_expiry: 1h
    keepalive: 30s
    reconnect_min: 2s
    reconnect_max: 1m
    notifications: false
    tls:
      ca_file: /etc/mast/ca.pem
      cert_file: /etc/mast/site1.pem
      key_file: /etc/mast/site1.key
      server_name: cloud
    topics:
      - pattern: sensors/#
        direction: out
        qos: 1
        remote_prefix: site1/
      - pattern: commands/#
        direction: in
        qos: 2
        local_prefix: cloud/
        remote_prefix: site1/
      - pattern: ""
        direction: both
        local_prefix: house/main-light
        remote_prefix: site1/light
  - name: backup
    address: 10.0.0.2:1883
    clean_session: true
    keepalive: 0
    topics:
      - pattern: "#"
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []bridge.Config{
		{
			Name: "cloud", Address: "mqtts://cloud.example.com:8883", ClientID: "site1",
			Username: "site1", Password: "secret", Version: 5, SessionExpiry: time.Hour,
			KeepAlive: 30 * time.Second, ReconnectMin: 2 * time.Second, ReconnectMax: time.Minute,
			NoNotifications: true,
			TLS:             &bridge.TLS{CAFile: "/etc/mast/ca.pem", CertFile: "/etc/mast/site1.pem", KeyFile: "/etc/mast/site1.key", ServerName: "cloud"},
			Topics: []bridge.Topic{
				{Pattern: "sensors/#", Direction: bridge.Out, QoS: 1, RemotePrefix: "site1/"},
				{Pattern: "commands/#", Direction: bridge.In, QoS: 2, LocalPrefix: "cloud/", RemotePrefix: "site1/"},
				{Pattern: "", Direction: bridge.Both, LocalPrefix: "house/main-light", RemotePrefix: "site1/light"},
			},
		},
		{
			Name: "backup", Address: "10.0.0.2:1883", CleanSession: true, KeepAlive: -1,
			Topics: []bridge.Topic{{Pattern: "#"}},
		},
	}
	if !reflect.DeepEqual(c.Bridges, want) {
		t.Errorf("bridges:\n got %+v\nwant %+v", c.Bridges, want)
	}
}

func TestYAMLBridgeErrors(t *testing.T) {
	cases := []struct{ text, want string }{
		{"bridges: 3\n", "line 1: bridges: expected a list"},
		{"bridges:\n  - name: x\n    adress: h:1\n", "line 3: field adress not found in bridge"},
		{"bridges:\n  - name: x\n    address: h:1\n    tls:\n      cafile: a\n", "line 5: field cafile not found in bridge tls"},
		{"bridges:\n  - name: x\n    address: h:1\n    topics:\n      - pattern: a/#\n        dir: in\n", "line 6: field dir not found in bridge topic"},
		{"bridges:\n  - name: x\n    address: h:1\n    topics:\n      - pattern: a/#\n        direction: sideways\n", `line 6: direction "sideways" is not in, out or both`},
		{"bridges:\n  - name: x\n    address: h:1\n    topics:\n      - pattern: a/#\n        qos: 3\n", `line 6: "3" is not a QoS`},
		{"bridges:\n  - name: x\n    address: h:1\n    protocol: 4.0\n    topics:\n      - pattern: a\n", `line 4: protocol "4.0" is not 3.1.1, 5 or 3.1`},
		{"bridges:\n  - name: x\n    address: h:1\n    keepalive: soon\n    topics:\n      - pattern: a\n", `line 4: "soon" is not a duration`},
		{"bridges:\n  - name: x\n    address: h:1\n    topics:\n      - pattern: a/+x\n", "line 5: bridge topic: pattern"},
		{"bridges:\n  - name: x\n    address: h:1\n    topics:\n      - pattern: \"#\"\n        local_prefix: a\n", "line 5: bridge topic: local_prefix \"a\" with pattern \"#\""},
		{"bridges:\n  - name: x\n    address: h:1\n    topics:\n      - pattern: a\n        remote_prefix: b/+/\n", "may not hold wildcards"},
		{"bridges:\n  - name: x\n    address: h:1\n    topics:\n      - pattern: \"\"\n        local_prefix: a\n", "an empty pattern needs both"},
		{"bridges:\n  - name: x\n    address: h:1\n    topics:\n      - pattern: $share/g/a\n", "shared subscriptions"},
		{"bridges:\n  - address: h:1\n    topics:\n      - pattern: a\n", "line 2: bridges[0]: name is required"},
		{"bridges:\n  - name: x\n    topics:\n      - pattern: a\n", "line 2: bridges[0]: address is required"},
		{"bridges:\n  - name: x\n    address: ws://h:1\n    topics:\n      - pattern: a\n", `line 2: bridges[0]: address "ws://h:1": scheme "ws"`},
		{"bridges:\n  - name: x\n    address: h:1\n", "line 2: bridges[0]: no topics"},
		{"bridges:\n  - name: x\n    address: h:1\n    tls: {insecure: true}\n    topics:\n      - pattern: a\n", "tls is set but address h:1 is not mqtts://"},
		{"bridges:\n  - name: x\n    address: h:1\n    clean_session: true\n    session_expiry: 1h\n    topics:\n      - pattern: a\n", "session_expiry is for persistent sessions"},
		{"bridges:\n  - name: x\n    address: h:1\n    session_expiry: 1h\n    topics:\n      - pattern: a\n", "session_expiry needs protocol 5"},
		{"bridges:\n  - name: x\n    address: h:1\n    password: p\n    topics:\n      - pattern: a\n", "a password needs a username"},
		{"bridges:\n  - name: x\n    address: h:1\n    reconnect_min: 1m\n    reconnect_max: 1s\n    topics:\n      - pattern: a\n", "reconnect_max 1s is below reconnect_min 1m0s"},
		{"bridges:\n  - name: x\n    address: h:1\n    topics: [{pattern: a}]\n  - name: x\n    address: h:2\n    topics: [{pattern: b}]\n",
			`line 5: bridges[1]: name "x" is taken by the bridge on line 2`},
	}
	for _, c := range cases {
		_, err := config.Parse([]byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got error %v\nwant one containing %q", c.text, err, c.want)
		}
	}
}
