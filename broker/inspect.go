package broker

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/topic"
)

// What an operator can see and do without writing a client: used by the
// admin API and the dashboard.

// ClientInfo describes one session and its connection, if any.
type ClientInfo struct {
	ClientID      string    `json:"client_id"`
	Username      string    `json:"username,omitempty"`
	Remote        string    `json:"remote,omitempty"`
	Version       byte      `json:"protocol_level"`
	Connected     bool      `json:"connected"`
	ConnectedAt   time.Time `json:"connected_at,omitzero"`
	KeepAlive     int       `json:"keep_alive_seconds"`
	SessionExpiry uint32    `json:"session_expiry_seconds"`
	Subscriptions int       `json:"subscriptions"`
	Inflight      int       `json:"inflight"`
	Queued        int       `json:"queued"`
	Dropped       uint64    `json:"dropped"`
}

// SubscriptionInfo is one subscription.
type SubscriptionInfo struct {
	ClientID          string `json:"client_id"`
	Filter            string `json:"filter"`
	QoS               byte   `json:"qos"`
	NoLocal           bool   `json:"no_local,omitempty"`
	RetainAsPublished bool   `json:"retain_as_published,omitempty"`
	RetainHandling    byte   `json:"retain_handling,omitempty"`
	ID                uint32 `json:"subscription_id,omitempty"`
}

// RetainedInfo is one retained message.
type RetainedInfo struct {
	Topic   string `json:"topic"`
	Payload []byte `json:"payload"`
	QoS     byte   `json:"qos"`
}

func (s *session) infoLocked() ClientInfo {
	ci := ClientInfo{ClientID: s.id, Version: s.version, SessionExpiry: s.expiry,
		Subscriptions: len(s.subs), Inflight: s.sending, Queued: len(s.queue), Dropped: s.dropped}
	if s.client != nil {
		ci.Username = s.client.Username
	}
	if c := s.conn; c != nil {
		ci.Connected = true
		ci.Remote = c.remote
		ci.ConnectedAt = c.connectedAt
		ci.KeepAlive = int(c.keepAlive / time.Second)
		ci.Dropped += c.dropped.Load()
	}
	return ci
}

// Clients returns every session, sorted by client id.
func (s *Server) Clients() []ClientInfo {
	s.mu.Lock()
	out := make([]ClientInfo, 0, len(s.sessions))
	for _, sess := range s.sessions {
		sess.mu.Lock()
		out = append(out, sess.infoLocked())
		sess.mu.Unlock()
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b ClientInfo) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out
}

// Client returns one session and its subscriptions.
func (s *Server) Client(id string) (ClientInfo, []SubscriptionInfo, bool) {
	s.mu.Lock()
	sess := s.sessions[id]
	s.mu.Unlock()
	if sess == nil {
		return ClientInfo{}, nil, false
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.infoLocked(), sess.subsLocked(), true
}

func (s *session) subsLocked() []SubscriptionInfo {
	out := make([]SubscriptionInfo, 0, len(s.subs))
	for f, o := range s.subs {
		out = append(out, SubscriptionInfo{ClientID: s.id, Filter: f, QoS: o.qos, NoLocal: o.noLocal,
			RetainAsPublished: o.retainAsPub, RetainHandling: o.retainHandling, ID: o.id})
	}
	slices.SortFunc(out, func(a, b SubscriptionInfo) int { return strings.Compare(a.Filter, b.Filter) })
	return out
}

// Subscriptions returns every subscription, sorted by client and filter.
func (s *Server) Subscriptions() []SubscriptionInfo {
	s.mu.Lock()
	sessions := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	var out []SubscriptionInfo
	for _, sess := range sessions {
		sess.mu.Lock()
		out = append(out, sess.subsLocked()...)
		sess.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b SubscriptionInfo) int {
		if c := strings.Compare(a.ClientID, b.ClientID); c != 0 {
			return c
		}
		return strings.Compare(a.Filter, b.Filter)
	})
	return out
}

// Disconnect closes a client's connection (v5: DISCONNECT 0x98,
// administrative action). It reports whether the client was connected.
func (s *Server) Disconnect(id string) bool {
	s.mu.Lock()
	sess := s.sessions[id]
	s.mu.Unlock()
	if sess == nil {
		return false
	}
	sess.mu.Lock()
	c := sess.conn
	sess.mu.Unlock()
	if c == nil {
		return false
	}
	c.kick(0x98, "disconnected by an administrator")
	return true
}

// Retained returns up to limit retained messages matching filter, in
// topic order.
func (s *Server) Retained(filter string, limit int) ([]RetainedInfo, error) {
	if err := topic.ValidateFilter(filter); err != nil {
		return nil, err
	}
	var out []RetainedInfo
	s.retained.Match(filter, func(name string, m *message) bool {
		out = append(out, RetainedInfo{Topic: name, Payload: m.payload, QoS: m.qos})
		return limit <= 0 || len(out) < limit
	})
	slices.SortFunc(out, func(a, b RetainedInfo) int { return strings.Compare(a.Topic, b.Topic) })
	return out, nil
}

// DeleteRetained removes the retained message of a topic.
func (s *Server) DeleteRetained(name string) bool {
	ok := s.retained.Delete(name)
	if ok && s.journal != nil {
		s.journal.submit([]store.Op{{Kind: store.DeleteRetained, Topic: name}}, false, nil)
	}
	return ok
}

// ErrInvalidQoS is returned by Publish for a QoS above 2.
var ErrInvalidQoS = errors.New("broker: QoS must be 0, 1 or 2")

// Publish publishes a message as the broker itself (the admin API's
// "publish"). It returns once the message is durable where it must be.
func (s *Server) Publish(name string, payload []byte, qos byte, retain bool) error {
	if err := topic.ValidateName(name); err != nil {
		return err
	}
	if qos > 2 {
		return ErrInvalidQoS
	}
	m := &message{topic: name, payload: slices.Clone(payload), qos: qos, retain: retain,
		publisher: "", arrived: time.Now()}
	m.size = messageSize(m)
	done := make(chan error, 1)
	s.publish(m, nil, func(_ int, err error) { done <- err })
	return <-done
}

// Version is the version string the server reports (Options.Version), for
// the admin API.
func (s *Server) Version() string { return s.opts.Version }
