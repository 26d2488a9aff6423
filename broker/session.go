package broker

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mastmq/mast/auth"
	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/store"
)

// neverExpire is the session expiry that means "does not expire"; 3.1.1
// persistent sessions use it too.
const neverExpire = 0xFFFFFFFF

// session is the state that can outlive a connection: subscriptions, QoS
// 1/2 in flight both ways, queued messages and the will.
type session struct {
	srv *Server
	id  string

	mu   sync.Mutex
	conn *conn // nil while offline
	// client is the last connection's identity, for read checks on
	// delivery; after a restart it has the stored client id and user name.
	client *auth.Client
	// lopts is the listener of the last connection, whose authorizer
	// checks deliveries; nil after a restart (the server's rules apply).
	lopts    *ListenerOptions
	version  byte
	expiry   uint32
	expireAt time.Time // set while offline, zero when it never expires
	ended    bool
	subs     map[string]subOptions // by filter as subscribed ($share prefix kept)
	// nsubs is len(subs), readable without the lock by routing.
	nsubs atomic.Int32
	will  *message
	// willDelay is the will's delay in seconds (v5).
	willDelay uint32
	// willAt is when a delayed will is due, zero when none; guarded by
	// Server.mu.
	willAt time.Time

	// Outbound QoS 1/2 messages by packet id, whether queued or sent: a
	// packet id is given when a message reaches the session, so that it
	// can be stored with it and a restart resends it unchanged.
	out     map[uint16]*delivery
	queue   []*delivery // not yet sent, in arrival order
	order   []uint16    // sent and unacknowledged, in send order
	sending int         // len of order without acknowledged ids
	nextPID uint16
	seq     uint64 // store order of outbound messages
	quota   int    // in-flight window of the current connection

	// Inbound QoS 2 packet ids received and not yet released
	// [MQTT-4.3.3-9].
	inbound map[uint16]struct{}

	dropped uint64
	// handedOff: the session ends here because another node took it
	// over; the cluster's copy stays and its will is not this node's.
	handedOff bool
	// acked holds the cluster ids of the last messages the client
	// acknowledged (a ring, made on first use in a cluster), so that a
	// replay of the cluster's log skips them.
	acked    []uint64
	ackedPos int
}

// subOptions are one subscription's options as granted.
type subOptions struct {
	qos            byte
	noLocal        bool
	retainAsPub    bool
	retainHandling byte
	id             uint32 // subscription identifier, 0 when none
}

// subscription is what the trie holds for each (client, filter).
type subscription struct {
	sess *session
	opts subOptions
	// shared is the whole $share/group/filter for shared subscriptions.
	shared string
	// ids is opts.id as a one-element slice, so that a delivery carries it
	// without allocating; nil when there is no identifier.
	ids []uint32
}

func newSession(srv *Server, id string) *session {
	return &session{
		srv:     srv,
		id:      id,
		subs:    make(map[string]subOptions),
		out:     make(map[uint16]*delivery),
		inbound: make(map[uint16]struct{}),
		quota:   srv.lim().MaxInflight,
	}
}

// persistent reports whether the session's state goes to the store.
func (s *session) persistent() bool {
	return s.srv.journal != nil && s.expiry > 0
}

// setSubLocked records a subscription's options; dropSubLocked forgets
// one. They keep nsubs, which routing reads without the lock, equal to
// len(subs).
func (s *session) setSubLocked(filter string, o subOptions) {
	s.subs[filter] = o
	s.nsubs.Store(int32(len(s.subs)))
}

func (s *session) dropSubLocked(filter string) {
	delete(s.subs, filter)
	s.nsubs.Store(int32(len(s.subs)))
}

// online reports whether a connection is attached.
func (s *session) online() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn != nil
}

// deliver hands one message to the session: QoS 0 straight to the
// connection, QoS 1/2 through the queue and the in-flight window.
func (s *session) deliver(d delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	if d.qos == 0 {
		if c := s.conn; c != nil {
			// QoS 0 is not held back by the in-flight window; order is
			// kept among messages of one QoS [MQTT-4.6.0-6].
			if c.fits(&d) {
				c.enqueuePublish(d)
			}
			return
		}
		if s.srv.lim().QueueQoS0 && s.expiry > 0 {
			s.queueLocked(&d)
		}
		return
	}
	d.ready = true
	dd := s.reserveLocked(&d)
	if dd == nil {
		return
	}
	if s.persistent() {
		// Retained messages sent on subscription and shared messages
		// handed on: stored, but nobody waits for them.
		s.srv.journal.submit([]store.Op{{Kind: store.PutOutbound, Outbound: s.recordOutbound(dd)}}, false, nil)
	}
	s.fillLocked()
}

