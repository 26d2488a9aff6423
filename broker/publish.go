package broker

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/mastmq/mast/auth"
	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/topic"
)

// handlePublish takes a PUBLISH from the client: it resolves the topic
// alias, validates, routes and acknowledges for the QoS.
func (c *conn) handlePublish(p *packet.Publish) bool {
	s := c.srv
	name := p.Topic
	if c.version == packet.Version5 && p.Properties.Has(packet.PropSubscriptionID) {
		// Only the server sends subscription identifiers [MQTT-3.3.4-6].
		return c.protocolError(packet.ProtocolError, "subscription identifier in a PUBLISH from a client")
	}
	if c.version == packet.Version5 && p.Properties.Has(packet.PropTopicAlias) {
		a := p.Properties.TopicAlias
		if a == 0 || a > s.lim().TopicAliasMaximum {
			// [MQTT-3.3.2-8] [MQTT-3.3.2-9]
			return c.protocolError(packet.TopicAliasInvalid, "topic alias out of range")
		}
		if name == "" {
			t, ok := c.inAliases[a]
			if !ok {
				return c.protocolError(packet.ProtocolError, "unknown topic alias")
			}
			name = t
		} else {
			if c.inAliases == nil {
				c.inAliases = make(map[uint16]string)
			}
			c.inAliases[a] = strings.Clone(name) // the packet body is not kept
		}
	}
	if err := topic.ValidateName(name); err != nil {
		// [MQTT-3.3.2-1] [MQTT-3.3.2-2]
		return c.protocolError(packet.TopicNameInvalid, "invalid topic name: "+err.Error())
	}
	if err := s.checkTopicLimits(name); err != nil {
		return c.protocolError(packet.TopicNameInvalid, err.Error())
	}
	if max := s.lim().MaxMessageSize; max > 0 && len(p.Payload) > max {
		s.stats.dropped.Add(1)
		s.log.Info("message over the size limit dropped", "client", c.clientID, "bytes", len(p.Payload), "limit", max)
		if p.QoS > 0 {
			c.sendAck(p, packet.ImplementationSpecific)
		}
		return true
	}
	c.throttle()
	if p.QoS > s.lim().MaxQoS {
		return c.protocolError(packet.QoSNotSupported, "QoS above the maximum") // [MQTT-3.2.2-11]
	}
	if p.Retain && s.lim().DisableRetain {
		return c.protocolError(packet.RetainNotSupported, "retain not available") // [MQTT-3.2.2-14]
	}
	s.stats.receivedByQoS[p.QoS].Add(1)
	if s.verbose {
		c.logPublishTopic("Received PUBLISH from", p, name)
	}
	if az := s.authFor(c.lopts).authz; (az != nil && !az.Allow(c.authClient, name, auth.Write)) || reservedTopic(name) {
		// Denied: v5 is told with 0x87; 3.1.1 has no way to say it, so
		// the message is acknowledged and dropped, as Mosquitto does.
		s.stats.denied.Add(1)
		if s.verbose {
			s.log.Debug("Denied PUBLISH from " + c.clientID + " (d" + itoa(b2i(p.Dup)) + ", q" + itoa(int(p.QoS)) + ", r" + itoa(b2i(p.Retain)) + ", m" + itoa(int(p.PacketID)) + ", '" + name + "', ... (" + itoa(len(p.Payload)) + " bytes))")
		}
		if p.QoS > 0 {
			reason := packet.Success
			if c.version == packet.Version5 {
				reason = packet.NotAuthorized
			}
			c.sendAck(p, reason)
		}
		return true
	}
	if c.version == packet.Version5 && p.Properties.Has(packet.PropPayloadFormat) &&
		p.Properties.PayloadFormat == 1 && !utf8.Valid(p.Payload) {
		// A payload said to be UTF-8 that is not [MQTT-3.3.2-4]: refused.
		if p.QoS == 0 {
			return c.protocolError(packet.PayloadFormatInvalid, "payload is not UTF-8")
		}
		c.sendAck(p, packet.PayloadFormatInvalid)
		return true
	}

	m := c.newMessage(p, name)
	if p.QoS == 0 {
		s.publish(m, nil, nil)
		return true
	}
	var extra []store.Op
	if p.QoS == 2 {
		sess := c.sess
		sess.mu.Lock()
		_, dup := sess.inbound[p.PacketID]
		if !dup {
			if len(sess.inbound) >= int(s.lim().ReceiveMaximum) {
				sess.mu.Unlock()
				return c.protocolError(packet.ReceiveMaximumExceeded, "receive maximum exceeded") // [MQTT-3.3.4-9]
			}
			sess.inbound[p.PacketID] = struct{}{}
			if sess.persistent() {
				extra = []store.Op{{Kind: store.PutInbound, ClientID: sess.id, PacketID: p.PacketID}}
			}
		}
		sess.mu.Unlock()
		if dup {
			// Exactly once: a resent PUBLISH whose packet id is not yet
			// released is acknowledged, not routed again [MQTT-4.3.3-9].
			c.sendAck(p, packet.Success)
			return true
		}
	}
	// The acknowledgement waits until the message is durable where it
	// must be; the reader goes on meanwhile, bounded by the receive
	// maximum.
	c.acquirePending()
	pid, qos := p.PacketID, p.QoS
	s.publish(m, extra, func(n int, err error) {
		defer c.releasePending()
		if err != nil {
			c.storeFailed(pid, qos, err)
			return
		}
		c.sendAckID(pid, qos, matchedReason(n))
	})
	return true
}

