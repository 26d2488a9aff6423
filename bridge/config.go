package bridge

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/topic"
)

// Config is one bridge: the remote broker, how to connect to it and which
// topics travel in which direction. The zero value of a field means the
// default given beside it.
type Config struct {
	// Name identifies the bridge in logs and in its local client name
	// ("bridge:" + Name). Required, unique among bridges.
	Name string
	// Address is the remote broker: "mqtt://host:port" (port 1883 by
	// default), "mqtts://host:port" (TLS, 8883 by default), or a bare
	// "host:port" meaning mqtt://. The schemes tcp://, ssl:// and tls://
	// are accepted too.
	Address string
	// ClientID is the bridge's client id at the remote broker. Default
	// "<hostname>.<name>", as Mosquitto's.
	ClientID string
	// Username is sent when not empty; Password when not empty.
	Username string
	Password string
	// Version is the protocol level: 3 (MQTT 3.1), 4 (MQTT 3.1.1, the
	// default, as Mosquitto's bridges) or 5.
	Version byte
	// CleanSession starts a new session at the remote broker on every
	// connection. Default false: the session persists, so that the remote
	// broker keeps QoS 1/2 messages for the bridge while it is away
	// (Mosquitto's cleansession false).
	CleanSession bool
	// SessionExpiry is the v5 Session Expiry Interval of a persistent
	// session; 0 means it never expires.
	SessionExpiry time.Duration
	// KeepAlive is the keepalive interval. Default 60 s; negative turns
	// keepalive off.
	KeepAlive time.Duration
	// ReconnectMin and ReconnectMax bound the wait between connection
	// attempts, which doubles from ReconnectMin up to ReconnectMax, with
	// jitter. Defaults 1 s and 30 s.
	ReconnectMin time.Duration
	ReconnectMax time.Duration
	// TLS configures mqtts:// connections; nil means the system roots and
	// the remote host name.
	TLS *TLS
	// NoNotifications turns off the retained state message, "1" when
	// connected and "0" when not, that the bridge publishes locally on
	// $SYS/broker/connection/<client id>/state, as Mosquitto's bridges do.
	NoNotifications bool
	// Topics say what travels. At least one is required.
	Topics []Topic
}

// TLS configures the bridge's TLS connection.
type TLS struct {
	// CAFile is a PEM file of the certificate authorities to trust
	// instead of the system's.
	CAFile string
	// CertFile and KeyFile are the bridge's client certificate and key,
	// both or neither.
	CertFile string
	KeyFile  string
	// Insecure skips verifying the remote broker's certificate: for
	// tests only.
	Insecure bool
	// ServerName is the name to verify the certificate against; default
	// the host of Address.
	ServerName string
}

// Direction says which way a topic travels.
type Direction byte

const (
	// Out: local messages go to the remote broker (the default, as in
	// Mosquitto).
	Out Direction = iota
	// In: remote messages come to the local broker.
	In
	// Both: out and in.
	Both
)

func (d Direction) String() string {
	switch d {
	case Out:
		return "out"
	case In:
		return "in"
	case Both:
		return "both"
	}
	return fmt.Sprintf("Direction(%d)", byte(d))
}

// ParseDirection reads "in", "out" or "both".
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "out":
		return Out, nil
	case "in":
		return In, nil
	case "both":
		return Both, nil
	}
	return 0, fmt.Errorf("%q is not in, out or both", s)
}

// ParseVersion reads a protocol version as a configuration names it:
// "3.1.1" (or "mqttv311", "4"), "5" ("5.0", "mqttv5", "mqttv50") or
// "3.1" ("mqttv31", "3").
func ParseVersion(s string) (byte, error) {
	switch s {
	case "3.1.1", "mqttv311", "4":
		return packet.Version311, nil
	case "5", "5.0", "mqttv5", "mqttv50":
		return packet.Version5, nil
	case "3.1", "mqttv31", "3":
		return packet.Version31, nil
	}
	return 0, fmt.Errorf("%q is not a protocol version: 3.1.1, 5 or 3.1", s)
}

// Topic is one topic pattern of a bridge, with Mosquitto's "topic pattern
// direction qos local-prefix remote-prefix" meaning: the bridge subscribes
// locally to LocalPrefix+Pattern (out) and remotely to
// RemotePrefix+Pattern (in). A local message on LocalPrefix+X is
// published remotely on RemotePrefix+X, and a remote message on
// RemotePrefix+X arrives locally on LocalPrefix+X. An empty Pattern maps
// the one topic LocalPrefix to the one topic RemotePrefix.
type Topic struct {
	Pattern   string
	Direction Direction
	// QoS is the subscription's QoS on the side the messages come from;
	// a message travels at the lower of its own QoS and this one.
	QoS          byte
	LocalPrefix  string
	RemotePrefix string
}

// LocalFilter is what the bridge subscribes to locally for Out and Both.
func (t *Topic) LocalFilter() string { return t.LocalPrefix + t.Pattern }

// RemoteFilter is what the bridge subscribes to remotely for In and Both.
func (t *Topic) RemoteFilter() string { return t.RemotePrefix + t.Pattern }

func (t *Topic) out() bool { return t.Direction == Out || t.Direction == Both }
func (t *Topic) in() bool  { return t.Direction == In || t.Direction == Both }