// deliverWait is deliver for retained messages sent on subscription: the
// subscriber's own reader waits for its writer instead of dropping QoS 0.
func (s *session) deliverWait(d delivery) {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if d.qos == 0 && c != nil {
		c.waitOutbound()
	}
	s.deliver(d)
}

// reserveLocked gives a QoS 1/2 delivery its packet id and sequence and
// queues it. It returns nil when the queue is full or no packet id is free;
// the message is then dropped for this session and counted.
func (s *session) reserveLocked(d *delivery) *delivery {
	if len(s.queue) >= s.srv.lim().MaxQueued || len(s.out) >= 65535 {
		s.dropped++
		s.srv.stats.dropped.Add(1)
		return nil
	}
	dd := *d
	dd.pid = s.newPIDLocked()
	s.seq++
	dd.seq = s.seq
	s.out[dd.pid] = &dd
	s.queue = append(s.queue, &dd)
	return &dd
}

// queueLocked queues a QoS 0 message for an offline session (QueueQoS0).
func (s *session) queueLocked(d *delivery) {
	if len(s.queue) >= s.srv.lim().MaxQueued {
		s.dropped++
		s.srv.stats.dropped.Add(1)
		return
	}
	dd := *d
	dd.ready = true
	s.queue = append(s.queue, &dd)
}

// newPIDLocked returns a packet id not in use by another outbound message
// [MQTT-2.2.1-3]; never 0. The caller checks that one is free.
func (s *session) newPIDLocked() uint16 {
	for {
		s.nextPID++
		if s.nextPID == 0 {
			s.nextPID = 1
		}
		if _, used := s.out[s.nextPID]; !used {
			return s.nextPID
		}
	}
}

// fillLocked sends queued messages while the connection's in-flight window
// allows [MQTT-3.3.4-9], in order. It stops at a message still waiting for
// its store commit.
func (s *session) fillLocked() {
	c := s.conn
	if c == nil {
		return
	}
	now := time.Now()
	var dels []store.Op
	i := 0
	for ; i < len(s.queue); i++ {
		d := s.queue[i]
		if !d.ready {
			break
		}
		if d.qos == 0 {
			if c.fits(d) {
				c.enqueuePublish(*d)
			}
			continue
		}
		if d.msg.expired(now) || !c.fits(d) {
			// Expired [MQTT-3.3.2-5], or too big for this client
			// [MQTT-3.1.2-25]: dropped for it.
			delete(s.out, d.pid)
			dels = s.appendDeleteLocked(dels, d)
			s.srv.stats.dropped.Add(1)
			continue
		}
		if s.sending >= s.quota {
			break
		}
		d.sent = true
		s.sending++
		s.order = append(s.order, d.pid)
		c.enqueuePublish(*d)
	}
	s.queue = trimFront(s.queue, i)
	if len(dels) > 0 {
		s.srv.journal.submit(dels, false, nil)
	}
}

func (s *session) appendDeleteLocked(ops []store.Op, d *delivery) []store.Op {
	if !s.persistent() {
		return ops
	}
	return append(ops, store.Op{Kind: store.DeleteOutbound, ClientID: s.id, Seq: d.seq})
}

func trimFront(q []*delivery, n int) []*delivery {
	if n == 0 {
		return q
	}
	clear(q[:n])
	q = q[n:]
	if len(q) == 0 {
		return nil
	}
	return q
}

// ack completes an outbound QoS 1 (PUBACK) or QoS 2 (PUBCOMP) message.
func (s *session) ack(pid uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.out[pid]
	if !ok || !d.sent {
		return false
	}
	delete(s.out, pid)
	s.sending--
	s.noteAckedLocked(d)
	s.compactOrderLocked()
	if ops := s.appendDeleteLocked(nil, d); len(ops) > 0 {
		// A lost delete means one more redelivery of a QoS 1 message
		// after a crash, which QoS 1 allows; no sync needed.
		s.srv.journal.submit(ops, false, nil)
	}
	s.fillLocked()
	return true
}