// reservedTopic reports topics no client may publish to, whatever the
// ACL says: the broker's own $SYS tree, and $share/, which names
// subscriptions, not topics (as Mosquitto refuses both).
func reservedTopic(name string) bool {
	return strings.HasPrefix(name, "$SYS/") || name == "$SYS" || strings.HasPrefix(name, "$share/")
}

// matchedReason is the v5 PUBACK/PUBREC reason for a message that reached
// n sessions.
func matchedReason(n int) byte {
	if n == 0 {
		return packet.NoMatchingSubscribers
	}
	return packet.Success
}

func (c *conn) sendAck(p *packet.Publish, reason byte) {
	c.sendAckID(p.PacketID, p.QoS, reason)
}

func (c *conn) sendAckID(pid uint16, qos byte, reason byte) {
	kind := packet.PUBACK // [MQTT-4.3.2-4]
	if qos == 2 {
		kind = packet.PUBREC // [MQTT-4.3.3-8]
	}
	if c.version != packet.Version5 {
		reason = 0
	}
	c.enqueue(&packet.Ack{Kind: kind, PacketID: pid, ReasonCode: reason})
}

// storeFailed answers a PUBLISH that could not be made durable (a full
// disk, say): v5 gets the failure in PUBACK/PUBREC, 3.1.1 has no way to
// say it, so the connection is dropped and the client will resend.
func (c *conn) storeFailed(pid uint16, qos byte, err error) {
	c.srv.stats.storeFailures.Add(1)
	c.srv.log.Error("message not stored; refusing it", "client", c.clientID, "err", err)
	if qos == 2 {
		c.sess.mu.Lock()
		delete(c.sess.inbound, pid)
		c.sess.mu.Unlock()
	}
	if c.version == packet.Version5 {
		reason := packet.UnspecifiedError
		if errors.Is(err, store.ErrFull) {
			reason = packet.QuotaExceeded
		}
		c.sendAckID(pid, qos, reason)
		return
	}
	c.kick(packet.UnspecifiedError, "store failure")
}

// acquirePending bounds the PUBLISH packets waiting for the store.
func (c *conn) acquirePending() {
	if c.srv.journal != nil {
		c.pending <- struct{}{}
	}
}

func (c *conn) releasePending() {
	if c.srv.journal != nil {
		<-c.pending
	}
}

// newMessage builds the routed message. Topic and payload keep pointing
// into the packet's own buffer, which is never reused.
func (c *conn) newMessage(p *packet.Publish, name string) *message {
	m := &message{
		topic:     name,
		payload:   p.Payload,
		qos:       p.QoS,
		retain:    p.Retain,
		publisher: c.clientID,
		arrived:   time.Now(),
	}
	if c.version == packet.Version5 {
		m.props = forwardedProps(&p.Properties)
		if p.Properties.Has(packet.PropMessageExpiry) {
			m.expiry = time.Now().Add(time.Duration(p.Properties.MessageExpiry) * time.Second)
		}
	}
	m.size = messageSize(m)
	return m
}

