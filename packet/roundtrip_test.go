package packet_test

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/mastmq/mast/packet"
)

// TestRoundTrip encodes random valid packets of every type at every level,
// decodes them, and expects the same packet and, encoded again, the same
// bytes.
func TestRoundTrip(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(1, 2))}
	n := 300
	if testing.Short() {
		n = 50
	}
	for _, v := range []byte{3, 4, 5} {
		for _, mk := range g.makers(v) {
			for range n {
				p := mk()
				raw, err := packet.Append(nil, v, p)
				if err != nil {
					t.Fatalf("level %d: Append(%#v): %v", v, p, err)
				}
				if size, err := packet.Size(v, p); err != nil || size != len(raw) {
					t.Fatalf("level %d: Size = %d, %v; Append wrote %d", v, size, err, len(raw))
				}
				rv := v
				if p.Type() == packet.CONNECT {
					rv = 0
				}
				got, err := packet.Read(bytes.NewReader(raw), rv, len(raw))
				if err != nil {
					t.Fatalf("level %d: Read(% X) from %#v: %v", v, raw, p, err)
				}
				if !reflect.DeepEqual(got, p) {
					t.Fatalf("level %d: % X\n got %#v\nwant %#v", v, raw, got, p)
				}
				again, err := packet.Append(nil, v, got)
				if err != nil || !bytes.Equal(again, raw) {
					t.Fatalf("level %d: encoded again: % X, %v; want % X", v, again, err, raw)
				}
			}
		}
	}
}

// gen makes random packets that are valid at a given protocol level.
type gen struct{ r *rand.Rand }

func (g gen) makers(v byte) []func() packet.Packet {
	m := []func() packet.Packet{
		func() packet.Packet { return g.connect(v) },
		func() packet.Packet { return g.connack(v) },
		func() packet.Packet { return g.publish(v) },
		func() packet.Packet { return g.ack(v) },
		func() packet.Packet { return g.subscribe(v) },
		func() packet.Packet { return g.suback(v) },
		func() packet.Packet { return g.unsubscribe(v) },
		func() packet.Packet { return g.unsuback(v) },
		func() packet.Packet { return &packet.Pingreq{} },
		func() packet.Packet { return &packet.Pingresp{} },
		func() packet.Packet { return g.disconnect(v) },
	}
	if v == 5 {
		m = append(m, func() packet.Packet { return g.auth() })
	}
	return m
}

func (g gen) bool() bool { return g.r.IntN(2) == 0 }

// str returns a short UTF-8 string with some multi-byte characters.
func (g gen) str() string {
	pieces := []string{"a", "b", "z", "0", "/", "+", "#", "$", " ", "é", "€", "𝄞", "ü", "sensor", "\u007f", "\ufeff"}
	var s string
	for range g.r.IntN(8) {
		s += pieces[g.r.IntN(len(pieces))]
	}
	return s
}

// bytes returns nil or 1 to max random bytes, as the decoder gives empty
// binary fields as nil.
func (g gen) bytes(max int) []byte {
	n := g.r.IntN(max + 1)
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	return b
}

func (g gen) pid() uint16   { return uint16(1 + g.r.IntN(65535)) }
func (g gen) u16() uint16   { return uint16(g.r.UintN(65536)) }
func (g gen) u32() uint32   { return g.r.Uint32() }
func (g gen) zeroOne() byte { return byte(g.r.IntN(2)) }

func (g gen) pick(codes []byte) byte { return codes[g.r.IntN(len(codes))] }

// The properties each packet type may carry (MQTT 5.0 §2.2.2.2).
var (
	willIDs    = []packet.PropID{packet.PropPayloadFormat, packet.PropMessageExpiry, packet.PropContentType, packet.PropResponseTopic, packet.PropCorrelationData, packet.PropWillDelay}
	connectIDs = []packet.PropID{packet.PropSessionExpiry, packet.PropAuthMethod, packet.PropAuthData, packet.PropRequestProblemInfo, packet.PropRequestResponseInfo, packet.PropReceiveMaximum, packet.PropTopicAliasMaximum, packet.PropMaximumPacketSize}
	connackIDs = []packet.PropID{packet.PropSessionExpiry, packet.PropAssignedClientID, packet.PropServerKeepAlive, packet.PropAuthMethod, packet.PropAuthData, packet.PropResponseInfo, packet.PropServerReference, packet.PropReasonString, packet.PropReceiveMaximum, packet.PropTopicAliasMaximum, packet.PropMaximumQoS, packet.PropRetainAvailable, packet.PropMaximumPacketSize, packet.PropWildcardSubAvailable, packet.PropSubIDAvailable, packet.PropSharedSubAvailable}
	publishIDs = []packet.PropID{packet.PropPayloadFormat, packet.PropMessageExpiry, packet.PropContentType, packet.PropResponseTopic, packet.PropCorrelationData, packet.PropTopicAlias}
	ackIDs     = []packet.PropID{packet.PropReasonString}
	discIDs    = []packet.PropID{packet.PropSessionExpiry, packet.PropServerReference, packet.PropReasonString}
	authIDs    = []packet.PropID{packet.PropAuthMethod, packet.PropAuthData, packet.PropReasonString}
)

