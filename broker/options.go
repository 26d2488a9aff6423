package broker

import (
	"log/slog"
	"net"
	"time"

	"github.com/mastmq/mast/auth"
	"github.com/mastmq/mast/store"
)

// Durability says when a write to the store counts as done.
type Durability int

const (
	// DurabilitySync: a QoS 1/2 message for a persistent session or a
	// retained message is acknowledged only once it is synced to disk;
	// concurrent writes share one sync (group commit). The default.
	DurabilitySync Durability = iota
	// DurabilityBatch: writes are synced every SyncInterval; a power loss
	// can lose what was acknowledged in the last interval, a killed
	// process loses nothing the store had written.
	DurabilityBatch
	// DurabilityNone: the store is never synced explicitly; the operating
	// system writes back when it chooses.
	DurabilityNone
)

// Options configures a Server. The zero value of a field means its default,
// listed beside it; Defaults fills them in.
type Options struct {
	// MaxPacketSize is the largest packet accepted from a client, fixed
	// header included; larger ones close the connection (v5: DISCONNECT
	// 0x95). Default 1 MiB. It is advertised to v5 clients in CONNACK.
	MaxPacketSize uint32
	// ReceiveMaximum is how many QoS 1/2 PUBLISH a client may have
	// unacknowledged towards us (v5 CONNACK Receive Maximum). Default 1024.
	ReceiveMaximum uint16
	// MaxInflight caps the QoS 1/2 messages in flight to one client, below
	// the client's own Receive Maximum. Default 1024.
	MaxInflight int
	// MaxQueued caps the QoS 1/2 messages waiting per session (offline, or
	// past the in-flight window); beyond it new messages are dropped and
	// counted. Default 1000.
	MaxQueued int
	// QueueQoS0 also queues QoS 0 messages for offline persistent sessions.
	QueueQoS0 bool
	// MaxOutboundBytes bounds the bytes waiting in one connection's write
	// queue; QoS 0 messages beyond it are dropped for that subscriber and
	// counted. Default 8 MiB.
	MaxOutboundBytes int
	// TopicAliasMaximum is the v5 Topic Alias Maximum offered to clients
	// for inbound aliases. Default 65535; 0 is the default, so use
	// DisableTopicAlias to offer none.
	TopicAliasMaximum uint16
	DisableTopicAlias bool
	// MaxKeepAlive caps the keep alive a v5 client may ask for; a larger or
	// zero request gets a Server Keep Alive of this value. 0 means no cap.
	MaxKeepAlive uint16
	// MaxSessionExpiry caps v5 session expiry intervals, in seconds. 0 means
	// no cap beyond the protocol's.
	MaxSessionExpiry uint32
	// MaxQoS is the highest QoS the server grants. Default 2.
	MaxQoS byte
	// RetainAvailable turns retained messages on; on by default, set
	// DisableRetain to turn them off.
	DisableRetain bool
	// AllowZeroLengthClientID lets clients connect with an empty id (and a
	// clean session in 3.1.1); the server then assigns one. Default true;
	// set DisallowEmptyClientID to refuse.
	DisallowEmptyClientID bool
	// WriteTimeout bounds how long one write may block on a client that
	// does not read; the connection is closed after it. Default 30s.
	WriteTimeout time.Duration
	// ConnectTimeout closes sockets that send no CONNECT in time. Default 10s.
	ConnectTimeout time.Duration
	// SysInterval is how often $SYS topics are published; 0 means the
	// default of 10s, a negative value turns $SYS off.
	SysInterval time.Duration
	// Store keeps persistent sessions, their messages and retained
	// messages across restarts; nil keeps everything in memory. A server
	// with a Store is made with Open, which restores its state.
	Store store.Store
	// Durability and SyncInterval (for DurabilityBatch, default 10ms)
	// decide when writes are synced.
	Durability   Durability
	SyncInterval time.Duration
	// MaxMessageSize caps a PUBLISH payload (Mosquitto's
	// message_size_limit); a larger message is not delivered, its QoS
	// flow is completed (v5: reason 0x83, as Mosquitto answers). 0 means
	// no cap beyond MaxPacketSize.
	MaxMessageSize int
	// MaxConnections caps open connections in total; 0 means no cap.
	// Per-listener caps are in ListenerOptions.
	MaxConnections int
	// ConnectionRate caps new connections a second from one IP address;
	// 0 means no cap.
	ConnectionRate float64
	// MaxSubscriptions caps the subscriptions of one session; 0 means no
	// cap. Beyond it SUBSCRIBE gets 0x97 (v5) or 0x80 (3.1.1).
	MaxSubscriptions int
	// MaxTopicLength (bytes) and MaxTopicLevels cap topic names and
	// filters. MaxTopicLength 0 means the protocol's own limit.
	// MaxTopicLevels 0 means the default of 200 (as Mosquitto, since each
	// level of a subscription is a node in memory: unbounded, a few
	// SUBSCRIBE packets of 65,535-level filters would take gigabytes);
	// negative means no cap.
	MaxTopicLength int
	MaxTopicLevels int
	// PublishRate caps the PUBLISH packets a second one client may send,
	// with bursts of PublishBurst (default PublishRate); a faster client is
	// slowed down, not disconnected. 0 means no cap.
	PublishRate  float64
	PublishBurst int
	// Authenticator decides who may connect and Authorizer what they may
	// do; nil allows everyone and everything (anonymous access).
	Authenticator auth.Authenticator
	Authorizer    auth.Authorizer
	// AuthTimeout bounds one Authenticate call. Default 10s.
	AuthTimeout time.Duration
	// Observer, if set, is told timings as they happen (metrics).
	Observer Observer
	// Version is reported on $SYS/broker/version.
	Version string
	// Logger receives the server's logs; nil discards them. With Verbose,
	// Mosquitto-style lines for every packet are logged at Debug level.
	Logger  *slog.Logger
	Verbose bool
	// NoConnectionMessages turns off the Info lines for each connection
	// and disconnection (Mosquitto's connection_messages false).
	NoConnectionMessages bool
	// Remote, if set, joins the server to a cluster (package cluster):
	// it is told which filters local sessions use and is handed every
	// locally published message. Nil: a single node.
	Remote Remote
	// AuthFailures, if set, slows down addresses that fail to log in:
	// the broker waits Delay before refusing.
	AuthFailures AuthLimiter
}