// pubrec moves an outbound QoS 2 message to waiting for PUBCOMP. It
// returns false when the id was not awaiting PUBREC, and the store write
// (nil when none) that must be durable before PUBREL is sent: after a
// crash the broker must resend PUBREL, not the PUBLISH, or the subscriber
// would see the message twice.
func (s *session) pubrec(pid uint16, failed bool) (bool, []store.Op) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.out[pid]
	if !ok || !d.sent || d.qos != 2 || d.pubrel {
		return false, nil
	}
	if failed {
		// A PUBREC with a failure reason ends the exchange (§4.3.3).
		delete(s.out, pid)
		s.sending--
		s.compactOrderLocked()
		ops := s.appendDeleteLocked(nil, d)
		s.fillLocked()
		return true, ops
	}
	d.pubrel = true
	s.noteAckedLocked(d) // the client has it: exactly once from here
	var ops []store.Op
	if s.persistent() {
		ops = append(ops, store.Op{Kind: store.PutOutbound, Outbound: s.recordOutbound(d)})
	}
	d.msg = nil // only the packet id is needed now
	return true, ops
}

// ackedRing is how many acknowledged cluster ids a session remembers
// (about two seconds' worth at 500 messages a second; the ring grows to
// it as messages come).
const ackedRing = 1024

// noteAckedLocked remembers that the client has d's message.
func (s *session) noteAckedLocked(d *delivery) {
	if d.msg == nil || d.msg.cid == 0 || s.srv.keeper == nil {
		return
	}
	if len(s.acked) < ackedRing {
		s.acked = append(s.acked, d.msg.cid)
		return
	}
	s.acked[s.ackedPos] = d.msg.cid
	s.ackedPos = (s.ackedPos + 1) % ackedRing
}

// hasLocked reports whether the session has, or has acknowledged, the
// message with cluster id cid.
func (s *session) hasLocked(cid uint64) bool {
	if slices.Contains(s.acked, cid) {
		return true
	}
	for _, d := range s.queue {
		if d.msg != nil && d.msg.cid == cid {
			return true
		}
	}
	for _, d := range s.out {
		if d.msg != nil && d.msg.cid == cid {
			return true
		}
	}
	return false
}

// compactOrderLocked drops acknowledged ids from the front of the send
// order, and rebuilds it when it has grown much larger than the window.
func (s *session) compactOrderLocked() {
	i := 0
	for i < len(s.order) {
		if d, ok := s.out[s.order[i]]; ok && d.sent {
			break
		}
		i++
	}
	s.order = s.order[i:]
	if len(s.order) > 2*s.sending+64 {
		kept := make([]uint16, 0, s.sending)
		for _, pid := range s.order {
			if d, ok := s.out[pid]; ok && d.sent {
				kept = append(kept, pid)
			}
		}
		s.order = kept
	}
}

// resumeLocked resends what was in flight when the previous connection
// ended, in the original order with DUP set, PUBREL for those past PUBREC
// [MQTT-4.4.0-1], then fills the window from the queue.
func (s *session) resumeLocked(c *conn) {
	seen := make(map[uint16]bool, s.sending)
	for _, pid := range s.order {
		d, ok := s.out[pid]
		if !ok || !d.sent || seen[pid] {
			continue
		}
		seen[pid] = true
		if d.pubrel {
			c.enqueue(&packet.Ack{Kind: packet.PUBREL, PacketID: pid})
			continue
		}
		d.dup = true // [MQTT-3.3.1-1]
		c.enqueuePublish(*d)
	}
	s.fillLocked()
}

// takeSharedLocked removes and returns the messages that reached this
// session through a shared subscription and are not yet delivered, so that
// another member of the group can have them.
func (s *session) takeSharedLocked() []delivery {
	var out []delivery
	var dels []store.Op
	for pid, d := range s.out {
		// A QoS 2 message already sent stays with this member
		// [MQTT-4.8.2-4] [MQTT-4.8.2-5]: another could deliver it twice.
		if d.shared == "" || d.pubrel || !d.ready || (d.qos == 2 && d.sent) {
			continue
		}
		out = append(out, *d)
		dels = s.appendDeleteLocked(dels, d)
		delete(s.out, pid)
		if d.sent {
			s.sending--
		}
	}
	kept := s.queue[:0]
	for _, d := range s.queue {
		if d.shared != "" && d.ready {
			if d.qos == 0 {
				out = append(out, *d)
			}
			continue
		}
		kept = append(kept, d)
	}
	s.queue = kept
	s.compactOrderLocked()
	if len(dels) > 0 {
		s.srv.journal.submit(dels, false, nil)
	}
	return out
}
