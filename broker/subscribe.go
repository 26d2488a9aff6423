package broker

import (
	"time"

	"github.com/mastmq/mast/auth"
	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/topic"
)

// handleSubscribe adds subscriptions, answers SUBACK with one code per
// filter [MQTT-3.8.4-1] [MQTT-3.9.3-1] and sends matching retained
// messages.
func (c *conn) handleSubscribe(p *packet.Subscribe) bool {
	s := c.srv
	if s.verbose {
		c.logSubscribe(p)
	}
	var id uint32
	if len(p.Properties.SubscriptionIDs) > 0 {
		id = p.Properties.SubscriptionIDs[0]
	}
	codes := make([]byte, len(p.Subscriptions))
	type retainedReq struct {
		filter string
		sub    subscription
	}
	var wants []retainedReq
	for i, sub := range p.Subscriptions {
		code, shared, ok := c.checkFilter(sub)
		if !ok {
			return false
		}
		if code >= 0x80 {
			codes[i] = code
			continue
		}
		granted := min(sub.QoS, s.lim().MaxQoS) // [MQTT-3.8.4-6]
		opts := subOptions{
			qos:            granted,
			noLocal:        sub.NoLocal,
			retainAsPub:    sub.RetainAsPublished,
			retainHandling: sub.RetainHandling,
			id:             id,
		}
		v := newSubscription(c.sess, sub.Filter, opts)
		// A subscription to a filter the client already has replaces it
		// [MQTT-3.8.4-3].
		existed := s.addSub(c.clientID, sub.Filter, v)
		c.sess.mu.Lock()
		if !c.sess.ended {
			c.sess.setSubLocked(sub.Filter, opts)
		}
		c.sess.mu.Unlock()
		codes[i] = granted
		// Retained messages: never for shared subscriptions
		// (§3.8.4); retain handling 0 always, 1 only for a new
		// subscription, 2 never [MQTT-3.3.1-9] [MQTT-3.3.1-10].
		if !shared && (sub.RetainHandling == 0 || (sub.RetainHandling == 1 && !existed)) {
			wants = append(wants, retainedReq{sub.Filter, v})
		}
	}
	if !c.saveSession() {
		// Not durable, so not granted: the new subscriptions are taken
		// back. v5 is told per filter (0x97); 3.1.1 has no code for it,
		// so the connection closes and the client will subscribe again.
		for i, sub := range p.Subscriptions {
			if codes[i] < 0x80 {
				c.srv.removeSub(c.clientID, sub.Filter)
				c.sess.mu.Lock()
				c.sess.dropSubLocked(sub.Filter)
				c.sess.mu.Unlock()
				codes[i] = packet.QuotaExceeded
			}
		}
		if c.version != packet.Version5 {
			return false
		}
		c.enqueue(&packet.Suback{PacketID: p.PacketID, ReasonCodes: codes})
		return true
	}
	c.enqueue(&packet.Suback{PacketID: p.PacketID, ReasonCodes: codes})
	for _, w := range wants {
		c.sendRetained(w.filter, w.sub)
	}
	return true
}

// checkFilter validates one filter of a SUBSCRIBE. It returns the failure
// code to put in SUBACK (>= 0x80), whether the filter is shared, and false
// when the connection must close.
func (c *conn) checkFilter(sub packet.Subscription) (byte, bool, bool) {
	fail := func(v5 byte) byte {
		if c.version == packet.Version5 {
			return v5
		}
		return packet.SubackFailure
	}
	if err := topic.ValidateFilter(sub.Filter); err != nil {
		c.srv.log.Info("invalid topic filter", "client", c.clientID, "filter", sub.Filter, "err", err)
		return fail(packet.TopicFilterInvalid), false, true
	}
	if err := c.srv.checkTopicLimits(sub.Filter); err != nil {
		c.srv.log.Info("topic filter refused", "client", c.clientID, "err", err)
		return fail(packet.TopicFilterInvalid), false, true
	}
	if max := c.srv.lim().MaxSubscriptions; max > 0 {
		c.sess.mu.Lock()
		_, had := c.sess.subs[sub.Filter]
		full := !had && len(c.sess.subs) >= max
		c.sess.mu.Unlock()
		if full {
			c.srv.stats.subsLimit.Add(1)
			c.srv.log.Info("subscription limit reached", "client", c.clientID, "limit", max)
			return fail(packet.QuotaExceeded), false, true
		}
	}
	_, inner, shared := topic.ParseShared(sub.Filter)
	if shared && sub.NoLocal {
		// No Local on a shared subscription is a protocol error
		// [MQTT-3.8.3-4].
		return 0, true, c.protocolError(packet.ProtocolError, "no local on a shared subscription")
	}
	if az := c.srv.authFor(c.lopts).authz; az != nil && !az.Allow(c.authClient, inner, auth.Subscribe) {
		c.srv.stats.denied.Add(1)
		c.srv.log.Info("subscription denied", "client", c.clientID, "filter", sub.Filter)
		return fail(packet.NotAuthorized), shared, true
	}
	return 0, shared, true
}

// sendRetained delivers the retained messages matching a new subscription,
// with the retain flag set [MQTT-3.3.1-8].
func (c *conn) sendRetained(filter string, sub subscription) {
	var msgs []*message
	now := time.Now()
	c.srv.retained.Match(filter, func(_ string, m *message) bool {
		if !m.expired(now) {
			msgs = append(msgs, m)
		}
		return true
	})
	for _, m := range msgs {
		if !c.srv.mayRead(c.sess, m.topic) {
			continue // an ACL applies to retained messages too
		}
		c.sess.deliverWait(delivery{
			msg:    m,
			qos:    min(m.qos, sub.opts.qos),
			retain: true,
			subIDs: sub.ids,
		})
	}
}

// handleUnsubscribe removes subscriptions [MQTT-3.10.4-1] and answers
// UNSUBACK [MQTT-3.10.4-4]; v5 says per filter whether it existed.
func (c *conn) handleUnsubscribe(p *packet.Unsubscribe) bool {
	s := c.srv
	if s.verbose {
		s.log.Debug("Received UNSUBSCRIBE from " + c.clientID)
	}
	ack := &packet.Unsuback{PacketID: p.PacketID}
	if c.version == packet.Version5 {
		ack.ReasonCodes = make([]byte, len(p.Filters))
	}
	for i, f := range p.Filters {
		code := packet.Success
		if err := topic.ValidateFilter(f); err != nil {
			code = packet.TopicFilterInvalid
		} else if !s.removeSub(c.clientID, f) {
			code = packet.NoSubscriptionExisted
		}
		c.sess.mu.Lock()
		c.sess.dropSubLocked(f)
		c.sess.mu.Unlock()
		if ack.ReasonCodes != nil {
			ack.ReasonCodes[i] = code
		}
	}
	if !c.saveSession() {
		return false
	}
	c.enqueue(ack)
	return true
}

// saveSession makes a persistent session's subscriptions durable before
// SUBACK or UNSUBACK is sent. A failure closes the connection: the client
// did not get its acknowledgement and will subscribe again.
func (c *conn) saveSession() bool {
	c.sess.mu.Lock()
	if !c.sess.persistent() {
		c.sess.mu.Unlock()
		return true
	}
	op := c.sess.saveOp()
	c.sess.mu.Unlock()
	if err := c.srv.journal.commitWait([]store.Op{op}, true); err != nil {
		c.srv.stats.storeFailures.Add(1)
		c.srv.log.Error("subscriptions not stored", "client", c.clientID, "err", err)
		return false
	}
	return true
}
