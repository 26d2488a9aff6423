package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mastmq/mast/auth"
	"github.com/mastmq/mast/bridge"
	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/listener"
)

// Cluster joins this broker to other mast nodes; Listen empty means a
// single node, and nothing of NATS is started.
type Cluster struct {
	Name   string   // this node's name, unique in the cluster
	Listen string   // host:port for routes from other nodes
	Routes []string // seeds: nats-route://host:port
	// JetStream keeps persistent sessions, their offline messages and
	// pending wills replicated in the cluster (default on).
	JetStream bool
	// Replicas is the replication factor of that state (default 3,
	// never more than the nodes the routes name plus this one).
	Replicas int
	// LogMaxAge bounds how long the cluster keeps a QoS 1/2 message
	// for persistent sessions that have not acknowledged it (default 24h).
	LogMaxAge time.Duration
	// Partition is the partition policy: "quorum" (default) or
	// "available" (see cluster.Options.Partition).
	Partition string
	// Secret, shared by every node, authenticates the routes between
	// them; required when Listen is reachable from other machines.
	Secret string
}

// Config is everything `mast serve` needs.
type Config struct {
	Listeners   []listener.Config
	Broker      broker.Options
	Log         Log
	Persistence Persistence
	Auth        Auth
	HTTP        HTTP
	Cluster     Cluster
	Limits      Limits
	Bridges     []bridge.Config
	// PIDFile, when set, is where serve writes its process id at start-up
	// (and removes it at exit), as Mosquitto's pid_file.
	PIDFile string
	// PerListenerSettings is Mosquitto's per_listener_settings: every
	// listener carries its own Auth and the global Auth is not used.
	PerListenerSettings bool
	// Warnings are things the loader noticed that are legal but probably
	// not what was meant, each naming its file and line. serve should log
	// them at warning level; check-config prints them.
	Warnings []string
}

// Limits the broker enforces beyond those in broker.Options.
type Limits struct {
	// MaxConnections caps the clients connected at once over all
	// listeners; 0 means no cap. Each listener may have its own cap too
	// (listener.Config.MaxConnections).
	MaxConnections int
	// MessageSizeLimit is the largest PUBLISH payload accepted
	// (Mosquitto's message_size_limit). A larger message is not
	// delivered, but its QoS flow is completed (v5: PUBACK/PUBREC 0x83
	// implementation specific error, as Mosquitto answers). 0 means no
	// limit beyond the maximum packet size.
	MessageSizeLimit uint32
}

// HTTP configures the metrics, health and admin endpoints.
type HTTP struct {
	Listen string // host:port; empty turns HTTP off
	Token  string // bearer token; required when Listen is not loopback
}

// Persistence says where and how durably the broker keeps its state.
type Persistence struct {
	Memory       bool   // keep nothing on disk
	DataDir      string // the store's directory
	Durability   broker.Durability
	SyncInterval time.Duration
}

// Auth configures who may connect and what they may do.
type Auth struct {
	// AllowAnonymous lets clients without a user name in. Nil means not
	// said: allowed on loopback-only brokers with no password file,
	// refused otherwise.
	AllowAnonymous *bool
	PasswordFile   string
	ACLFile        string
	// ACL holds access rules written in the YAML itself, the same rules
	// an ACL file holds.
	ACL []auth.Rule
	// HTTPHook, when set, asks a URL who may connect and what they may
	// do (the webhook pattern).
	HTTPHook *HTTPHook
}

// HTTPHook configures auth.HTTPHook.
type HTTPHook struct {
	URL      string
	Timeout  time.Duration
	CacheTTL time.Duration
}

// DefaultDataDir is where the store lives unless configured.
const DefaultDataDir = "mast-data"

// Log configures logging.
type Log struct {
	Level   slog.Level
	Format  string // "text" or "json"
	Verbose bool   // Mosquitto-style packet lines
	// Dest lists where logs go: "stderr" (the default when empty),
	// "stdout", "file" (to File), "syslog", "topic" ($SYS/broker/log/...),
	// "dlt", or "none" alone for no logging. From Mosquitto's log_dest.
	Dest []string
	File string
	// Types is the set of Mosquitto log_type names given ("error",
	// "warning", "notice", "information", "debug", "subscribe",
	// "unsubscribe", "websockets", "all"); nil when not said. Level and
	// Verbose are already set from it.
	Types map[string]bool
	// NoConnectionMessages turns off the lines logged when a client
	// connects and disconnects (Mosquitto's connection_messages false).
	NoConnectionMessages bool
}

// LevelOff is a log level above every message: Mosquitto's "log_type none".
const LevelOff = slog.LevelError + 8

