package broker

import (
	"strings"
	"sync"
	"time"

	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/topic"
)

// Remote is the seam through which a cluster routes messages between
// brokers (package cluster implements it on NATS). Set it with
// Options.Remote; without one nothing here runs.
//
// The broker keeps the reference count: Interest(filter, +1) is called
// when a distinct non-shared filter gets its first subscriber among all
// the server's sessions, Interest(filter, -1) when it loses its last one.
// Calls for one filter never overlap and come in that order. Shared
// subscriptions are announced with their whole filter
// ($share/group/filter): the Remote picks, for each message, one node
// with members of the group (a NATS queue group), and that node gets
// the message through DeliverRemote with Share set. In a cluster the
// broker therefore leaves shared groups out of its local routing of
// messages it forwards.
//
// Forward is called, after local routing, for every message published on
// this server by a client, a will, an internal client or Server.Publish,
// except $SYS topics and messages that came in through DeliverRemote.
//
// Both methods may be called with broker locks held (Server.mu when a
// session ends) and from many goroutines at once: they must be quick,
// must not block on the network, and must not call back into the Server.
// Forward may keep m.Payload: it is never modified. It returns the id
// the cluster gives the message (see RemoteMessage.ID) and, for a
// QoS 1/2 message the cluster must keep (some persistent session in the
// cluster needs it), a wait for that to be done, which the broker calls
// before acknowledging the message to its publisher; nil otherwise.
type Remote interface {
	Interest(filter string, delta int)
	Forward(m RemoteMessage) (id uint64, wait func() error)
}

// Announcer is a Remote that tells the other nodes about each client
// that connects here, so that a connection with the same client id on
// another node is taken over [MQTT-3.1.4-3] (for persistent sessions
// SessionKeeper.Claim does it first). Connected is called after CONNACK
// is queued, from the connection's goroutine; it must not block.
type Announcer interface {
	Connected(clientID string, at time.Time)
}

// SessionKeeper is a Remote that keeps persistent sessions in the
// cluster, so that a client may resume its session on any node.
type SessionKeeper interface {
	// Claim is called on CONNECT, from the connection's goroutine with
	// no broker lock held, before the session is attached. It makes
	// this node the owner of the client's session: a node that holds it
	// now ends its copy first (and kicks its connection). With clean,
	// the cluster's copy is dropped. local says whether this node holds
	// a session for the client now; persistent, whether the new
	// connection's session outlives it (expiry > 0).
	//
	// It returns the cluster's record when this node must build the
	// session from it (nil when there is none, or this node's own copy
	// is the current one), and a replay (or nil) that delivers, once the
	// session is attached, the messages the session missed while no
	// node held it. An error means the cluster cannot tell now (no
	// quorum): the client is refused as "server unavailable".
	Claim(clientID string, clean, local, persistent bool) (*store.Session, func(deliver func(RemoteMessage)), error)
	// Mirror receives, after each store commit, the writes of
	// persistent sessions (PutSession and DeleteSession ops) for the
	// cluster's copy. It runs on the journal's goroutine and must not
	// block; the ops are only valid during the call.
	Mirror(ops []store.Op)
}

// RemoteMessage is a message crossing between brokers.
type RemoteMessage struct {
	Topic   string
	Payload []byte // shared, never modified
	QoS     byte
	Retain  bool
	// Properties is the v5 property block (packet.AppendProperties for
	// PUBLISH) of the properties that travel with the message, the
	// remaining Message Expiry Interval included; nil when there are none.
	Properties []byte
	// Origin names the node the message was published on; the broker
	// leaves it empty in Forward and the Remote fills it in.
	Origin string
	// Share, in DeliverRemote, says the cluster picked this node for
	// one shared subscription ($share/group/filter): the message goes
	// to one of its local members and to nothing else. Empty: to every
	// matching non-shared subscription.
	Share string
	// Received, on a message the cluster replays, is when the cluster
	// first kept it; zero means now.
	Received time.Time
	// ID identifies the message in the cluster (the same on every node
	// and in replays); 0 when unknown.
	ID uint64
}

// remoteState is the broker's side of a Remote: the reference count of
// local filters. Nil without a Remote.
type remoteState struct {
	r  Remote
	mu sync.Mutex // a leaf but for the calls to r.Interest, see docs/locking.md
	n  map[string]int
}

func newRemoteState(r Remote) *remoteState {
	if r == nil {
		return nil
	}
	return &remoteState{r: r, n: make(map[string]int)}
}

// addSub adds a subscription to the trie and, with a Remote, counts its
// filter; it reports whether owner already had filter.
func (s *Server) addSub(owner, filter string, v subscription) bool {
	replaced := s.subs.Subscribe(owner, filter, v)
	if rs := s.remote; rs != nil && !replaced {
		rs.count(filter, 1)
	}
	return replaced
}