// handleAck advances the QoS 1 and 2 state machines.
func (c *conn) handleAck(p *packet.Ack) bool {
	sess := c.sess
	if c.srv.verbose {
		c.srv.log.Debug("Received " + p.Kind.String() + " from " + c.clientID + " (Mid: " + itoa(int(p.PacketID)) + ", RC:" + itoa(int(p.ReasonCode)) + ")")
	}
	switch p.Kind {
	case packet.PUBACK, packet.PUBCOMP:
		sess.ack(p.PacketID)
	case packet.PUBREC:
		failed := c.version == packet.Version5 && p.ReasonCode >= 0x80
		ok, ops := sess.pubrec(p.PacketID, failed)
		switch {
		case !ok:
			reason := byte(0)
			if c.version == packet.Version5 {
				reason = packet.PacketIDNotFound
			}
			c.enqueue(&packet.Ack{Kind: packet.PUBREL, PacketID: p.PacketID, ReasonCode: reason})
		case !failed:
			if len(ops) > 0 && c.srv.journal.commitWait(ops, true) != nil {
				return false // not durable: the client resends PUBREC after reconnecting
			}
			c.enqueue(&packet.Ack{Kind: packet.PUBREL, PacketID: p.PacketID}) // [MQTT-4.3.3-4]
		case len(ops) > 0:
			c.srv.journal.submit(ops, false, nil)
		}
	case packet.PUBREL:
		sess.mu.Lock()
		_, ok := sess.inbound[p.PacketID]
		delete(sess.inbound, p.PacketID) // [MQTT-4.3.3-11]
		persist := ok && sess.persistent()
		sess.mu.Unlock()
		if persist {
			// The release must be durable before PUBCOMP, or a restart
			// would take the client's next message with this id for a
			// duplicate and drop it.
			op := store.Op{Kind: store.DeleteInbound, ClientID: sess.id, PacketID: p.PacketID}
			if c.srv.journal.commitWait([]store.Op{op}, true) != nil {
				return false
			}
		}
		reason := packet.Success
		if !ok && c.version == packet.Version5 {
			reason = packet.PacketIDNotFound
		}
		c.enqueue(&packet.Ack{Kind: packet.PUBCOMP, PacketID: p.PacketID, ReasonCode: reason})
	}
	return true
}

// publish stores a retained message and routes the message to every
// matching session. Without a store, or for QoS 0, delivery happens at
// once and done (if not nil) is called before publish returns. With a
// store, QoS 1/2 messages for persistent sessions, retained messages and
// the extra ops are committed first; the messages are released to the
// sessions, and done called, once they are durable.
func (s *Server) publish(m *message, extra []store.Op, done func(n int, err error)) {
	ops := extra
	if m.retain && m.share == "" && m.only == nil { // the cluster's copies: kept by the regular one
		s.storeRetained(m)
		if s.journal != nil && !strings.HasPrefix(m.topic, "$SYS/") {
			if len(m.payload) == 0 {
				ops = append(ops, store.Op{Kind: store.DeleteRetained, Topic: m.topic})
			} else {
				sm := storeMessage(m)
				ops = append(ops, store.Op{Kind: store.PutRetained, Retained: &sm})
			}
		}
	}
	r := s.results.Get().(*topicResult)
	s.subs.Match(m.topic, r)
	if m.only != nil {
		r.Subs = slices.DeleteFunc(r.Subs, func(e topic.Entry[subscription]) bool { return e.Value.sess != m.only })
		clear(r.Shared)
		r.Shared = r.Shared[:0]
	}
	var pend *pending
	if s.journal != nil && m.qos > 0 {
		pend = &pending{}
	}
	var wait func() error // the cluster keeping the message
	if s.remote != nil {
		// Before local delivery, which then carries the cluster's id.
		var id uint64
		if id, wait = s.forward(m); id != 0 {
			m.cid = id
		}
	}
	n := s.deliverMatches(m, r, pend)
	r.Reset() // drop the sessions it points to before pooling it
	s.results.Put(r)
	if pend == nil {
		if len(ops) > 0 {
			s.journal.submit(ops, false, nil) // QoS 0 retained: never waited for
		}
		var err error
		if wait != nil {
			err = wait() // no journal to keep the order of acknowledgements
		}
		if done != nil {
			done(n, err)
		}
		return
	}
	ops = append(ops, pend.ops...)
	if len(ops) == 0 && wait == nil {
		pend.release()
		if done != nil {
			done(n, nil)
		}
		return
	}
	s.journal.submitWait(ops, true, wait, func(err error) {
		if err != nil {
			pend.cancel()
		} else {
			pend.release()
		}
		if done != nil {
			done(n, err)
		}
	}, true)
}

