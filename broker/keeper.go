package broker

import (
	"cmp"
	"slices"
	"time"

	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/store"
)

// This file is the broker's side of a SessionKeeper (a cluster that keeps
// persistent sessions, so that a client may resume on any node).

// claim asks the cluster for the client's session before it is
// attached; false when the client was refused.
func (c *conn) claim(clean bool, expiry uint32) (replay func(func(RemoteMessage)), ok bool) {
	s := c.srv
	s.mu.Lock()
	_, local := s.sessions[c.clientID]
	s.mu.Unlock()
	rec, replay, err := s.keeper.Claim(c.clientID, clean, local, expiry > 0)
	if err != nil {
		s.log.Warn("cluster cannot tell where the session of "+c.clientID+" is; refusing the client", "err", err)
		return nil, c.refuse(packet.ConnRefusedUnavailable, packet.ServerUnavailable, "cluster unavailable")
	}
	if rec != nil && !clean {
		s.adopt(rec)
	}
	return replay, true
}

// adopt makes the session from the cluster's record, in place of a
// local copy, which is stale.
func (s *Server) adopt(rec *store.Session) {
	{
		if old := s.lockIdle(rec.ClientID, "session taken over on another node"); old != nil {
			old.handedOff = true
			s.endSessionLocked(old)
		}
		sess := s.sessionFromRecordLocked(rec, time.Now())
		var ops []store.Op
		if sess != nil && sess.persistent() {
			sess.mu.Lock()
			ops = append(ops, sess.saveOp())
			sess.mu.Unlock()
		}
		s.mu.Unlock()
		if len(ops) > 0 {
			s.journal.submitLocal(ops)
		}
		return
	}
}

// Adopt makes a session from the cluster's record of a session whose
// node has left the cluster, as an offline session here (its will and
// expiry run from now), and fills its queue with replay.
func (s *Server) Adopt(rec *store.Session, replay func(func(RemoteMessage))) {
	s.adopt(rec)
	if replay != nil {
		replay(func(m RemoteMessage) { s.deliverTo(rec.ClientID, m) })
	}
}

// TakeOver closes, as a takeover (v5 DISCONNECT 0x8E), this node's
// connection of a client that connected again on another node at
// newer; a connection made here after that stays. It reports whether
// one was closed.
func (s *Server) TakeOver(id string, newer time.Time) bool {
	s.mu.Lock()
	sess := s.sessions[id]
	s.mu.Unlock()
	if sess == nil {
		return false
	}
	sess.mu.Lock()
	c := sess.conn
	sess.mu.Unlock()
	if c == nil || !c.connectedAt.Before(newer) {
		return false
	}
	c.kick(packet.SessionTakenOver, "session taken over on another node")
	return true
}

// ReleaseSession ends this node's copy of a session that another node
// takes over: its connection, if any, is closed as a takeover (v5
// DISCONNECT 0x8E), and the cluster's copy is left alone. It reports
// whether there was one.
func (s *Server) ReleaseSession(id string) bool {
	{
		sess := s.lockIdle(id, "session taken over on another node")
		if sess == nil {
			s.mu.Unlock()
			return false
		}
		sess.handedOff = true
		fire, orphans := s.endSessionLocked(sess)
		s.mu.Unlock()
		for _, m := range fire {
			s.publishWill(m)
		}
		s.redispatch(orphans)
		return true
	}
}

// PersistentSessions lists the client ids of the sessions this node
// holds that outlive their connection.
func (s *Server) PersistentSessions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, sess := range s.sessions {
		sess.mu.Lock()
		if sess.persistent() {
			ids = append(ids, id)
		}
		sess.mu.Unlock()
	}
	return ids
}

// Checkpoint is how far a session has got, for the cluster.
type Checkpoint struct {
	// Since: every QoS 1/2 message that reached this node for the
	// session before it has been acknowledged by its client (or
	// dropped by a limit).
	Since time.Time
	// Activity changes whenever a message is queued for the session.
	Activity uint64
	// Acked are the cluster ids of the last messages the client
	// acknowledged.
	Acked []uint64
	// Pending are the QoS 1/2 messages queued for the session or sent
	// and not yet acknowledged, oldest first (filled by
	// SessionCheckpoint with pending true).
	Pending []RemoteMessage
}

// SessionCheckpoint is a session's checkpoint, with its pending messages
// when pending is set; false when this node holds no such session.
func (s *Server) SessionCheckpoint(id string, pending bool) (Checkpoint, bool) {
	s.mu.Lock()
	sess := s.sessions[id]
	s.mu.Unlock()
	if sess == nil {
		return Checkpoint{}, false
	}
	cp := Checkpoint{Since: time.Now()}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.ended {
		return Checkpoint{}, false
	}
	oldest := func(d *delivery) {
		if d.msg != nil && d.qos > 0 && d.msg.arrived.Before(cp.Since) {
			cp.Since = d.msg.arrived
		}
	}
	for _, d := range sess.queue {
		oldest(d)
	}
	for _, d := range sess.out {
		oldest(d)
	}
	cp.Activity = sess.seq
	cp.Acked = slices.Clone(sess.acked)
	if pending {
		var ds []*delivery
		for _, d := range sess.out {
			ds = append(ds, d)
		}
		ds = append(ds, sess.queue...)
		slices.SortFunc(ds, func(a, b *delivery) int { return cmp.Compare(a.seq, b.seq) })
		for _, d := range ds {
			if d.msg == nil || d.qos == 0 || d.pubrel {
				continue
			}
			if rm, ok := s.toRemote(d.msg); ok {
				rm.QoS = d.qos
				rm.Received = d.msg.arrived
				cp.Pending = append(cp.Pending, rm)
			}
		}
	}
	return cp, true
}

// SessionRecord is a session's record as the store keeps it.
func (s *Server) SessionRecord(id string) (*store.Session, bool) {
	s.mu.Lock()
	sess := s.sessions[id]
	s.mu.Unlock()
	if sess == nil {
		return nil, false
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.ended {
		return nil, false
	}
	return sess.recordLocked(), true
}

// deliverTo routes a message the cluster replays to one session only,
// unless the session has it already. It may wait for room in the
// session's queue (it runs on the replay's goroutine).
func (s *Server) deliverTo(id string, m RemoteMessage) {
	s.mu.Lock()
	sess := s.sessions[id]
	s.mu.Unlock()
	if sess == nil {
		return
	}
	// A replay may hold more than a queue takes: it waits for room
	// rather than have the session drop what it replays.
	for {
		sess.mu.Lock()
		has := m.ID != 0 && sess.hasLocked(m.ID)
		full := len(sess.queue) >= s.lim().MaxQueued*3/4
		ended := sess.ended
		sess.mu.Unlock()
		if has || ended || s.isClosing() {
			return
		}
		if !full {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if msg := s.fromRemote(m); msg != nil {
		msg.only = sess
		s.publish(msg, nil, nil)
	}
}

// KeepRetained sets (or, with an empty payload, deletes) the retained
// message of a topic from the cluster's copy, without delivering it: a
// node that was away catches up on the retained messages published
// meanwhile.
func (s *Server) KeepRetained(m RemoteMessage) {
	msg := s.fromRemote(m)
	if msg == nil {
		return
	}
	msg.retain = true
	s.storeRetained(msg)
	if s.journal == nil {
		return
	}
	if len(msg.payload) == 0 {
		s.journal.submit([]store.Op{{Kind: store.DeleteRetained, Topic: msg.topic}}, false, nil)
		return
	}
	sm := storeMessage(msg)
	s.journal.submit([]store.Op{{Kind: store.PutRetained, Retained: &sm}}, false, nil)
}