// DefaultListener is where mast listens with no configuration: localhost
// only, as Mosquitto 2 does without a config file.
const DefaultListener = "127.0.0.1:1883"

// Default returns the configuration used when no file is given.
func Default() *Config {
	l, _ := listener.Parse(DefaultListener)
	return &Config{
		Listeners:   []listener.Config{l},
		Log:         Log{Level: slog.LevelInfo, Format: "text"},
		Persistence: Persistence{DataDir: DefaultDataDir},
	}
}

// file is the YAML schema. Every key is documented in docs/config.md.
type file struct {
	Listeners   []listenerSpec   `yaml:"listeners"`
	Log         *logSpec         `yaml:"log"`
	MQTT        *mqttSpec        `yaml:"mqtt"`
	Limits      *limitsSpec      `yaml:"limits"`
	SysInterval *duration        `yaml:"sys_interval"`
	Persistence *persistenceSpec `yaml:"persistence"`
	Auth        *authSpec        `yaml:"auth"`
	HTTP        *httpSpec        `yaml:"http"`
	Cluster     *clusterSpec     `yaml:"cluster"`
	Bridges     bridgeList       `yaml:"bridges"`

	lines []int // line of each listeners entry
}

type clusterSpec struct {
	Name      string    `yaml:"name"`
	Listen    string    `yaml:"listen"`
	Routes    []string  `yaml:"routes"`
	JetStream *bool     `yaml:"jetstream"`
	Replicas  *int      `yaml:"replicas"`
	LogMaxAge *duration `yaml:"log_max_age"`
	Partition string    `yaml:"partition"`
	Secret    string    `yaml:"secret"`
}

type httpSpec struct {
	Listen string `yaml:"listen"`
	Token  string `yaml:"token"`
}

type persistenceSpec struct {
	Memory       *bool     `yaml:"memory"`
	DataDir      *string   `yaml:"data_dir"`
	Durability   *string   `yaml:"durability"`
	SyncInterval *duration `yaml:"sync_interval"`
}

type authSpec struct {
	AllowAnonymous *bool         `yaml:"allow_anonymous"`
	PasswordFile   *string       `yaml:"password_file"`
	ACLFile        *string       `yaml:"acl_file"`
	ACL            []auth.Rule   `yaml:"acl"`
	HTTPHook       *httpHookSpec `yaml:"http_hook"`
}

type httpHookSpec struct {
	URL      string    `yaml:"url"`
	Timeout  *duration `yaml:"timeout"`
	CacheTTL *duration `yaml:"cache_ttl"`
}

type listenerSpec struct {
	Address        string    `yaml:"address"`
	Protocol       string    `yaml:"protocol"`
	Path           string    `yaml:"path"`
	TrustProxy     bool      `yaml:"trust_proxy"`
	MaxConnections *posInt   `yaml:"max_connections"`
	TLS            *tlsSpec  `yaml:"tls"`
	Auth           *authSpec `yaml:"auth"`
}

type tlsSpec struct {
	CertFile              string `yaml:"cert_file"`
	KeyFile               string `yaml:"key_file"`
	CAFile                string `yaml:"ca_file"`
	RequireCertificate    bool   `yaml:"require_certificate"`
	UseIdentityAsUsername bool   `yaml:"use_identity_as_username"`
	UseSubjectAsUsername  bool   `yaml:"use_subject_as_username"`
	MinVersion            string `yaml:"min_version"`
}

type logSpec struct {
	Level   string   `yaml:"level"`
	Format  string   `yaml:"format"`
	Verbose bool     `yaml:"verbose"`
	Dest    []string `yaml:"dest"`
	File    string   `yaml:"file"`
	// ConnectionMessages false turns off the connect/disconnect lines.
	ConnectionMessages *bool `yaml:"connection_messages"`
}

type mqttSpec struct {
	MaxQoS             *qos      `yaml:"max_qos"`
	RetainAvailable    *bool     `yaml:"retain_available"`
	AllowEmptyClientID *bool     `yaml:"allow_empty_client_id"`
	TopicAliasMaximum  *uint16   `yaml:"topic_alias_maximum"`
	MaxKeepAlive       *uint16   `yaml:"max_keepalive"`
	MaxSessionExpiry   *duration `yaml:"max_session_expiry"`
	QueueQoS0          *bool     `yaml:"queue_qos0_messages"`
}