// pending holds deliveries reserved in sessions until their store commit.
type pending struct {
	items []pendingItem
	ops   []store.Op
}

type pendingItem struct {
	sess *session
	d    *delivery
}

// reserve queues d in sess, held back until release.
func (p *pending) reserve(sess *session, d delivery) {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.ended {
		return
	}
	dd := sess.reserveLocked(&d)
	if dd == nil {
		return
	}
	p.items = append(p.items, pendingItem{sess, dd})
	if sess.persistent() {
		p.ops = append(p.ops, store.Op{Kind: store.PutOutbound, Outbound: sess.recordOutbound(dd)})
	}
}

// release lets the reserved deliveries go.
func (p *pending) release() {
	for _, it := range p.items {
		it.sess.mu.Lock()
		it.d.ready = true
		it.sess.fillLocked()
		it.sess.mu.Unlock()
	}
}

// cancel withdraws the reserved deliveries after a failed commit.
func (p *pending) cancel() {
	for _, it := range p.items {
		s := it.sess
		s.mu.Lock()
		if s.out[it.d.pid] == it.d {
			delete(s.out, it.d.pid)
		}
		for i, d := range s.queue {
			if d == it.d {
				s.queue = append(s.queue[:i], s.queue[i+1:]...)
				break
			}
		}
		s.fillLocked()
		s.mu.Unlock()
	}
}

type topicResult = topic.Result[subscription]

// storeRetained keeps the last retained message of a topic; an empty
// payload deletes it [MQTT-3.3.1-5] [MQTT-3.3.1-10] [MQTT-3.3.1-11].
func (s *Server) storeRetained(m *message) {
	if len(m.payload) == 0 {
		s.retained.Delete(m.topic)
		return
	}
	s.retained.Set(m.topic, m)
}

// deliverMatches hands m to every matched session once, with the highest
// QoS and all subscription identifiers of its matching subscriptions
// [MQTT-3.3.4-2] [MQTT-3.3.4-3], and to one member of each shared group
// (§4.8.2).
func (s *Server) deliverMatches(m *message, r *topicResult, pend *pending) int {
	// A session with one subscription matches at most once: deliver at
	// once. Only sessions with several subscriptions need grouping, so
	// the common cases (fan-in, fan-out) never sort.
	if m.share != "" {
		return s.deliverPicked(m, r, pend)
	}
	n := 0
	subs := r.Subs
	k := 0
	for i := range subs {
		if subs[i].Value.sess.nsubs.Load() <= 1 {
			if s.deliverOne(m, subs[i:i+1], pend) {
				n++
			}
			continue
		}
		subs[k] = subs[i]
		k++
	}
	subs = subs[:k]
	if len(subs) > 1 {
		slices.SortFunc(subs, func(a, b topic.Entry[subscription]) int {
			return cmp.Compare(uintptr(unsafe.Pointer(a.Value.sess)), uintptr(unsafe.Pointer(b.Value.sess)))
		})
	}
	for i := 0; i < len(subs); {
		j := i + 1
		for j < len(subs) && subs[j].Value.sess == subs[i].Value.sess {
			j++
		}
		if s.deliverOne(m, subs[i:j], pend) {
			n++
		}
		i = j
	}
	if s.remote != nil && !sysTopic(m.topic) {
		// In a cluster the shared groups span the nodes: the cluster
		// picks one node's members for each message (DeliverRemote
		// with RemoteMessage.Share), this one included.
		return n
	}
	for i := range r.Shared {
		if s.deliverShared(m, &r.Shared[i], pend) {
			n++
		}
	}
	return n
}

