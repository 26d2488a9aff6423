package client

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/topic"
)

// Message is an application message, published or received.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// Properties are the v5 PUBLISH properties. Publish sends
	// PayloadFormat, MessageExpiry, ContentType, ResponseTopic,
	// CorrelationData and User; topic aliases are the client's business
	// (Options.TopicAliases) and subscription identifiers the server's. A
	// received message also carries its SubscriptionIDs; its topic alias,
	// if any, has been resolved into Topic.
	Properties packet.Properties

	// Dup and PacketID are set on received messages.
	Dup      bool
	PacketID uint16
}

// outMsg is a publish on its way: queued, then (QoS 1, 2) in flight until
// acknowledged.
type outMsg struct {
	pub     packet.Publish
	done    chan error // buffered: told the outcome once
	seq     uint64     // send order, for resending in order [MQTT-4.6.0-1]
	rel     bool       // PUBREC received, PUBREL sent: awaiting PUBCOMP
	queued  bool       // in Client.queue
	onWire  bool       // sent on the current connection: counts against its Receive Maximum
	resend  bool       // in Client.resend
	offline bool       // counted in Client.offline
	ended   bool
}

func (om *outMsg) complete(err error) {
	if !om.ended {
		om.ended = true
		om.done <- err
	}
}

// Publish sends m and returns when it is done for its QoS: QoS 0 once
// written to the socket, QoS 1 once PUBACK arrives, QoS 2 once PUBCOMP
// arrives. A v5 failure reason code comes back as a *ReasonError.
//
// Messages are sent in the order Publish is called. While the client is
// reconnecting, up to Options.OfflineBuffer publishes wait for the
// connection; beyond that (or with no buffer) Publish fails with
// ErrNotConnected at once.
//
// If ctx ends before m is sent, m is not sent. If it ends after, Publish
// returns ctx's error but a QoS 1 or 2 message stays in the session and is
// still delivered (resent after a reconnect if need be).
func (c *Client) Publish(ctx context.Context, m *Message) error {
	if m == nil {
		return errors.New("client: nil message")
	}
	if m.QoS > 2 {
		return fmt.Errorf("client: publish QoS %d", m.QoS)
	}
	if err := topic.ValidateName(m.Topic); err != nil {
		return fmt.Errorf("client: publish: %w", err)
	}
	om := &outMsg{
		pub:  packet.Publish{QoS: m.QoS, Retain: m.Retain, Topic: m.Topic, Payload: m.Payload},
		done: make(chan error, 1),
	}
	if c.opts.Version == packet.Version5 {
		if m.Properties.Has(packet.PropTopicAlias) {
			return errors.New("client: publish: set Options.TopicAliases rather than a topic alias")
		}
		if len(m.Properties.SubscriptionIDs) > 0 {
			return errors.New("client: publish: a client may not send subscription identifiers [MQTT-3.3.4-6]")
		}
		om.pub.Properties = m.Properties
	}
	c.mu.Lock()
	switch c.state {
	case stateConnected:
		om.queued = true
		c.queue = append(c.queue, om)
		c.pump()
	case stateReconnecting:
		if c.offline >= c.opts.OfflineBuffer {
			c.mu.Unlock()
			if c.opts.OfflineBuffer == 0 {
				return fmt.Errorf("%w (reconnecting)", ErrNotConnected)
			}
			return fmt.Errorf("%w (reconnecting, offline buffer of %d full)", ErrNotConnected, c.opts.OfflineBuffer)
		}
		om.queued, om.offline = true, true
		c.offline++
		c.queue = append(c.queue, om)
	default:
		c.mu.Unlock()
		return ErrNotConnected
	}
	c.mu.Unlock()

	select {
	case err := <-om.done:
		return err
	case <-ctx.Done():
	}
	c.mu.Lock()
	if om.queued {
		// Not sent yet: withdraw it.
		c.dequeue(om)
		om.ended = true
	}
	c.mu.Unlock()
	select {
	case err := <-om.done:
		return err
	default:
		return ctx.Err()
	}
}

// dequeue removes om from the queue; c.mu held.
func (c *Client) dequeue(om *outMsg) {
	if len(c.queue) > 0 && c.queue[0] == om {
		c.queue[0] = nil // the common case, from pump: O(1)
		c.queue = c.queue[1:]
	} else if i := slices.Index(c.queue, om); i >= 0 {
		c.queue = slices.Delete(c.queue, i, i+1)
	}
	om.queued = false
	if om.offline {
		om.offline = false
		c.offline--
	}
}

// pump sends what the session holds, as far as the server's Receive
// Maximum allows [MQTT-3.3.4-7]: first the in-flight messages of a resumed
// session, then the queue, in order. Packets other than PUBLISH never wait
// on it [MQTT-3.3.4-8]. c.mu held.
func (c *Client) pump() {
	cn := c.conn
	if cn == nil || c.state != stateConnected {
		return
	}
	limit := min(cn.recvMax, c.opts.MaxInflight)
	for len(c.resend) > 0 && cn.sent < limit {
		om := c.resend[0]
		c.resend[0] = nil
		c.resend = c.resend[1:]
		om.resend = false
		om.onWire = true
		cn.sent++
		if om.rel {
			// The PUBLISH was received; only PUBREL is resent
			// [MQTT-4.3.3-6].
			cn.sendAck(packet.PUBREL, om.pub.PacketID)
		} else {
			om.pub.Dup = true // [MQTT-3.3.1-1]
			cn.sendPublish(&om.pub, nil)
		}
	}
	if len(c.resend) > 0 {
		return
	}
	for len(c.queue) > 0 {
		om := c.queue[0]
		if err := cn.check(&om.pub); err != nil {
			c.dequeue(om)
			om.complete(err)
			continue
		}
		var done chan error
		if om.pub.QoS > 0 {
			if cn.sent >= limit {
				return
			}
			id := c.ids.alloc() // an unused identifier [MQTT-4.3.2-1] [MQTT-4.3.3-1]
			if id == 0 {
				return
			}
			om.pub.PacketID = id
			om.seq = c.seq
			c.seq++
			c.inflight[id] = om
			om.onWire = true
			cn.sent++
		} else {
			done = om.done
		}
		c.dequeue(om)
		if err := cn.sendPublish(&om.pub, done); err != nil {
			if om.pub.QoS > 0 && errors.Is(err, ErrConnectionLost) {
				continue // stays in flight, resent after reconnecting
			}
			if om.pub.QoS > 0 {
				delete(c.inflight, om.pub.PacketID)
				c.ids.free(om.pub.PacketID)
				cn.sent--
			}
			om.complete(err)
		}
	}
}

