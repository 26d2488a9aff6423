package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/topic"
)

// SessionExpiryNever is the v5 Session Expiry Interval of a session that
// never expires.
const SessionExpiryNever = 0xFFFFFFFF

// Options configures a Client. Only Servers is required; every zero value
// means the default given beside the field.
type Options struct {
	// Servers are tried in order until one accepts a connection:
	// "mqtt://host:port" or "tcp://host:port" (port 1883 by default),
	// "mqtts://host:port", "ssl://..." or "tls://..." (TLS, port 8883 by
	// default), "unix:///path/to/socket". A bare "host:port" means mqtt://.
	// ws:// and wss:// are not built in; use Dial for them.
	Servers []string

	// ClientID identifies the session. Empty lets the server assign one (v5
	// reports it in CONNACK, and the client reuses it on reconnect); at
	// protocol level 3 (MQTT 3.1), which forbids an empty identifier, the
	// client makes up a random one.
	ClientID string
	// Username is sent when not empty; Password when not nil.
	Username string
	Password []byte

	// Version is the protocol level: 3 (MQTT 3.1), 4 (MQTT 3.1.1) or 5
	// (MQTT 5.0). Default 5: every broker in current use speaks it, and its
	// reason codes make failures explicit. Set 4 for brokers that do not.
	Version byte

	// KeepAlive is the longest time without a control packet in either
	// direction before the client sends PINGREQ [MQTT-3.1.2-20]; it is sent
	// in CONNECT in whole seconds. Default 60 s; negative turns keepalive
	// off. A v5 Server Keep Alive in CONNACK replaces it [MQTT-3.2.2-21].
	KeepAlive time.Duration
	// PingTimeout is how long to wait for PINGRESP before declaring the
	// connection dead (ErrPingTimeout). Default: the keepalive, at most 30 s.
	PingTimeout time.Duration

	// CleanStart asks the server to discard any existing session (Clean
	// Session in 3.1.1). Reconnects of a v5 client whose session outlives
	// the connection always resume (Clean Start 0).
	CleanStart bool
	// SessionExpiry is the v5 Session Expiry Interval in seconds. With
	// CleanStart false and SessionExpiry 0 the client asks for a session
	// that never expires (SessionExpiryNever), as mosquitto_sub -c does, so
	// that CleanStart false means a persistent session at every level.
	SessionExpiry uint32

	// Will is the message the server publishes if the connection ends
	// without a DISCONNECT (or with v5 reason 0x04).
	Will *Will

	// ConnectProperties are the v5 CONNECT properties: ReceiveMaximum (how
	// many unacknowledged QoS 1/2 messages the server may send us; default
	// 65535), MaximumPacketSize (larger packets from the server close the
	// connection with 0x95), TopicAliasMaximum (how many inbound topic
	// aliases we accept), RequestResponseInfo, RequestProblemInfo and User
	// properties. SessionExpiry is the field above; authentication
	// properties are not supported.
	ConnectProperties packet.Properties

	// TLSConfig is used for mqtts://, ssl:// and tls:// servers. Nil means
	// the system roots and the server's host name.
	TLSConfig *tls.Config
	// Dial, if set, replaces the built-in dialer: it receives the parsed
	// server URL and returns a connection that carries MQTT packets. It is
	// the hook for WebSocket or proxied transports.
	Dial func(ctx context.Context, server *url.URL) (net.Conn, error)
	// ConnectTimeout bounds one attempt: dialing, the TLS handshake and
	// waiting for CONNACK. Default 30 s.
	ConnectTimeout time.Duration
	// WriteTimeout bounds one write to the socket; a write that takes longer
	// closes the connection. Default 30 s.
	WriteTimeout time.Duration

	// AutoReconnect makes the client reconnect, with exponential backoff
	// between MinBackoff (default 1 s) and MaxBackoff (default 2 min) and
	// jitter, whenever a connection established by Connect is lost.
	AutoReconnect bool
	MinBackoff    time.Duration
	MaxBackoff    time.Duration
	// OfflineBuffer is how many publishes may wait while the client is
	// reconnecting; they are sent in order once connected, after the
	// in-flight messages of a resumed session. Beyond it, and when it is 0,
	// Publish fails at once with ErrNotConnected.
	OfflineBuffer int
	// MaxInflight caps the QoS 1/2 messages sent and not yet acknowledged,
	// below the server's Receive Maximum. Default 65535.
	MaxInflight int
	// TopicAliases lets the client replace repeated topic names with v5
	// topic aliases, up to the server's Topic Alias Maximum.
	TopicAliases bool

	// Callbacks. They run one at a time on the client's delivery goroutine,
	// in order with message handlers, and may call the client (Publish,
	// Subscribe, Disconnect ...).
	//
	// OnConnect is called after every successful connect and reconnect.
	// Subscriptions are renewed automatically on reconnect, so OnConnect
	// need not subscribe again.
	OnConnect func(*Client, *packet.Connack)
	// OnConnectionLost is called when an established connection ends other
	// than through Disconnect; err says why.
	OnConnectionLost func(*Client, error)
	// OnReconnecting is called before each reconnect attempt, from 1.
	OnReconnecting func(c *Client, attempt int)
	// OnMessage receives the messages that match no per-subscription
	// handler.
	OnMessage Handler

	// Logger, if set, receives a line per packet sent and received, worded
	// as Paho's on_log words them ("Sending CONNECT (u0, p0, wr0, wq0, wf0,
	// c1, k60) client_id=b'id'", "Received CONNACK (0, 0)" ...), plus
	// connection events. It is called from the client's goroutines, some
	// holding the client's lock: it must not block, nor call the Client.
	Logger func(string)
}