// deliverPicked hands a message from the cluster to one member of the
// shared subscription the cluster picked this node for (m.share).
func (s *Server) deliverPicked(m *message, r *topicResult, pend *pending) int {
	for i := range r.Shared {
		g := &r.Shared[i]
		if len(g.Members) > 0 && g.Members[0].Value.shared == m.share {
			if s.deliverShared(m, g, pend) {
				return 1
			}
			return 0
		}
	}
	return 0
}

// sysTopic reports whether name is a $SYS topic, which stays on its node.
func sysTopic(name string) bool {
	return name == "$SYS" || strings.HasPrefix(name, "$SYS/")
}

// deliverOne delivers m to one session matched by one or more of its
// subscriptions.
func (s *Server) deliverOne(m *message, entries []topic.Entry[subscription], pend *pending) bool {
	var d delivery
	matched := false
	for k := range entries {
		e := &entries[k]
		o := &e.Value.opts
		if o.noLocal && e.Owner == m.publisher {
			continue // [MQTT-3.8.3-3]
		}
		qos := min(m.qos, o.qos) // [MQTT-3.8.4-8]
		if !matched || qos > d.qos {
			d.qos = qos
		}
		// Retain is cleared for live delivery [MQTT-3.3.1-9] unless the
		// subscription asked for retain as published [MQTT-3.3.1-12].
		d.retain = d.retain || (o.retainAsPub && m.retain)
		if o.id != 0 {
			if d.subIDs == nil {
				d.subIDs = e.Value.ids
			} else {
				d.subIDs = append(slices.Clip(d.subIDs), o.id)
			}
		}
		matched = true
	}
	if !matched || !s.mayRead(entries[0].Value.sess, m.topic) {
		return false
	}
	d.msg = m
	handOver(entries[0].Value.sess, d, pend)
	return true
}

// mayRead asks the Authorizer whether the session's client may receive a
// message on topic: a wildcard subscription must not reach a topic the
// client may not read.
func (s *Server) mayRead(sess *session, topic string) bool {
	if s.auth.Load().authz == nil && !s.hasListenerAuth.Load() {
		return true
	}
	sess.mu.Lock()
	client, lo := sess.client, sess.lopts
	sess.mu.Unlock()
	az := s.authFor(lo).authz
	if az == nil {
		return true
	}
	if client != nil && az.Allow(client, topic, auth.Read) {
		return true
	}
	s.stats.denied.Add(1)
	return false
}

// handOver gives d to sess now, or reserves it until the store commit.
func handOver(sess *session, d delivery, pend *pending) {
	if pend != nil && d.qos > 0 {
		pend.reserve(sess, d)
		return
	}
	sess.deliver(d)
}

// deliverShared gives m to one member of a shared group, preferring
// connected members in turn.
func (s *Server) deliverShared(m *message, g *topic.SharedMatch[subscription], pend *pending) bool {
	n := len(g.Members)
	if n == 0 {
		return false
	}
	start := int(g.Cursor.Add(1) % uint32(n))
	pick := -1
	for i := 0; i < n; i++ {
		k := (start + i) % n
		if g.Members[k].Value.sess.online() {
			pick = k
			break
		}
	}
	if pick < 0 {
		pick = start
	}
	e := &g.Members[pick]
	if !s.mayRead(e.Value.sess, m.topic) {
		return false
	}
	d := delivery{
		msg:    m,
		qos:    min(m.qos, e.Value.opts.qos),
		retain: e.Value.opts.retainAsPub && m.retain,
		subIDs: e.Value.ids,
		shared: e.Value.shared,
	}
	handOver(e.Value.sess, d, pend)
	return true
}

// redispatch hands messages a departed shared-subscription member had not
// finished to another member of the same group.
func (s *Server) redispatch(orphans []delivery) {
	if len(orphans) == 0 {
		return
	}
	r := s.results.Get().(*topicResult)
	defer s.results.Put(r)
	for _, d := range orphans {
		if d.msg == nil {
			continue
		}
		s.subs.Match(d.msg.topic, r)
		for i := range r.Shared {
			g := &r.Shared[i]
			if len(g.Members) > 0 && g.Members[0].Value.shared == d.shared {
				s.deliverShared(d.msg, g, nil)
				break
			}
		}
	}
	r.Reset()
}