// onAck handles PUBACK, PUBREC and PUBCOMP for our QoS 1 and 2 messages.
func (c *Client) onAck(cn *conn, a *packet.Ack) {
	c.mu.Lock()
	defer c.mu.Unlock()
	om := c.inflight[a.PacketID]
	switch a.Kind {
	case packet.PUBACK:
		if om == nil || om.pub.QoS != 1 {
			c.logf("Unexpected PUBACK (Mid: %d)", a.PacketID)
			return
		}
		c.completeInflight(cn, om, ackError(cn.version, a))
	case packet.PUBREC:
		if om == nil || om.pub.QoS != 2 {
			if cn.version == packet.Version5 {
				// Answer all the same, so that the server can free the
				// identifier.
				rel := &packet.Ack{Kind: packet.PUBREL, PacketID: a.PacketID, ReasonCode: packet.PacketIDNotFound}
				c.logAck("Sending", rel)
				cn.send(rel, nil)
			}
			return
		}
		if err := ackError(cn.version, a); err != nil {
			// A failure PUBREC ends the exchange [MQTT-4.4.0-2].
			c.completeInflight(cn, om, err)
			return
		}
		// [MQTT-4.3.3-4]: PUBREL answers PUBREC; a repeated PUBREC gets it again.
		om.rel = true
		if om.onWire {
			cn.sendAck(packet.PUBREL, a.PacketID)
		}
	case packet.PUBCOMP:
		if om == nil || !om.rel {
			c.logf("Unexpected PUBCOMP (Mid: %d)", a.PacketID)
			return
		}
		// The server owns the message since its PUBREC; PUBCOMP's only
		// failure code, 0x92, means it had already completed it before a
		// reconnect and a resent PUBREL ("not an error during recovery",
		// MQTT 5.0 §3.7.2.1).
		c.completeInflight(cn, om, nil)
	}
}

// completeInflight ends an in-flight message and frees its identifier and
// its place in the Receive Maximum. c.mu held.
func (c *Client) completeInflight(cn *conn, om *outMsg, err error) {
	delete(c.inflight, om.pub.PacketID)
	c.ids.free(om.pub.PacketID)
	if om.onWire {
		om.onWire = false
		cn.sent--
	}
	if om.resend {
		om.resend = false
		if i := slices.Index(c.resend, om); i >= 0 {
			c.resend = slices.Delete(c.resend, i, i+1)
		}
	}
	om.complete(err)
	c.pump()
}

// onPublish handles a PUBLISH from the server, on the reader goroutine.
func (c *Client) onPublish(cn *conn, p *packet.Publish) error {
	if cn.version == packet.Version5 && p.Properties.Has(packet.PropTopicAlias) {
		a := p.Properties.TopicAlias
		if a == 0 || a > cn.inAliasMax {
			// Never 0 [MQTT-3.3.2-8], never above our maximum [MQTT-3.3.2-11].
			return &violation{packet.TopicAliasInvalid, fmt.Sprintf("topic alias %d, maximum %d", a, cn.inAliasMax)}
		}
		if p.Topic != "" {
			if cn.inAliases == nil {
				cn.inAliases = make(map[uint16]string)
			}
			cn.inAliases[a] = p.Topic
		} else if t, ok := cn.inAliases[a]; ok {
			p.Topic = t
		} else {
			return &violation{packet.ProtocolError, fmt.Sprintf("topic alias %d not mapped", a)}
		}
		p.Properties.Clear(packet.PropTopicAlias)
		p.Properties.TopicAlias = 0
	}
	c.logPublish("Received", cn.version, p)
	if err := topic.ValidateName(p.Topic); err != nil {
		return &violation{packet.TopicNameInvalid, err.Error()}
	}
	m := &Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain,
		Properties: p.Properties, Dup: p.Dup, PacketID: p.PacketID}
	it := item{msg: m, cn: cn, id: p.PacketID}
	switch p.QoS {
	case 1:
		it.ack = packet.PUBACK
	case 2:
		it.ack = packet.PUBREC
		c.mu.Lock()
		if _, dup := c.inQoS2[p.PacketID]; dup {
			// Received before and not released: acknowledge again, do not
			// deliver again [MQTT-4.3.3-11].
			it.msg = nil
		} else {
			c.inQoS2[p.PacketID] = struct{}{}
		}
		c.mu.Unlock()
	}
	if p.QoS > 0 && int(cn.inUnacked.Add(1)) > cn.inRecvMax && cn.version == packet.Version5 {
		// [MQTT-3.3.4-9]
		return &violation{packet.ReceiveMaximumExceeded, fmt.Sprintf("more than %d unacknowledged QoS 1/2 messages", cn.inRecvMax)}
	}
	c.dq.push(it)
	return nil
}
