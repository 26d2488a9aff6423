package broker

import (
	"sync"
	"time"

	"github.com/mastmq/mast/packet"
)

// neverExpire is the v5 session expiry meaning "does not expire"
// [MQTT-3.1.2-?]; 3.1.1 persistent sessions use it too.
const neverExpire = 0xFFFFFFFF

// session is the state that can outlive a connection: subscriptions, QoS
// 1/2 in flight both ways, queued messages and the will.
type session struct {
	srv *Server
	id  string

	mu        sync.Mutex
	conn      *conn // nil while offline
	expiry    uint32
	expireAt  time.Time // set while offline, zero when it never expires
	ended     bool
	subs      map[string]subOptions // by filter as subscribed ($share prefix kept)
	will      *message
	willDelay uint32    // seconds, v5
	willAt    time.Time // delayed will due time, zero when none; guarded by Server.mu

	// Outbound QoS 1/2: in flight by packet id, in send order.
	inflight map[uint16]*delivery
	order    []uint16
	queue    []*delivery // waiting for the in-flight window or a connection
	nextPID  uint16
	quota    int // in-flight window of the current connection

	// Inbound QoS 2 packet ids received and not yet released [MQTT-4.3.3-?].
	inbound map[uint16]struct{}

	dropped uint64
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
		srv:      srv,
		id:       id,
		subs:     make(map[string]subOptions),
		inflight: make(map[uint16]*delivery),
		inbound:  make(map[uint16]struct{}),
	}
}

// online reports whether a connection is attached.
func (s *session) online() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn != nil
}

// deliver hands one message to the session: straight to the connection
// when the in-flight window allows, otherwise to the queue.
func (s *session) deliver(d delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	c := s.conn
	if d.qos == 0 {
		if c != nil {
			if c.fits(&d) {
				c.enqueuePublish(d)
			}
			return
		}
		if s.srv.opts.QueueQoS0 && s.expiry > 0 {
			s.enqueueLocked(&d)
		}
		return
	}
	if c != nil && len(s.queue) == 0 && len(s.inflight) < s.quota {
		if !c.fits(&d) {
			// Too big for this client: dropped for it alone [MQTT-3.1.2-25].
			s.srv.stats.dropped.Add(1)
			return
		}
		s.sendLocked(c, &d)
		return
	}
	s.enqueueLocked(&d)
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

func (s *session) enqueueLocked(d *delivery) {
	if len(s.queue) >= s.srv.opts.MaxQueued {
		s.dropped++
		s.srv.stats.dropped.Add(1)
		return
	}
	dd := *d
	s.queue = append(s.queue, &dd)
}

// sendLocked assigns a packet id, records the message in flight and queues
// it on the connection.
func (s *session) sendLocked(c *conn, d *delivery) {
	dd := *d
	dd.pid = s.newPIDLocked()
	s.inflight[dd.pid] = &dd
	s.order = append(s.order, dd.pid)
	c.enqueuePublish(dd)
}

// newPIDLocked returns a packet id not in use by another outbound message
// [MQTT-2.2.1-3]: never 0.
func (s *session) newPIDLocked() uint16 {
	for {
		s.nextPID++
		if s.nextPID == 0 {
			s.nextPID = 1
		}
		if _, used := s.inflight[s.nextPID]; !used {
			return s.nextPID
		}
	}
}

// fillLocked moves queued messages into the in-flight window.
func (s *session) fillLocked() {
	c := s.conn
	if c == nil {
		return
	}
	now := time.Now()
	i := 0
	for ; i < len(s.queue); i++ {
		d := s.queue[i]
		if d.msg.expired(now) {
			continue // [MQTT-3.3.2-5]
		}
		if d.qos == 0 {
			if c.fits(d) {
				c.enqueuePublish(*d)
			}
			continue
		}
		if len(s.inflight) >= s.quota {
			break
		}
		if !c.fits(d) {
			s.srv.stats.dropped.Add(1)
			continue
		}
		s.sendLocked(c, d)
	}
	s.queue = trimFront(s.queue, i)
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
	if _, ok := s.inflight[pid]; !ok {
		return false
	}
	delete(s.inflight, pid)
	s.compactOrderLocked()
	s.fillLocked()
	return true
}

// pubrec moves an outbound QoS 2 message to waiting for PUBCOMP. It
// reports whether the id was in flight awaiting PUBREC.
func (s *session) pubrec(pid uint16, failed bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.inflight[pid]
	if !ok || d.qos != 2 {
		return false
	}
	if failed {
		// A PUBREC with a failure reason ends the exchange [MQTT-4.3.3-?].
		delete(s.inflight, pid)
		s.compactOrderLocked()
		s.fillLocked()
		return true
	}
	d.pubrel = true
	d.msg = nil // the payload is no longer needed
	return true
}

// compactOrderLocked drops acknowledged ids from the front of the send
// order, and rebuilds it when it has grown much larger than the window.
func (s *session) compactOrderLocked() {
	i := 0
	for i < len(s.order) {
		if _, ok := s.inflight[s.order[i]]; ok {
			break
		}
		i++
	}
	s.order = s.order[i:]
	if len(s.order) > 2*len(s.inflight)+64 {
		kept := make([]uint16, 0, len(s.inflight))
		for _, pid := range s.order {
			if _, ok := s.inflight[pid]; ok {
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
	seen := make(map[uint16]bool, len(s.inflight))
	for _, pid := range s.order {
		d, ok := s.inflight[pid]
		if !ok || seen[pid] {
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

// takeShared removes and returns the messages that reached this session
// through a shared subscription and are not yet delivered, so that another
// member of the group can have them.
func (s *session) takeSharedLocked() []delivery {
	var out []delivery
	for pid, d := range s.inflight {
		if d.shared == "" || d.pubrel {
			continue
		}
		out = append(out, *d)
		delete(s.inflight, pid)
	}
	kept := s.queue[:0]
	for _, d := range s.queue {
		if d.shared != "" {
			out = append(out, *d)
			continue
		}
		kept = append(kept, d)
	}
	s.queue = kept
	s.compactOrderLocked()
	return out
}