type limitsSpec struct {
	MaxPacketSize    *size     `yaml:"max_packet_size"`
	ReceiveMaximum   *uint16   `yaml:"receive_maximum"`
	MaxInflight      *posInt   `yaml:"max_inflight_messages"`
	MaxQueued        *posInt   `yaml:"max_queued_messages"`
	MaxOutboundBytes *size     `yaml:"max_outbound_bytes"`
	ConnectTimeout   *duration `yaml:"connect_timeout"`
	WriteTimeout     *duration `yaml:"write_timeout"`
	MaxConnections   *posInt   `yaml:"max_connections"`
	MessageSizeLimit *size     `yaml:"message_size_limit"`
	ConnectionRate   *posInt   `yaml:"connection_rate"`
	MaxSubscriptions *posInt   `yaml:"max_subscriptions"`
	MaxTopicLength   *posInt   `yaml:"max_topic_length"`
	MaxTopicLevels   *posInt   `yaml:"max_topic_levels"`
	PublishRate      *posInt   `yaml:"publish_rate"`
	PublishBurst     *posInt   `yaml:"publish_burst"`
}

// Load reads a YAML configuration file. Keys not in the file keep their
// defaults.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse reads YAML configuration text.
func Parse(data []byte) (*Config, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, cleanYAMLError(err)
	}
	f.lines = listenerLines(data)
	return f.apply(Default())
}

// listenerLines finds the line of each entry of the listeners sequence,
// so that errors found after decoding can name it.
func listenerLines(data []byte) []int {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "listeners" && root.Content[i+1].Kind == yaml.SequenceNode {
			var lines []int
			for _, n := range root.Content[i+1].Content {
				lines = append(lines, n.Line)
			}
			return lines
		}
	}
	return nil
}

// cleanYAMLError drops the library's "yaml: unmarshal errors:" preamble so
// that messages read "line 3: field foo not found".
func cleanYAMLError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.ReplaceAll(msg, "\n  ", "; ")
	msg = strings.TrimSpace(msg)
	msg = strings.ReplaceAll(msg, " in type config.", " in section ")
	return errors.New(msg)
}