// props sets each of ids with probability one half, then up to three user
// properties and up to maxSubIDs subscription identifiers.
func (g gen) props(ids []packet.PropID, maxSubIDs int) packet.Properties {
	var p packet.Properties
	for _, id := range ids {
		if g.bool() {
			continue
		}
		switch id {
		case packet.PropPayloadFormat:
			p.PayloadFormat = g.zeroOne()
		case packet.PropMessageExpiry:
			p.MessageExpiry = g.u32()
		case packet.PropContentType:
			p.ContentType = g.str()
		case packet.PropResponseTopic:
			p.ResponseTopic = g.str()
		case packet.PropCorrelationData:
			p.CorrelationData = g.bytes(8)
		case packet.PropSessionExpiry:
			p.SessionExpiry = g.u32()
		case packet.PropAssignedClientID:
			p.AssignedClientID = g.str()
		case packet.PropServerKeepAlive:
			p.ServerKeepAlive = g.u16()
		case packet.PropAuthMethod:
			p.AuthMethod = g.str()
		case packet.PropAuthData:
			if !p.Has(packet.PropAuthMethod) {
				continue // data needs a method [MQTT 5.0 §3.1.2.11.10]
			}
			p.AuthData = g.bytes(8)
		case packet.PropRequestProblemInfo:
			p.RequestProblemInfo = g.zeroOne()
		case packet.PropWillDelay:
			p.WillDelay = g.u32()
		case packet.PropRequestResponseInfo:
			p.RequestResponseInfo = g.zeroOne()
		case packet.PropResponseInfo:
			p.ResponseInfo = g.str()
		case packet.PropServerReference:
			p.ServerReference = g.str()
		case packet.PropReasonString:
			p.ReasonString = g.str()
		case packet.PropReceiveMaximum:
			p.ReceiveMaximum = g.pid()
		case packet.PropTopicAliasMaximum:
			p.TopicAliasMaximum = g.u16()
		case packet.PropTopicAlias:
			p.TopicAlias = g.pid()
		case packet.PropMaximumQoS:
			p.MaximumQoS = g.zeroOne()
		case packet.PropRetainAvailable:
			p.RetainAvailable = g.zeroOne()
		case packet.PropMaximumPacketSize:
			p.MaximumPacketSize = 1 + g.r.Uint32N(1<<32-1)
		case packet.PropWildcardSubAvailable:
			p.WildcardSubAvailable = g.zeroOne()
		case packet.PropSubIDAvailable:
			p.SubIDAvailable = g.zeroOne()
		case packet.PropSharedSubAvailable:
			p.SharedSubAvailable = g.zeroOne()
		}
		p.Set(id)
	}
	for range g.r.IntN(4) {
		p.User = append(p.User, packet.UserProperty{Key: g.str(), Value: g.str()})
	}
	for range g.r.IntN(maxSubIDs + 1) {
		p.SubscriptionIDs = append(p.SubscriptionIDs, 1+g.r.Uint32N(packet.MaxRemainingLength))
	}
	return p
}

func (g gen) connect(v byte) *packet.Connect {
	c := &packet.Connect{ProtocolName: "MQTT", Version: v, CleanStart: g.bool(), KeepAlive: g.u16(), ClientID: g.str()}
	if v == 3 {
		c.ProtocolName = "MQIsdp"
	}
	if v == 5 {
		c.Properties = g.props(connectIDs, 0)
	}
	if g.bool() {
		c.WillFlag, c.WillQoS, c.WillRetain = true, byte(g.r.IntN(3)), g.bool()
		c.WillTopic, c.WillPayload = g.str(), g.bytes(20)
		if v == 5 {
			c.WillProperties = g.props(willIDs, 0)
		}
	}
	if g.bool() {
		c.UsernameFlag, c.Username = true, g.str()
	}
	if (c.UsernameFlag || v == 5) && g.bool() {
		c.PasswordFlag, c.Password = true, g.bytes(10)
	}
	return c
}