// Defaults returns o with every unset field given its default.
func (o Options) Defaults() Options {
	if o.MaxPacketSize == 0 {
		o.MaxPacketSize = 1 << 20
	}
	if o.ReceiveMaximum == 0 {
		o.ReceiveMaximum = 1024
	}
	if o.MaxInflight <= 0 {
		o.MaxInflight = 1024
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = 1000
	}
	if o.MaxOutboundBytes <= 0 {
		o.MaxOutboundBytes = 8 << 20
	}
	if o.TopicAliasMaximum == 0 {
		o.TopicAliasMaximum = 65535
	}
	if o.DisableTopicAlias {
		o.TopicAliasMaximum = 0
	}
	if o.MaxQoS == 0 || o.MaxQoS > 2 {
		o.MaxQoS = 2
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.SysInterval == 0 {
		o.SysInterval = 10 * time.Second
	}
	if o.MaxTopicLevels == 0 {
		o.MaxTopicLevels = DefaultMaxTopicLevels
	}
	if o.AuthTimeout <= 0 {
		o.AuthTimeout = 10 * time.Second
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = 10 * time.Millisecond
	}
	if o.Version == "" {
		o.Version = "mast"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Observer receives timings from the broker's hot paths; its methods must
// be fast and must not block.
type Observer interface {
	// DeliveryLatency is the time from a PUBLISH arriving to a delivery of
	// it being written to a subscriber's socket buffer.
	DeliveryLatency(d time.Duration)
	// StoreCommit is the time one group commit took, and how many
	// operations it carried.
	StoreCommit(d time.Duration, ops int, synced bool)
}

// AuthLimiter slows down repeated login failures from one address
// (auth.Limiter implements it).
type AuthLimiter interface {
	Delay(remote net.Addr) time.Duration
	Failure(remote net.Addr)
	Success(remote net.Addr)
}

// DefaultMaxTopicLevels caps topic levels unless configured.
const DefaultMaxTopicLevels = 200