// Will is the last-will message of a connection.
type Will struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// Properties are the v5 will properties: WillDelay, PayloadFormat,
	// MessageExpiry, ContentType, ResponseTopic, CorrelationData, User.
	Properties packet.Properties
}

// Handler receives messages. It runs on the client's delivery goroutine:
// messages reach handlers one at a time, in the order they were received,
// and a QoS 1 or 2 message is acknowledged once its handlers return, so a
// slow handler slows the server down rather than piling messages up.
type Handler func(c *Client, m *Message)

// settings are Options with defaults filled in and servers parsed.
type settings struct {
	Options
	servers     []*url.URL
	keepAlive   uint16 // seconds, as sent
	pingTimeout time.Duration
}

func (o Options) settings() (*settings, error) {
	s := &settings{Options: o}
	if len(o.Servers) == 0 {
		return nil, errors.New("client: no server given")
	}
	for _, srv := range o.Servers {
		u, err := parseServer(srv)
		if err != nil {
			return nil, err
		}
		s.servers = append(s.servers, u)
	}
	switch s.Version {
	case 0:
		s.Version = packet.Version5
	case packet.Version31, packet.Version311, packet.Version5:
	default:
		return nil, fmt.Errorf("client: protocol level %d, want 3, 4 or 5", o.Version)
	}
	switch {
	case s.KeepAlive == 0:
		s.keepAlive = 60
	case s.KeepAlive < 0:
		s.keepAlive = 0
	case s.KeepAlive > 65535*time.Second:
		return nil, fmt.Errorf("client: keepalive %v exceeds 65535 s", o.KeepAlive)
	default:
		s.keepAlive = uint16((s.KeepAlive + time.Second - 1) / time.Second)
	}
	if s.ConnectTimeout <= 0 {
		s.ConnectTimeout = 30 * time.Second
	}
	if s.WriteTimeout <= 0 {
		s.WriteTimeout = 30 * time.Second
	}
	s.pingTimeout = s.PingTimeout
	if s.MinBackoff <= 0 {
		s.MinBackoff = time.Second
	}
	if s.MaxBackoff <= 0 {
		s.MaxBackoff = 2 * time.Minute
	}
	if s.MaxBackoff < s.MinBackoff {
		s.MaxBackoff = s.MinBackoff
	}
	if s.MaxInflight <= 0 || s.MaxInflight > 65535 {
		s.MaxInflight = 65535
	}
	if s.Version < packet.Version5 && s.Password != nil && s.Username == "" {
		// [MQTT-3.1.2-22] (3.1.1)
		return nil, errors.New("client: a password needs a user name before MQTT 5")
	}
	if s.Version < packet.Version5 && s.ClientID == "" && !s.CleanStart {
		// [MQTT-3.1.3-7] (3.1.1)
		return nil, errors.New("client: an empty client id needs CleanStart before MQTT 5")
	}
	if w := s.Will; w != nil {
		if err := topic.ValidateName(w.Topic); err != nil {
			return nil, fmt.Errorf("client: will topic: %w", err)
		}
		if w.QoS > 2 {
			return nil, fmt.Errorf("client: will QoS %d", w.QoS)
		}
	}
	return s, nil
}

// pingWait is how long to wait for a PINGRESP.
func (s *settings) pingWait(keepAlive time.Duration) time.Duration {
	if s.pingTimeout > 0 {
		return s.pingTimeout
	}
	return min(keepAlive, 30*time.Second)
}

// parseServer parses one entry of Options.Servers.
func parseServer(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "mqtt://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("client: server %q: %w", s, err)
	}
	switch u.Scheme {
	case "mqtt", "tcp", "mqtts", "ssl", "tls":
		if u.Host == "" {
			return nil, fmt.Errorf("client: server %q has no host", s)
		}
	case "unix":
		if u.Path == "" {
			return nil, fmt.Errorf("client: server %q has no socket path", s)
		}
	default:
		if u.Scheme == "ws" || u.Scheme == "wss" {
			return u, nil // only with Options.Dial; checked when dialing
		}
		return nil, fmt.Errorf("client: server %q: unknown scheme %q", s, u.Scheme)
	}
	return u, nil
}

// isTLS reports whether u's scheme means TLS.
func isTLS(u *url.URL) bool {
	return u.Scheme == "mqtts" || u.Scheme == "ssl" || u.Scheme == "tls" || u.Scheme == "wss"
}
