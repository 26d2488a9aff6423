package config_test

import (
	"strings"
	"testing"

	"github.com/mastmq/mast/config"
	"github.com/mastmq/mast/listener"
)

func TestYAMLListenerTLSAndAuth(t *testing.T) {
	c, err := config.Parse([]byte(`
listeners:
  - address: 127.0.0.1:1883
  - address: 0.0.0.0:8883
    protocol: mqtt
    max_connections: 500
    tls:
      cert_file: /etc/mast/server.pem
      key_file: /etc/mast/server.key
      ca_file: /etc/mast/ca.pem
      require_certificate: true
      use_identity_as_username: true
      min_version: "1.3"
    auth:
      allow_anonymous: false
      acl_file: /etc/mast/devices.acl
limits:
  max_connections: 10000
  message_size_limit: 256KiB
`))
	if err != nil {
		t.Fatal(err)
	}
	checkListeners(t, c.Listeners, []listener.Config{
		{Network: "tcp4", Address: "127.0.0.1:1883"},
		{Network: "tcp4", Address: "0.0.0.0:8883", Protocol: "mqtt", MaxConnections: 500,
			TLS: &listener.TLS{CertFile: "/etc/mast/server.pem", KeyFile: "/etc/mast/server.key", CAFile: "/etc/mast/ca.pem",
				RequireCertificate: true, UseIdentityAsUsername: true, MinVersion: "1.3"},
			Auth: &listener.Auth{AllowAnonymous: ptr(false), ACLFile: "/etc/mast/devices.acl"}},
	})
	if c.Limits.MaxConnections != 10000 || c.Limits.MessageSizeLimit != 256<<10 {
		t.Errorf("limits %+v", c.Limits)
	}
	// Mutual TLS counts as authentication for a listener open to all.
	if err := c.CheckExposure(); err != nil {
		t.Error(err)
	}
}

func TestYAMLListenerErrorsNameLine(t *testing.T) {
	cases := []struct{ text, want string }{
		{"listeners:\n  - address: 127.0.0.1:1883\n  - address: :8883\n    tls:\n      cert_file: a.pem\n",
			"line 3: listeners[1]: listener :8883: tls: a certificate file and a key file are both needed"},
		{"listeners:\n  - address: :8883\n    tls:\n      cert_file: a.pem\n      key_file: a.key\n      min_version: \"1.1\"\n",
			`line 2: listeners[0]: listener :8883: tls: minimum version "1.1" is not 1.2 or 1.3`},
		{"listeners:\n  - address: :9001\n    protocol: coap\n",
			"line 2: listeners[0]: listener :9001: unknown protocol"},
		{"listeners:\n  - address: :8883\n    tls:\n      certfile: a.pem\n",
			"line 4: field certfile not found"},
		{"listeners:\n  - address: :8883\n    max_connections: -3\n",
			"line 3:"},
	}
	for _, tc := range cases {
		_, err := config.Parse([]byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestCheckExposurePerListener(t *testing.T) {
	open := func(auth *listener.Auth, tls *listener.TLS) *config.Config {
		c := config.Default()
		l, _ := listener.Parse("0.0.0.0:1883")
		l.Auth, l.TLS = auth, tls
		c.Listeners = append(c.Listeners, l)
		return c
	}
	if err := open(nil, nil).CheckExposure(); err == nil {
		t.Error("open listener without authentication passed")
	}
	if err := open(&listener.Auth{PasswordFile: "pw"}, nil).CheckExposure(); err != nil {
		t.Errorf("listener with its own password file: %v", err)
	}
	if err := open(&listener.Auth{AllowAnonymous: ptr(true)}, nil).CheckExposure(); err != nil {
		t.Errorf("listener allowing anonymous access explicitly: %v", err)
	}
	c := open(&listener.Auth{}, nil)
	c.Auth.PasswordFile = "pw" // global settings do not cover a listener with its own
	if err := c.CheckExposure(); err == nil {
		t.Error("listener with empty auth of its own passed on the global password file")
	}
	if err := open(nil, &listener.TLS{CertFile: "c", KeyFile: "k", CAFile: "ca", RequireCertificate: true}).CheckExposure(); err != nil {
		t.Errorf("mutual TLS listener: %v", err)
	}
}
