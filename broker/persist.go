package broker

import (
	"fmt"
	"strings"
	"time"

	"github.com/mastmq/mast/auth"
	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/topic"
)

// Open returns a server whose state lives in opts.Store: it restores every
// unexpired session with its subscriptions, queued and in-flight messages,
// and every retained message, before any client can connect.
func Open(opts Options) (*Server, error) {
	if opts.Store == nil {
		return New(opts), nil
	}
	s := newServer(opts)
	start := time.Now()
	n, err := s.restore()
	if err != nil {
		s.journal.close()
		return nil, err
	}
	s.log.Info(fmt.Sprintf("restored %d sessions, %d subscriptions, %d queued or in-flight messages, %d retained messages in %v",
		n.sessions, n.subs, n.outbound, n.retained, time.Since(start).Round(time.Millisecond)))
	s.startHousekeeping()
	return s, nil
}

type restoreCounts struct{ sessions, subs, outbound, retained int }

func (s *Server) restore() (restoreCounts, error) {
	var n restoreCounts
	now := time.Now()
	var expired []string
	err := s.opts.Store.Load(store.Visitor{
		Session: func(r *store.Session) error {
			sess := s.sessionFromRecordLocked(r, now)
			if sess == nil {
				expired = append(expired, r.ClientID)
				return nil
			}
			n.subs += len(r.Subscriptions)
			n.sessions++
			return nil
		},
		Outbound: func(r *store.Outbound) error {
			sess := s.sessions[r.ClientID]
			if sess == nil {
				return nil
			}
			d := &delivery{qos: r.QoS, retain: r.Retain, subIDs: r.SubIDs, pid: r.PacketID,
				shared: r.Shared, seq: r.Seq, ready: true, pubrel: r.PubRel}
			if !r.PubRel {
				d.msg = fromStoreMessage(&r.Msg)
			}
			sess.seq = max(sess.seq, r.Seq)
			if _, dup := sess.out[d.pid]; dup || d.pid == 0 {
				d.pid = sess.newPIDLocked()
			}
			sess.out[d.pid] = d
			if d.pubrel {
				// Past PUBREC: a resume sends PUBREL.
				d.sent = true
				sess.order = append(sess.order, d.pid)
				sess.sending++
			} else {
				// It may have been sent before the restart, so it goes
				// out with DUP set, through the in-flight window.
				d.dup = true
				sess.queue = append(sess.queue, d)
			}
			n.outbound++
			return nil
		},
		Inbound: func(id string, pid uint16) error {
			if sess := s.sessions[id]; sess != nil {
				sess.inbound[pid] = struct{}{}
			}
			return nil
		},
		Retained: func(r *store.Message) error {
			m := fromStoreMessage(r)
			if m.expired(now) {
				return nil
			}
			s.retained.Set(m.topic, m)
			n.retained++
			return nil
		},
	})
	if err != nil {
		return n, fmt.Errorf("restoring from the store: %w", err)
	}
	if len(expired) > 0 {
		var b store.Batch
		for _, id := range expired {
			b.DeleteSession(id)
		}
		s.journal.submit(b.Ops, false, nil)
	}
	return n, nil
}

