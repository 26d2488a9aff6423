package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// Config describes one listener.
type Config struct {
	// Network is "tcp", "tcp4", "tcp6" or "unix".
	Network string
	// Address is host:port for TCP, a file path for unix sockets.
	Address string
	// Protocol is what the listener speaks: "mqtt" (the default, also when
	// empty) or "websockets" (MQTT over WebSocket, on WebSocketPath).
	Protocol string
	// WebSocketPath is the HTTP path WebSocket clients connect to: empty
	// means "/mqtt", AnyWebSocketPath any path (as Mosquitto does).
	WebSocketPath string
	// TrustProxy takes a WebSocket client's address from X-Forwarded-For.
	TrustProxy bool
	// TLS, when set, makes the listener serve TLS 1.2 and 1.3.
	TLS *TLS
	// MaxConnections caps the clients connected through this listener at
	// once; 0 means no cap of its own. The broker enforces it.
	MaxConnections int
	// Auth, when set, replaces the global authentication settings for
	// clients of this listener (Mosquitto's per_listener_settings). The
	// listener package only carries it; the broker applies it.
	Auth *Auth
}

// Auth is authentication and access control for one listener.
type Auth struct {
	// AllowAnonymous lets clients without a user name in. Nil means not
	// said (see the global setting's rules).
	AllowAnonymous *bool
	PasswordFile   string
	ACLFile        string
}

// Protocols a listener may speak.
const (
	ProtocolMQTT       = "mqtt"
	ProtocolWebSockets = "websockets"
)

// ErrNotSupported marks a setting mast knows but does not implement yet.
var ErrNotSupported = errors.New("not supported by mast yet")

// Validate checks the settings without opening anything.
func (c Config) Validate() error {
	switch c.Protocol {
	case "", ProtocolMQTT:
	case ProtocolWebSockets:
		if c.Network == "unix" {
			return fmt.Errorf("listener %s: websockets over a unix socket: %w", c, ErrNotSupported)
		}
	default:
		return fmt.Errorf("listener %s: unknown protocol %q (want mqtt or websockets)", c, c.Protocol)
	}
	if c.MaxConnections < 0 {
		return fmt.Errorf("listener %s: max connections %d is negative", c, c.MaxConnections)
	}
	if c.TLS != nil {
		if err := c.TLS.Validate(); err != nil {
			return fmt.Errorf("listener %s: %w", c, err)
		}
	}
	return nil
}

// String gives the address in the form Parse reads.
func (c Config) String() string {
	if c.Network == "unix" {
		return "unix:" + c.Address
	}
	if c.Protocol == ProtocolWebSockets {
		path := c.WebSocketPath
		if path == "" {
			path = "/mqtt"
		}
		if path == AnyWebSocketPath {
			path = "/"
		}
		return "ws://" + c.Address + path
	}
	return c.Address
}

// Parse reads a listener address: "unix:PATH" for a unix socket,
// "ws://host:port/path" for MQTT over WebSocket, otherwise host:port for
// TCP ("[::]:1883", "0.0.0.0:1883", ":1883").
func Parse(s string) (Config, error) {
	if rest, ok := strings.CutPrefix(s, "ws://"); ok {
		hostport, path, _ := strings.Cut(rest, "/")
		c, err := Parse(hostport)
		if err != nil {
			return Config{}, err
		}
		c.Protocol = ProtocolWebSockets
		c.WebSocketPath = "/" + path
		if path == "" {
			c.WebSocketPath = ""
		}
		return c, nil
	}
	if path, ok := strings.CutPrefix(s, "unix:"); ok {
		if path == "" {
			return Config{}, errors.New("listener: unix socket path is empty")
		}
		return Config{Network: "unix", Address: path}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Config{}, fmt.Errorf("listener: %q is not host:port or unix:PATH: %w", s, err)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return Config{}, fmt.Errorf("listener: bad port in %q: %w", s, err)
	}
	network := "tcp"
	if ip := net.ParseIP(host); ip != nil {
		if ip.To4() != nil {
			network = "tcp4"
		} else {
			network = "tcp6"
		}
	}
	return Config{Network: network, Address: s}, nil
}

// Listen opens the listener. A unix socket file left behind by a process
// that is gone is removed first; one still in use is an error. With TLS
// settings the certificate files are read first and the listener returned
// is a *TLSListener (a Reloader).
func Listen(c Config) (net.Listener, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var tlsConf *tls.Config
	if c.TLS != nil {
		// Read the files before taking the port, so that a bad
		// certificate leaves nothing half open.
		var err error
		if tlsConf, err = c.TLS.ServerConfig(); err != nil {
			return nil, fmt.Errorf("listener %s: %w", c, err)
		}
	}
	ln, err := listenPlain(c)
	if err != nil {
		return nil, err
	}
	if c.TLS != nil {
		ln = newTLSListener(ln, *c.TLS, tlsConf)
	}
	if c.Protocol == ProtocolWebSockets {
		return NewWebSocketListener(ln, c.WebSocketPath, WebSocketOptions{TrustProxy: c.TrustProxy}), nil
	}
	return ln, nil
}

func listenPlain(c Config) (net.Listener, error) {
	switch c.Network {
	case "tcp", "tcp4", "tcp6":
		ln, err := tcpListenConfig.Listen(context.Background(), c.Network, c.Address)
		if err != nil {
			return nil, fmt.Errorf("listener: %w", err)
		}
		return ln, nil
	case "unix":
		if err := removeStaleSocket(c.Address); err != nil {
			return nil, err
		}
		ln, err := net.Listen("unix", c.Address)
		if err != nil {
			return nil, fmt.Errorf("listener: %w", err)
		}
		return ln, nil
	}
	return nil, fmt.Errorf("listener: unknown network %q", c.Network)
}

// IsLoopback reports whether a listener only accepts local connections:
// a unix socket or a TCP address on a loopback IP or "localhost".
func (c Config) IsLoopback() bool {
	if c.Network == "unix" {
		return true
	}
	host, _, err := net.SplitHostPort(c.Address)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listener: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("listener: %s exists and is not a socket", path)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("listener: %s is in use by another process", path)
	}
	return os.Remove(path)
}