// Validate checks a topic on its own.
func (t *Topic) Validate() error {
	if t.Direction > Both {
		return fmt.Errorf("direction %d", t.Direction)
	}
	if t.QoS > 2 {
		return fmt.Errorf("qos %d is not 0, 1 or 2", t.QoS)
	}
	for _, p := range []struct{ name, v string }{{"local_prefix", t.LocalPrefix}, {"remote_prefix", t.RemotePrefix}} {
		if strings.ContainsAny(p.v, "+#") {
			return fmt.Errorf("%s %q: a prefix may not hold wildcards", p.name, p.v)
		}
	}
	if strings.HasPrefix(t.Pattern, "$share/") || strings.HasPrefix(t.LocalFilter(), "$share/") || strings.HasPrefix(t.RemoteFilter(), "$share/") {
		return errors.New("shared subscriptions cannot be bridged")
	}
	if t.Pattern == "" {
		// The one topic LocalPrefix <-> RemotePrefix.
		if t.LocalPrefix == "" || t.RemotePrefix == "" {
			return errors.New(`an empty pattern needs both local_prefix and remote_prefix: they are then the topics`)
		}
		if err := topic.ValidateName(t.LocalPrefix); err != nil {
			return fmt.Errorf("local_prefix %q: %w", t.LocalPrefix, err)
		}
		if err := topic.ValidateName(t.RemotePrefix); err != nil {
			return fmt.Errorf("remote_prefix %q: %w", t.RemotePrefix, err)
		}
		return nil
	}
	if err := topic.ValidateFilter(t.Pattern); err != nil {
		return fmt.Errorf("pattern %q: %w", t.Pattern, err)
	}
	if err := topic.ValidateFilter(t.LocalFilter()); err != nil {
		return fmt.Errorf("local_prefix %q with pattern %q: %w (a prefix usually ends with /)", t.LocalPrefix, t.Pattern, err)
	}
	if err := topic.ValidateFilter(t.RemoteFilter()); err != nil {
		return fmt.Errorf("remote_prefix %q with pattern %q: %w (a prefix usually ends with /)", t.RemotePrefix, t.Pattern, err)
	}
	return nil
}

// Validate checks a bridge's configuration without touching the network
// or the files it names.
func (c *Config) Validate() error {
	if c.Name == "" {
		return errors.New("name is required")
	}
	if strings.ContainsAny(c.Name, "/+#") {
		return fmt.Errorf("name %q: may not hold /, + or #", c.Name)
	}
	if c.Address == "" {
		return errors.New("address is required")
	}
	u, err := parseAddress(c.Address)
	if err != nil {
		return err
	}
	if c.TLS != nil && !isTLS(u) {
		return fmt.Errorf("tls is set but address %s is not mqtts://", c.Address)
	}
	if t := c.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("tls: cert_file and key_file go together")
	}
	switch c.Version {
	case 0, packet.Version31, packet.Version311, packet.Version5:
	default:
		return fmt.Errorf("protocol level %d: want 3, 4 or 5", c.Version)
	}
	if c.Password != "" && c.Username == "" && c.version() < packet.Version5 {
		return errors.New("a password needs a username before MQTT 5")
	}
	if c.SessionExpiry < 0 || c.SessionExpiry/time.Second > 0xFFFFFFFF {
		return fmt.Errorf("session_expiry %v out of range", c.SessionExpiry)
	}
	if c.SessionExpiry > 0 && c.version() < packet.Version5 {
		return errors.New("session_expiry needs protocol 5 (3.1.1 sessions persist until cleaned)")
	}
	if c.KeepAlive > 65535*time.Second {
		return fmt.Errorf("keepalive %v is over 65535s", c.KeepAlive)
	}
	if c.ReconnectMin < 0 || c.ReconnectMax < 0 {
		return errors.New("reconnect delays may not be negative")
	}
	if c.ReconnectMin > 0 && c.ReconnectMax > 0 && c.ReconnectMax < c.ReconnectMin {
		return fmt.Errorf("reconnect_max %v is below reconnect_min %v", c.ReconnectMax, c.ReconnectMin)
	}
	if len(c.Topics) == 0 {
		return errors.New("no topics: a bridge needs at least one")
	}
	for i := range c.Topics {
		if err := c.Topics[i].Validate(); err != nil {
			return fmt.Errorf("topics[%d]: %w", i, err)
		}
	}
	return nil
}

func (c *Config) version() byte {
	if c.Version == 0 {
		return packet.Version311
	}
	return c.Version
}

// clientID is the configured client id or Mosquitto's default,
// "<hostname>.<name>".
func (c *Config) clientID() string {
	if c.ClientID != "" {
		return c.ClientID
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "mast"
	}
	return host + "." + c.Name
}

// tlsConfig loads the files TLS names.
func (c *Config) tlsConfig() (*tls.Config, error) {
	t := c.TLS
	if t == nil {
		return nil, nil
	}
	tc := &tls.Config{InsecureSkipVerify: t.Insecure, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca_file %s: no PEM certificate in it", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// parseAddress reads Address as the client does, refusing what a bridge
// cannot use.
func parseAddress(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "mqtt://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", s, err)
	}
	switch u.Scheme {
	case "mqtt", "tcp", "mqtts", "ssl", "tls":
	default:
		return nil, fmt.Errorf("address %q: scheme %q is not mqtt:// or mqtts://", s, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("address %q has no host", s)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("address %q: a broker address has no path", s)
	}
	return u, nil
}

func isTLS(u *url.URL) bool { return u.Scheme == "mqtts" || u.Scheme == "ssl" || u.Scheme == "tls" }