func (f *file) apply(c *Config) (*Config, error) {
	if len(f.Listeners) > 0 {
		c.Listeners = nil
		for i, l := range f.Listeners {
			lc, err := l.config()
			if err != nil {
				if i < len(f.lines) {
					return nil, fmt.Errorf("line %d: listeners[%d]: %w", f.lines[i], i, err)
				}
				return nil, fmt.Errorf("listeners[%d]: %w", i, err)
			}
			c.Listeners = append(c.Listeners, lc)
		}
	}
	if f.Log != nil {
		if err := f.Log.apply(&c.Log); err != nil {
			return nil, err
		}
	}
	o := &c.Broker
	if m := f.MQTT; m != nil {
		if m.MaxQoS != nil {
			o.MaxQoS = byte(*m.MaxQoS)
		}
		if m.RetainAvailable != nil {
			o.DisableRetain = !*m.RetainAvailable
		}
		if m.AllowEmptyClientID != nil {
			o.DisallowEmptyClientID = !*m.AllowEmptyClientID
		}
		if m.TopicAliasMaximum != nil {
			o.TopicAliasMaximum = *m.TopicAliasMaximum
			o.DisableTopicAlias = *m.TopicAliasMaximum == 0
		}
		if m.MaxKeepAlive != nil {
			o.MaxKeepAlive = *m.MaxKeepAlive
		}
		if m.MaxSessionExpiry != nil {
			o.MaxSessionExpiry = uint32(time.Duration(*m.MaxSessionExpiry) / time.Second)
		}
		if m.QueueQoS0 != nil {
			o.QueueQoS0 = *m.QueueQoS0
		}
	}
	if l := f.Limits; l != nil {
		if l.MaxPacketSize != nil {
			o.MaxPacketSize = uint32(*l.MaxPacketSize)
		}
		if l.ReceiveMaximum != nil {
			o.ReceiveMaximum = *l.ReceiveMaximum
		}
		if l.MaxInflight != nil {
			o.MaxInflight = int(*l.MaxInflight)
		}
		if l.MaxQueued != nil {
			o.MaxQueued = int(*l.MaxQueued)
		}
		if l.MaxOutboundBytes != nil {
			o.MaxOutboundBytes = int(*l.MaxOutboundBytes)
		}
		if l.ConnectTimeout != nil {
			o.ConnectTimeout = time.Duration(*l.ConnectTimeout)
		}
		if l.WriteTimeout != nil {
			o.WriteTimeout = time.Duration(*l.WriteTimeout)
		}
		if l.MaxConnections != nil {
			c.Limits.MaxConnections = int(*l.MaxConnections)
		}
		if l.MessageSizeLimit != nil {
			c.Limits.MessageSizeLimit = uint32(*l.MessageSizeLimit)
		}
		if l.ConnectionRate != nil {
			o.ConnectionRate = float64(*l.ConnectionRate)
		}
		if l.MaxSubscriptions != nil {
			o.MaxSubscriptions = int(*l.MaxSubscriptions)
		}
		if l.MaxTopicLength != nil {
			o.MaxTopicLength = int(*l.MaxTopicLength)
		}
		if l.MaxTopicLevels != nil {
			o.MaxTopicLevels = int(*l.MaxTopicLevels)
		}
		if l.PublishRate != nil {
			o.PublishRate = float64(*l.PublishRate)
		}
		if l.PublishBurst != nil {
			o.PublishBurst = int(*l.PublishBurst)
		}
	}
	if p := f.Persistence; p != nil {
		if err := p.apply(&c.Persistence); err != nil {
			return nil, err
		}
	}
	if a := f.Auth; a != nil {
		c.Auth.AllowAnonymous = a.AllowAnonymous
		if a.PasswordFile != nil {
			c.Auth.PasswordFile = *a.PasswordFile
		}
		if a.ACLFile != nil {
			c.Auth.ACLFile = *a.ACLFile
		}
		if len(a.ACL) > 0 {
			if c.Auth.ACLFile != "" {
				return nil, errors.New("auth: acl_file and acl rules are both set; use one")
			}
			if _, err := auth.NewACL(a.ACL); err != nil {
				return nil, fmt.Errorf("auth.acl: %w", err)
			}
			c.Auth.ACL = a.ACL
		}
		if h := a.HTTPHook; h != nil {
			if h.URL == "" {
				return nil, errors.New("auth.http_hook: url is empty")
			}
			c.Auth.HTTPHook = &HTTPHook{URL: h.URL}
			if h.Timeout != nil {
				c.Auth.HTTPHook.Timeout = time.Duration(*h.Timeout)
			}
			if h.CacheTTL != nil {
				c.Auth.HTTPHook.CacheTTL = time.Duration(*h.CacheTTL)
			}
		}
	}
	if cs := f.Cluster; cs != nil {
		if cs.Listen == "" {
			return nil, errors.New("cluster: listen is required")
		}
		c.Cluster = Cluster{Name: cs.Name, Listen: cs.Listen, Routes: cs.Routes, JetStream: true, Replicas: 3,
			LogMaxAge: 24 * time.Hour, Secret: cs.Secret}
		if cs.JetStream != nil {
			c.Cluster.JetStream = *cs.JetStream
		}
		if cs.Replicas != nil {
			if *cs.Replicas < 1 || *cs.Replicas > 5 {
				return nil, fmt.Errorf("cluster: replicas %d: want 1 to 5", *cs.Replicas)
			}
			c.Cluster.Replicas = *cs.Replicas
		}
		if cs.LogMaxAge != nil {
			if *cs.LogMaxAge <= 0 {
				return nil, errors.New("cluster: log_max_age must be positive")
			}
			c.Cluster.LogMaxAge = time.Duration(*cs.LogMaxAge)
		}
		if c.Cluster.JetStream && c.Cluster.Name == "" {
			return nil, errors.New("cluster: name is required (each node needs its own for the replicated sessions; or set jetstream: false)")
		}
		switch cs.Partition {
		case "", "quorum", "available":
			c.Cluster.Partition = cs.Partition
		default:
			return nil, fmt.Errorf("cluster: partition %q: want quorum or available", cs.Partition)
		}
	}
	if h := f.HTTP; h != nil {
		c.HTTP = HTTP{Listen: h.Listen, Token: h.Token}
	}
	c.Bridges = f.Bridges
	if f.SysInterval != nil {
		o.SysInterval = time.Duration(*f.SysInterval)
		if o.SysInterval == 0 {
			o.SysInterval = -1 // 0 turns $SYS off, as in Mosquitto
		}
	}
	return c, nil
}

func (l *listenerSpec) config() (listener.Config, error) {
	lc, err := listener.Parse(l.Address)
	if err != nil {
		return lc, err
	}
	if l.Protocol != "" {
		lc.Protocol = l.Protocol
	}
	if l.Path != "" {
		lc.WebSocketPath = l.Path
	}
	lc.TrustProxy = l.TrustProxy
	if l.MaxConnections != nil {
		lc.MaxConnections = int(*l.MaxConnections)
	}
	if t := l.TLS; t != nil {
		lc.TLS = &listener.TLS{
			CertFile:              t.CertFile,
			KeyFile:               t.KeyFile,
			CAFile:                t.CAFile,
			RequireCertificate:    t.RequireCertificate,
			UseIdentityAsUsername: t.UseIdentityAsUsername,
			UseSubjectAsUsername:  t.UseSubjectAsUsername,
			MinVersion:            t.MinVersion,
		}
	}
	if a := l.Auth; a != nil {
		lc.Auth = &listener.Auth{AllowAnonymous: a.AllowAnonymous}
		if a.PasswordFile != nil {
			lc.Auth.PasswordFile = *a.PasswordFile
		}
		if a.ACLFile != nil {
			lc.Auth.ACLFile = *a.ACLFile
		}
	}
	return lc, lc.Validate()
}

