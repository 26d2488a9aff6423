package broker

import (
	"time"

	"github.com/mastmq/mast/packet"
)

// message is one published application message. It is immutable once
// routed: every subscriber shares it and its payload.
type message struct {
	topic     string
	payload   []byte
	qos       byte
	retain    bool
	props     *packet.Properties // v5 properties to forward; nil when none
	expiry    time.Time          // zero: never expires
	publisher string             // client id, for no-local
	size      int                // encoded size lower bound of topic, payload and props
	// arrived is when the broker received the message, for the
	// publish-to-delivery latency metric.
	arrived time.Time
	// expiryInterval is a will's Message Expiry Interval, applied when the
	// will is published.
	expiryInterval uint32
	// share, on a message from the cluster, names the one shared
	// subscription ($share/group/filter) the cluster picked this node's
	// members of that group for; the message goes to it alone.
	share string
	// only, on a message the cluster replays into one session, limits
	// its routing to that session; such a message is not retained again.
	only *session
	// cid is the cluster's id of the message (its origin node's run and
	// sequence number); 0 outside a cluster.
	cid uint64
}

// messageSize is a lower bound of the PUBLISH size that carries m, used to
// skip subscribers whose Maximum Packet Size it exceeds.
func messageSize(m *message) int {
	return 2 + 2 + len(m.topic) + len(m.payload) + propsSize(m.props)
}

// expired reports whether the message's expiry interval has passed
// [MQTT-3.3.2-5].
func (m *message) expired(now time.Time) bool {
	return !m.expiry.IsZero() && !now.Before(m.expiry)
}

// remainingExpiry is the Message Expiry Interval to forward: the received
// value minus the time the message waited [MQTT-3.3.2-6].
func (m *message) remainingExpiry(now time.Time) uint32 {
	d := m.expiry.Sub(now)
	if d <= 0 {
		return 0
	}
	return uint32((d + time.Second - 1) / time.Second)
}

// forwardedProps picks the PUBLISH properties that travel with a message:
// everything but topic alias and subscription identifiers, which are
// per-connection (§3.3.2) and per-subscription [MQTT-3.3.4-3].
func forwardedProps(p *packet.Properties) *packet.Properties {
	if p.Empty() {
		return nil
	}
	out := &packet.Properties{}
	if p.Has(packet.PropPayloadFormat) {
		out.PayloadFormat = p.PayloadFormat
		out.Set(packet.PropPayloadFormat)
	}
	if p.Has(packet.PropContentType) {
		out.ContentType = p.ContentType
		out.Set(packet.PropContentType)
	}
	if p.Has(packet.PropResponseTopic) {
		out.ResponseTopic = p.ResponseTopic
		out.Set(packet.PropResponseTopic)
	}
	if p.Has(packet.PropCorrelationData) {
		out.CorrelationData = p.CorrelationData
		out.Set(packet.PropCorrelationData)
	}
	out.User = p.User
	if out.Empty() {
		return nil
	}
	return out
}

// propsSize is the encoded size of forwarded properties.
func propsSize(p *packet.Properties) int {
	if p == nil {
		return 0
	}
	n := 0
	if p.Has(packet.PropContentType) {
		n += 3 + len(p.ContentType)
	}
	if p.Has(packet.PropResponseTopic) {
		n += 3 + len(p.ResponseTopic)
	}
	if p.Has(packet.PropCorrelationData) {
		n += 3 + len(p.CorrelationData)
	}
	if p.Has(packet.PropPayloadFormat) {
		n += 2
	}
	for _, u := range p.User {
		n += 5 + len(u.Key) + len(u.Value)
	}
	return n
}

// delivery is one message on its way to one session: the per-subscriber
// header around the shared message.
type delivery struct {
	msg    *message
	qos    byte
	retain bool
	subIDs []uint32
	pid    uint16
	dup    bool
	// pubrel is set for an outbound QoS 2 message whose PUBREC arrived: it
	// now waits for PUBCOMP, and a resume resends PUBREL, not PUBLISH.
	pubrel bool
	// shared is the $share/group/filter the message came through, if any:
	// if this member goes away, another member gets it.
	shared string
	seq    uint64 // order in the store
	ready  bool   // committed to the store where it must be; may be sent
	sent   bool   // sent and not yet acknowledged
}