var connackCodes = []byte{0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F}

func (g gen) connack(v byte) *packet.Connack {
	c := &packet.Connack{}
	if v == 5 {
		c.ReasonCode = g.pick(connackCodes)
		c.Properties = g.props(connackIDs, 0)
	} else {
		c.ReasonCode = byte(g.r.IntN(6))
	}
	c.SessionPresent = v != 3 && c.ReasonCode == 0 && g.bool()
	return c
}

func (g gen) publish(v byte) *packet.Publish {
	p := &packet.Publish{QoS: byte(g.r.IntN(3)), Retain: g.bool(), Topic: g.str(), Payload: g.bytes(100)}
	if p.QoS > 0 {
		p.Dup, p.PacketID = g.bool(), g.pid()
	}
	if v == 5 {
		p.Properties = g.props(publishIDs, 3)
		if p.Topic == "" && !p.Properties.Has(packet.PropTopicAlias) {
			p.Properties.TopicAlias = g.pid()
			p.Properties.Set(packet.PropTopicAlias)
		}
	}
	return p
}

var (
	pubackCodes = []byte{0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}
	pubrelCodes = []byte{0x00, 0x92}
)

func (g gen) ack(v byte) *packet.Ack {
	kinds := []packet.Type{packet.PUBACK, packet.PUBREC, packet.PUBREL, packet.PUBCOMP}
	a := &packet.Ack{Kind: kinds[g.r.IntN(4)], PacketID: g.pid()}
	if v == 5 {
		codes := pubackCodes
		if a.Kind == packet.PUBREL || a.Kind == packet.PUBCOMP {
			codes = pubrelCodes
		}
		if g.bool() {
			a.ReasonCode = g.pick(codes)
		}
		if g.bool() {
			a.Properties = g.props(ackIDs, 0)
		}
	}
	return a
}

func (g gen) subscribe(v byte) *packet.Subscribe {
	s := &packet.Subscribe{PacketID: g.pid()}
	if v == 5 {
		s.Properties = g.props(nil, 1)
	}
	for range 1 + g.r.IntN(5) {
		sub := packet.Subscription{Filter: g.str(), QoS: byte(g.r.IntN(3))}
		if v == 5 {
			sub.NoLocal, sub.RetainAsPublished, sub.RetainHandling = g.bool(), g.bool(), byte(g.r.IntN(3))
		}
		s.Subscriptions = append(s.Subscriptions, sub)
	}
	return s
}

var subackCodes = []byte{0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2}

func (g gen) suback(v byte) *packet.Suback {
	s := &packet.Suback{PacketID: g.pid()}
	codes := []byte{0x00, 0x01, 0x02, 0x80}
	if v == 5 {
		codes = subackCodes
		s.Properties = g.props(ackIDs, 0)
	}
	for range 1 + g.r.IntN(5) {
		s.ReasonCodes = append(s.ReasonCodes, g.pick(codes))
	}
	return s
}

func (g gen) unsubscribe(v byte) *packet.Unsubscribe {
	u := &packet.Unsubscribe{PacketID: g.pid()}
	if v == 5 {
		u.Properties = g.props(nil, 0)
	}
	for range 1 + g.r.IntN(5) {
		u.Filters = append(u.Filters, g.str())
	}
	return u
}

var unsubackCodes = []byte{0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91}

func (g gen) unsuback(v byte) *packet.Unsuback {
	u := &packet.Unsuback{PacketID: g.pid()}
	if v == 5 {
		u.Properties = g.props(ackIDs, 0)
		for range 1 + g.r.IntN(5) {
			u.ReasonCodes = append(u.ReasonCodes, g.pick(unsubackCodes))
		}
	}
	return u
}

var disconnectCodes = []byte{0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2}

func (g gen) disconnect(v byte) *packet.Disconnect {
	d := &packet.Disconnect{}
	if v == 5 {
		if g.bool() {
			d.ReasonCode = g.pick(disconnectCodes)
		}
		if g.bool() {
			d.Properties = g.props(discIDs, 0)
		}
	}
	return d
}

func (g gen) auth() *packet.Auth {
	a := &packet.Auth{}
	if g.bool() {
		a.ReasonCode = g.pick([]byte{0x00, 0x18, 0x19})
	}
	if g.bool() {
		a.Properties = g.props(authIDs, 0)
	}
	return a
}