// removeSub removes a subscription from the trie and, with a Remote,
// uncounts its filter; it reports whether there was one.
func (s *Server) removeSub(owner, filter string) bool {
	ok := s.subs.Unsubscribe(owner, filter)
	if rs := s.remote; rs != nil && ok {
		rs.count(filter, -1)
	}
	return ok
}

func (rs *remoteState) count(filter string, delta int) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	n := rs.n[filter] + delta
	switch {
	case n <= 0:
		delete(rs.n, filter)
		if n == 0 {
			rs.r.Interest(filter, -1)
		}
	case n == 1 && delta > 0:
		rs.n[filter] = n
		rs.r.Interest(filter, 1)
	default:
		rs.n[filter] = n
	}
}

// forward hands a locally published message to the Remote and returns
// the id the cluster gave it and the Remote's wait, if any.
func (s *Server) forward(m *message) (uint64, func() error) {
	if strings.HasPrefix(m.publisher, remotePublisher) || sysTopic(m.topic) {
		return 0, nil
	}
	rm, ok := s.toRemote(m)
	if !ok {
		return 0, nil
	}
	return s.remote.r.Forward(rm)
}

// toRemote is m as it crosses to another node; false when it has
// expired or its properties cannot be encoded.
func (s *Server) toRemote(m *message) (RemoteMessage, bool) {
	rm := RemoteMessage{Topic: m.topic, Payload: m.payload, QoS: m.qos, Retain: m.retain, ID: m.cid}
	if m.props != nil || !m.expiry.IsZero() {
		var p packet.Properties
		if m.props != nil {
			p = *m.props
		}
		if !m.expiry.IsZero() {
			left := m.remainingExpiry(time.Now())
			if left == 0 {
				return rm, false // expired on the way [MQTT-3.3.2-5]
			}
			p.MessageExpiry = left
			p.Set(packet.PropMessageExpiry)
		}
		b, err := packet.AppendProperties(nil, packet.PUBLISH, &p)
		if err != nil {
			s.log.Warn("message not forwarded to the cluster: bad properties", "topic", m.topic, "err", err)
			return rm, false
		}
		rm.Properties = b
	}
	return rm, true
}

// remotePublisher marks messages from the cluster: U+0000 cannot start a
// client id, so No Local never matches one.
const remotePublisher = "\x00remote:"

// DeliverRemote routes a message that another node received from its
// client to this server's sessions only: it is not forwarded again. A
// retained message is kept here too (and in the store, if any), so that
// each node holds the retained messages published anywhere, as far as
// core NATS delivered them (best effort: a node that was down misses
// them). It returns once local delivery is done.
func (s *Server) DeliverRemote(m RemoteMessage) {
	if msg := s.fromRemote(m); msg != nil {
		s.publish(msg, nil, nil)
	}
}

// fromRemote makes the message to route from a RemoteMessage; nil when
// it is not acceptable.
func (s *Server) fromRemote(m RemoteMessage) *message {
	if s.isClosing() {
		return nil
	}
	if err := topic.ValidateName(m.Topic); err != nil || m.QoS > 2 || reservedTopic(m.Topic) {
		s.stats.dropped.Add(1)
		return nil
	}
	msg := &message{
		topic:     m.Topic,
		payload:   m.Payload,
		qos:       min(m.QoS, s.lim().MaxQoS),
		retain:    m.Retain && !s.lim().DisableRetain,
		publisher: remotePublisher + m.Origin,
		arrived:   time.Now(),
		share:     m.Share,
		cid:       m.ID,
	}
	if !m.Received.IsZero() && m.Received.Before(msg.arrived) {
		// Replayed: its age (and a session's checkpoint) counts from
		// when the cluster first had it.
		msg.arrived = m.Received
	}
	if msg.payload == nil {
		msg.payload = []byte{}
	}
	if len(m.Properties) > 0 {
		p, err := packet.DecodeProperties(packet.PUBLISH, m.Properties)
		if err != nil {
			s.stats.dropped.Add(1)
			s.log.Warn("malformed properties from the cluster", "topic", m.Topic, "origin", m.Origin, "err", err)
			return nil
		}
		if p.Has(packet.PropMessageExpiry) {
			msg.expiry = msg.arrived.Add(time.Duration(p.MessageExpiry) * time.Second)
		}
		msg.props = forwardedProps(&p)
	}
	msg.size = messageSize(msg)
	if s.verbose {
		s.log.Debug("Received PUBLISH from cluster node " + m.Origin + " (q" + itoa(int(msg.qos)) + ", r" + itoa(b2i(msg.retain)) + ", '" + msg.topic + "', ... (" + itoa(len(msg.payload)) + " bytes))")
	}
	return msg
}