// sessionFromRecordLocked makes a session from its store record, with
// its subscriptions and pending will, and adds it to the server; nil when
// it has expired. s.mu is held (or the server not yet serving).
func (s *Server) sessionFromRecordLocked(r *store.Session, now time.Time) *session {
	sess := newSession(s, r.ClientID)
	sess.version = r.Version
	sess.client = &auth.Client{ClientID: r.ClientID, Username: r.Username, HasUsername: r.Username != "", Version: r.Version}
	sess.expiry = r.Expiry
	// A session that was connected when the broker stopped lost its
	// connection then; its expiry runs from now.
	gone := r.DisconnectedAt
	if gone.IsZero() {
		gone = now
	}
	if r.Expiry != neverExpire {
		sess.expireAt = gone.Add(time.Duration(r.Expiry) * time.Second)
		if !now.Before(sess.expireAt) {
			return nil
		}
	}
	for _, sub := range r.Subscriptions {
		o := subOptions{qos: sub.QoS, noLocal: sub.NoLocal, retainAsPub: sub.RetainAsPublished,
			retainHandling: sub.RetainHandling, id: sub.ID}
		sess.setSubLocked(sub.Filter, o)
		s.addSub(r.ClientID, sub.Filter, newSubscription(sess, sub.Filter, o))
	}
	if r.Will != nil {
		sess.will = fromStoreMessage(r.Will)
		sess.willDelay = r.WillDelay
		// The will of a connection that ended with the broker is due
		// after its delay.
		delay := min(r.WillDelay, r.Expiry)
		sess.willAt = gone.Add(time.Duration(delay) * time.Second)
		s.wills[sess] = sess.willAt
	}
	s.sessions[r.ClientID] = sess
	return sess
}

func newSubscription(sess *session, filter string, o subOptions) subscription {
	v := subscription{sess: sess, opts: o}
	if o.id != 0 {
		v.ids = []uint32{o.id}
	}
	if _, _, shared := topic.ParseShared(filter); shared {
		v.shared = filter
	}
	return v
}

// recordLocked is the session's store record.
func (s *session) recordLocked() *store.Session {
	r := &store.Session{
		ClientID:  s.id,
		Version:   s.version,
		Username:  s.client.Username,
		Expiry:    s.expiry,
		WillDelay: s.willDelay,
	}
	if s.conn == nil {
		r.DisconnectedAt = time.Now()
	}
	for f, o := range s.subs {
		r.Subscriptions = append(r.Subscriptions, store.Subscription{Filter: f, QoS: o.qos, NoLocal: o.noLocal,
			RetainAsPublished: o.retainAsPub, RetainHandling: o.retainHandling, ID: o.id})
	}
	if s.will != nil {
		w := storeMessage(s.will)
		r.Will = &w
	}
	return r
}

// saveOp returns the op that stores the session record; s.mu is held.
func (s *session) saveOp() store.Op {
	return store.Op{Kind: store.PutSession, Session: s.recordLocked()}
}

func (s *session) recordOutbound(d *delivery) *store.Outbound {
	r := &store.Outbound{ClientID: s.id, Seq: d.seq, PacketID: d.pid, QoS: d.qos, Retain: d.retain,
		SubIDs: d.subIDs, Shared: d.shared, PubRel: d.pubrel}
	if d.msg != nil && !d.pubrel {
		r.Msg = storeMessage(d.msg)
	}
	return r
}

func storeMessage(m *message) store.Message {
	r := store.Message{Topic: m.topic, Payload: m.payload, QoS: m.qos, Retain: m.retain,
		Expiry: m.expiry, Publisher: m.publisher}
	var p packet.Properties
	if m.props != nil {
		p = *m.props
	}
	if m.expiryInterval > 0 {
		// A will not yet published keeps its expiry as an interval, in
		// its property block.
		p.MessageExpiry = m.expiryInterval
		p.Set(packet.PropMessageExpiry)
	}
	if !p.Empty() {
		r.Properties, _ = packet.AppendProperties(nil, packet.PUBLISH, &p)
	}
	return r
}

func fromStoreMessage(r *store.Message) *message {
	m := &message{topic: strings.Clone(r.Topic), payload: r.Payload, qos: r.QoS, retain: r.Retain,
		publisher: r.Publisher, expiry: r.Expiry}
	if len(r.Properties) > 0 {
		if p, err := packet.DecodeProperties(packet.PUBLISH, r.Properties); err == nil {
			m.props = forwardedProps(&p)
			if p.Has(packet.PropMessageExpiry) {
				m.expiryInterval = p.MessageExpiry
			}
		}
	}
	m.size = messageSize(m)
	return m
}
