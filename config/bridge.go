package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mastmq/mast/bridge"
)

// The bridges section. Each bridge is checked while it is decoded, so
// that an error names the line of the bridge, topic or key at fault.
// Every key is documented in docs/config.md under "Bridges".

// bridgeList is the bridges section, decoded straight into bridge.Config.
type bridgeList []bridge.Config

type bridgeSpec struct {
	Name          string            `yaml:"name"`
	Address       string            `yaml:"address"`
	ClientID      string            `yaml:"client_id"`
	Username      string            `yaml:"username"`
	Password      string            `yaml:"password"`
	Protocol      *bridgeProtocol   `yaml:"protocol"`
	CleanSession  bool              `yaml:"clean_session"`
	SessionExpiry *duration         `yaml:"session_expiry"`
	KeepAlive     *duration         `yaml:"keepalive"`
	ReconnectMin  *duration         `yaml:"reconnect_min"`
	ReconnectMax  *duration         `yaml:"reconnect_max"`
	Notifications *bool             `yaml:"notifications"`
	TLS           *bridgeTLSSpec    `yaml:"tls"`
	Topics        []bridgeTopicSpec `yaml:"topics"`
}

type bridgeTLSSpec struct {
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	Insecure   bool   `yaml:"insecure"`
	ServerName string `yaml:"server_name"`
}

type bridgeTopicSpec struct {
	Pattern      string           `yaml:"pattern"`
	Direction    *bridgeDirection `yaml:"direction"`
	QoS          *qos             `yaml:"qos"`
	LocalPrefix  string           `yaml:"local_prefix"`
	RemotePrefix string           `yaml:"remote_prefix"`

	topic bridge.Topic
}

func (l *bridgeList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("line %d: bridges: expected a list of bridges", n.Line)
	}
	lines := map[string]int{}
	for i, item := range n.Content {
		var s bridgeSpec
		if err := decodeStrict(item, &s, "bridge"); err != nil {
			return err
		}
		c, err := s.config()
		if err == nil {
			err = c.Validate()
		}
		if err != nil {
			return fmt.Errorf("line %d: bridges[%d]: %w", item.Line, i, err)
		}
		if prev, dup := lines[c.Name]; dup {
			return fmt.Errorf("line %d: bridges[%d]: name %q is taken by the bridge on line %d", item.Line, i, c.Name, prev)
		}
		lines[c.Name] = item.Line
		*l = append(*l, c)
	}
	return nil
}

func (s *bridgeSpec) config() (bridge.Config, error) {
	c := bridge.Config{
		Name:         s.Name,
		Address:      s.Address,
		ClientID:     s.ClientID,
		Username:     s.Username,
		Password:     s.Password,
		CleanSession: s.CleanSession,
	}
	if s.Protocol != nil {
		c.Version = byte(*s.Protocol)
	}
	if s.SessionExpiry != nil {
		if s.CleanSession {
			return c, fmt.Errorf("session_expiry is for persistent sessions, and clean_session is true")
		}
		c.SessionExpiry = time.Duration(*s.SessionExpiry)
	}
	if s.KeepAlive != nil {
		c.KeepAlive = time.Duration(*s.KeepAlive)
		if c.KeepAlive == 0 {
			c.KeepAlive = -1 // 0 turns keepalive off, as in MQTT
		}
	}
	if s.ReconnectMin != nil {
		c.ReconnectMin = time.Duration(*s.ReconnectMin)
	}
	if s.ReconnectMax != nil {
		c.ReconnectMax = time.Duration(*s.ReconnectMax)
	}
	if s.Notifications != nil {
		c.NoNotifications = !*s.Notifications
	}
	if t := s.TLS; t != nil {
		c.TLS = &bridge.TLS{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, Insecure: t.Insecure, ServerName: t.ServerName}
	}
	for _, t := range s.Topics {
		c.Topics = append(c.Topics, t.topic)
	}
	return c, nil
}

func (s *bridgeTLSSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain bridgeTLSSpec
	return decodeStrict(n, (*plain)(s), "bridge tls")
}

func (s *bridgeTopicSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain bridgeTopicSpec
	if err := decodeStrict(n, (*plain)(s), "bridge topic"); err != nil {
		return err
	}
	s.topic = bridge.Topic{Pattern: s.Pattern, LocalPrefix: s.LocalPrefix, RemotePrefix: s.RemotePrefix}
	if s.Direction != nil {
		s.topic.Direction = bridge.Direction(*s.Direction)
	}
	if s.QoS != nil {
		s.topic.QoS = byte(*s.QoS)
	}
	if err := s.topic.Validate(); err != nil {
		return fmt.Errorf("line %d: bridge topic: %w", n.Line, err)
	}
	return nil
}

// bridgeDirection is in, out or both.
type bridgeDirection bridge.Direction

func (d *bridgeDirection) UnmarshalYAML(n *yaml.Node) error {
	v, err := bridge.ParseDirection(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("line %d: direction %q is not in, out or both", n.Line, n.Value)
	}
	*d = bridgeDirection(v)
	return nil
}

// bridgeProtocol is a protocol version: "3.1.1", "5" or "3.1".
type bridgeProtocol byte

func (p *bridgeProtocol) UnmarshalYAML(n *yaml.Node) error {
	v, err := bridge.ParseVersion(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("line %d: protocol %q is not 3.1.1, 5 or 3.1", n.Line, n.Value)
	}
	*p = bridgeProtocol(v)
	return nil
}

// decodeStrict decodes a mapping into v, a pointer to a struct, refusing
// keys the struct does not have. A custom UnmarshalYAML decodes with a
// fresh decoder that would ignore them: the file's KnownFields does not
// reach it.
func decodeStrict(n *yaml.Node, v any, what string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: %s: expected a mapping of keys to values", n.Line, what)
	}
	known := map[string]bool{}
	t := reflect.TypeOf(v).Elem()
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			known[tag] = true
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !known[k.Value] {
			return fmt.Errorf("line %d: field %s not found in %s", k.Line, k.Value, what)
		}
	}
	return n.Decode(v)
}
