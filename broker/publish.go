package broker

import (
	"cmp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/topic"
)

// handlePublish takes a PUBLISH from the client: it resolves the topic
// alias, validates, routes and acknowledges for the QoS.
func (c *conn) handlePublish(p *packet.Publish) bool {
	s := c.srv
	name := p.Topic
	if c.version == packet.Version5 && p.Properties.Has(packet.PropTopicAlias) {
		a := p.Properties.TopicAlias
		if a == 0 || a > s.opts.TopicAliasMaximum {
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
	if p.QoS > s.opts.MaxQoS {
		return c.protocolError(packet.QoSNotSupported, "QoS above the maximum") // [MQTT-3.2.2-11]
	}
	if p.Retain && s.opts.DisableRetain {
		return c.protocolError(packet.RetainNotSupported, "retain not available") // [MQTT-3.2.2-14]
	}
	s.stats.msgsReceived.Add(1)
	if s.verbose {
		c.logPublish("Received PUBLISH from", p)
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
	switch p.QoS {
	case 0:
		s.publish(m)
	case 1:
		n := s.publish(m)
		c.sendAck(p, matchedReason(n))
	case 2:
		sess := c.sess
		sess.mu.Lock()
		_, dup := sess.inbound[p.PacketID]
		if !dup {
			if len(sess.inbound) >= int(s.opts.ReceiveMaximum) {
				sess.mu.Unlock()
				return c.protocolError(packet.ReceiveMaximumExceeded, "receive maximum exceeded") // [MQTT-3.3.4-9]
			}
			sess.inbound[p.PacketID] = struct{}{}
		}
		sess.mu.Unlock()
		reason := packet.Success
		if !dup {
			// Exactly once: a resent PUBLISH with a packet id not yet
			// released is not routed again [MQTT-4.3.3-9].
			reason = matchedReason(s.publish(m))
		}
		c.sendAck(p, reason)
	}
	return true
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
	kind := packet.PUBACK // [MQTT-4.3.2-4]
	if p.QoS == 2 {
		kind = packet.PUBREC // [MQTT-4.3.3-8]
	}
	if c.version != packet.Version5 {
		reason = 0
	}
	c.enqueue(&packet.Ack{Kind: kind, PacketID: p.PacketID, ReasonCode: reason})
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
		switch {
		case !sess.pubrec(p.PacketID, failed):
			if c.version == packet.Version5 {
				c.enqueue(&packet.Ack{Kind: packet.PUBREL, PacketID: p.PacketID, ReasonCode: packet.PacketIDNotFound})
			} else {
				c.enqueue(&packet.Ack{Kind: packet.PUBREL, PacketID: p.PacketID})
			}
		case !failed:
			c.enqueue(&packet.Ack{Kind: packet.PUBREL, PacketID: p.PacketID}) // [MQTT-4.3.3-4]
		}
	case packet.PUBREL:
		sess.mu.Lock()
		_, ok := sess.inbound[p.PacketID]
		delete(sess.inbound, p.PacketID) // [MQTT-4.3.3-11]
		sess.mu.Unlock()
		reason := packet.Success
		if !ok && c.version == packet.Version5 {
			reason = packet.PacketIDNotFound
		}
		c.enqueue(&packet.Ack{Kind: packet.PUBCOMP, PacketID: p.PacketID, ReasonCode: reason})
	}
	return true
}

// publish stores a retained message and routes the message to every
// matching session. It returns how many sessions it was handed to.
func (s *Server) publish(m *message) int {
	if m.retain {
		s.storeRetained(m)
	}
	r := s.results.Get().(*topicResult)
	s.subs.Match(m.topic, r)
	n := s.deliverMatches(m, r)
	clear(r.Subs)
	clear(r.Shared)
	r.Reset()
	s.results.Put(r)
	return n
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
// [MQTT-4.8.2-?].
func (s *Server) deliverMatches(m *message, r *topicResult) int {
	subs := r.Subs
	if len(subs) > 1 {
		slices.SortFunc(subs, func(a, b topic.Entry[subscription]) int {
			return cmp.Compare(uintptr(unsafe.Pointer(a.Value.sess)), uintptr(unsafe.Pointer(b.Value.sess)))
		})
	}
	n := 0
	for i := 0; i < len(subs); {
		j := i + 1
		for j < len(subs) && subs[j].Value.sess == subs[i].Value.sess {
			j++
		}
		if deliverOne(m, subs[i:j]) {
			n++
		}
		i = j
	}
	for i := range r.Shared {
		if s.deliverShared(m, &r.Shared[i], nil) {
			n++
		}
	}
	return n
}

// deliverOne delivers m to one session matched by one or more of its
// subscriptions.
func deliverOne(m *message, entries []topic.Entry[subscription]) bool {
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
	if !matched {
		return false
	}
	d.msg = m
	entries[0].Value.sess.deliver(d)
	return true
}

// deliverShared gives m to one member of a shared group, preferring
// connected members in turn. skip is a session that must not get it.
func (s *Server) deliverShared(m *message, g *topic.SharedMatch[subscription], skip *session) bool {
	n := len(g.Members)
	if n == 0 {
		return false
	}
	start := int(g.Cursor.Add(1) % uint32(n))
	pick := -1
	for i := 0; i < n; i++ {
		k := (start + i) % n
		sess := g.Members[k].Value.sess
		if sess != skip && sess.online() {
			pick = k
			break
		}
	}
	if pick < 0 {
		if skip != nil && n == 1 {
			return false
		}
		pick = start
		if g.Members[pick].Value.sess == skip {
			pick = (pick + 1) % n
		}
	}
	e := &g.Members[pick]
	d := delivery{
		msg:    m,
		qos:    min(m.qos, e.Value.opts.qos),
		retain: e.Value.opts.retainAsPub && m.retain,
		subIDs: e.Value.ids,
		shared: e.Value.shared,
	}
	e.Value.sess.deliver(d)
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
		r.Reset()
		s.subs.Match(d.msg.topic, r)
		for i := range r.Shared {
			g := &r.Shared[i]
			if len(g.Members) > 0 && g.Members[0].Value.shared == d.shared {
				s.deliverShared(d.msg, g, nil)
				break
			}
		}
	}
	clear(r.Subs)
	clear(r.Shared)
	r.Reset()
}