func (l *logSpec) apply(c *Log) error {
	if l.Level != "" {
		if err := c.Level.UnmarshalText([]byte(l.Level)); err != nil {
			return fmt.Errorf("log.level: %q is not one of debug, info, warn, error", l.Level)
		}
	}
	switch l.Format {
	case "":
	case "text", "json":
		c.Format = l.Format
	default:
		return fmt.Errorf("log.format: %q is not text or json", l.Format)
	}
	c.Verbose = l.Verbose
	for _, d := range l.Dest {
		switch d {
		case "stderr", "stdout", "file", "none":
		default:
			return fmt.Errorf("log.dest: %q is not stderr, stdout, file or none", d)
		}
	}
	if len(l.Dest) > 0 {
		c.Dest = l.Dest
	}
	if l.File != "" {
		c.File = l.File
		if len(l.Dest) == 0 {
			c.Dest = []string{"file"}
		}
	}
	if slices.Contains(c.Dest, "file") && c.File == "" {
		return errors.New("log.dest: file needs log.file")
	}
	if l.ConnectionMessages != nil {
		c.NoConnectionMessages = !*l.ConnectionMessages
	}
	return nil
}

func (p *persistenceSpec) apply(c *Persistence) error {
	if p.Memory != nil {
		c.Memory = *p.Memory
	}
	if p.DataDir != nil {
		if *p.DataDir == "" {
			return errors.New("persistence.data_dir: empty")
		}
		c.DataDir = *p.DataDir
	}
	if p.Durability != nil {
		d, err := ParseDurability(*p.Durability)
		if err != nil {
			return fmt.Errorf("persistence.durability: %w", err)
		}
		c.Durability = d
	}
	if p.SyncInterval != nil {
		c.SyncInterval = time.Duration(*p.SyncInterval)
	}
	return nil
}

// ParseDurability reads "sync", "batch" or "none".
func ParseDurability(s string) (broker.Durability, error) {
	switch s {
	case "sync":
		return broker.DurabilitySync, nil
	case "batch":
		return broker.DurabilityBatch, nil
	case "none":
		return broker.DurabilityNone, nil
	}
	return 0, fmt.Errorf("%q is not sync, batch or none", s)
}

// CheckExposure refuses a configuration that would let anonymous clients
// in from other machines without saying so: secure by default. A listener
// is authenticated by a password file or by requiring client
// certificates; a listener's own Auth, when set, replaces the global one.
func (c *Config) CheckExposure() error {
	if c.Cluster.Listen != "" && c.Cluster.Secret == "" && !loopbackHostPort(c.Cluster.Listen) {
		return fmt.Errorf("cluster listener %s is reachable from other machines: set cluster.secret (the same on every node)", c.Cluster.Listen)
	}
	if c.HTTP.Listen != "" && c.HTTP.Token == "" {
		if l, err := listener.Parse(c.HTTP.Listen); err != nil || !l.IsLoopback() {
			return fmt.Errorf("http listener %s is reachable from other machines: set http.token", c.HTTP.Listen)
		}
	}
	for _, l := range c.Listeners {
		a := listener.Auth{AllowAnonymous: c.Auth.AllowAnonymous, PasswordFile: c.Auth.PasswordFile}
		if l.Auth != nil {
			a = *l.Auth
		}
		switch {
		case a.PasswordFile != "":
		case l.Auth == nil && c.Auth.HTTPHook != nil:
		case a.AllowAnonymous != nil && *a.AllowAnonymous:
		case l.TLS != nil && l.TLS.RequireCertificate:
		case l.IsLoopback():
		default:
			return fmt.Errorf("listener %s is reachable from other machines and no authentication is configured: "+
				"set auth.password_file, or set auth.allow_anonymous: true to let anyone in", l)
		}
	}
	return nil
}

// loopbackHostPort reports whether host:port names a loopback address.
func loopbackHostPort(hp string) bool {
	host, _, err := net.SplitHostPort(hp)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
