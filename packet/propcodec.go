package packet

import (
	"fmt"
	"math/bits"
)

// The v5 property block (MQTT 5.0 section 2.2.2): a variable byte integer
// length, then identifier-value pairs.

// propContext names where a property block sits: a packet type, or
// willContext for the will properties of CONNECT.
type propContext = Type

// willContext is the context of CONNECT's will properties; 0 is a type no
// packet has.
const willContext propContext = 0

// Property value encodings [MQTT 5.0 §2.2.2.2].
type propKind uint8

const (
	kindUnknown propKind = iota
	kindByte
	kindU16
	kindU32
	kindVarInt
	kindString
	kindBinary
	kindPair
)

func kindOf(id PropID) propKind {
	switch id {
	case PropPayloadFormat, PropRequestProblemInfo, PropRequestResponseInfo, PropMaximumQoS,
		PropRetainAvailable, PropWildcardSubAvailable, PropSubIDAvailable, PropSharedSubAvailable:
		return kindByte
	case PropServerKeepAlive, PropReceiveMaximum, PropTopicAliasMaximum, PropTopicAlias:
		return kindU16
	case PropMessageExpiry, PropSessionExpiry, PropWillDelay, PropMaximumPacketSize:
		return kindU32
	case PropSubscriptionID:
		return kindVarInt
	case PropContentType, PropResponseTopic, PropAssignedClientID, PropAuthMethod,
		PropResponseInfo, PropServerReference, PropReasonString:
		return kindString
	case PropCorrelationData, PropAuthData:
		return kindBinary
	case PropUserProperty:
		return kindPair
	}
	return kindUnknown
}

func bit(id PropID) uint64 { return 1 << id }

// repeatable are the identifiers that may appear more than once; they live
// in slices, not in the presence mask.
const repeatable = 1<<PropUserProperty | 1<<PropSubscriptionID

// The properties each packet type may carry (the table of MQTT 5.0
// §2.2.2.2). Any other identifier makes the packet malformed.
const (
	willProps = 1<<PropPayloadFormat | 1<<PropMessageExpiry | 1<<PropContentType |
		1<<PropResponseTopic | 1<<PropCorrelationData | 1<<PropWillDelay | 1<<PropUserProperty
	connectProps = 1<<PropSessionExpiry | 1<<PropAuthMethod | 1<<PropAuthData |
		1<<PropRequestProblemInfo | 1<<PropRequestResponseInfo | 1<<PropReceiveMaximum |
		1<<PropTopicAliasMaximum | 1<<PropUserProperty | 1<<PropMaximumPacketSize
	connackProps = 1<<PropSessionExpiry | 1<<PropAssignedClientID | 1<<PropServerKeepAlive |
		1<<PropAuthMethod | 1<<PropAuthData | 1<<PropResponseInfo | 1<<PropServerReference |
		1<<PropReasonString | 1<<PropReceiveMaximum | 1<<PropTopicAliasMaximum |
		1<<PropMaximumQoS | 1<<PropRetainAvailable | 1<<PropUserProperty |
		1<<PropMaximumPacketSize | 1<<PropWildcardSubAvailable | 1<<PropSubIDAvailable |
		1<<PropSharedSubAvailable
	publishProps = 1<<PropPayloadFormat | 1<<PropMessageExpiry | 1<<PropContentType |
		1<<PropResponseTopic | 1<<PropCorrelationData | 1<<PropSubscriptionID |
		1<<PropTopicAlias | 1<<PropUserProperty
	ackProps         = 1<<PropReasonString | 1<<PropUserProperty // PUBACK..PUBCOMP, SUBACK, UNSUBACK
	subscribeProps   = 1<<PropSubscriptionID | 1<<PropUserProperty
	unsubscribeProps = 1 << PropUserProperty
	disconnectProps  = 1<<PropSessionExpiry | 1<<PropServerReference | 1<<PropReasonString |
		1<<PropUserProperty
	authProps = 1<<PropAuthMethod | 1<<PropAuthData | 1<<PropReasonString | 1<<PropUserProperty
)

func allowedProps(ctx propContext) uint64 {
	switch ctx {
	case willContext:
		return willProps
	case CONNECT:
		return connectProps
	case CONNACK:
		return connackProps
	case PUBLISH:
		return publishProps
	case PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK:
		return ackProps
	case SUBSCRIBE:
		return subscribeProps
	case UNSUBSCRIBE:
		return unsubscribeProps
	case DISCONNECT:
		return disconnectProps
	case AUTH:
		return authProps
	}
	return 0
}

func contextName(ctx propContext) string {
	if ctx == willContext {
		return "will properties"
	}
	return ctx.String()
}

// mask is the set of properties present, repeatable ones included when
// their slices are non-empty.
func (p *Properties) mask() uint64 {
	m := p.present &^ repeatable
	if len(p.User) > 0 {
		m |= bit(PropUserProperty)
	}
	if len(p.SubscriptionIDs) > 0 {
		m |= bit(PropSubscriptionID)
	}
	return m
}

// props reads a property block for context ctx into p.
func (d *decoder) props(p *Properties, ctx propContext) error {
	n, err := d.varInt("property length")
	if err != nil {
		return err
	}
	if n > len(d.b) {
		return malformed("property length exceeds the packet", "§2.2.2.1")
	}
	block := d.b[:n]
	d.b = d.b[n:]
	if n == 0 {
		return nil
	}
	return p.decode(block, ctx, d.v)
}

// decode reads the properties in block. A first pass reads every
// single-valued property and counts the repeatable ones; a second pass, only
// when there are some, fills slices allocated to their exact length, so a
// packet never makes the decoder allocate more than it needs.
func (p *Properties) decode(block []byte, ctx propContext, version byte) error {
	allowed := allowedProps(ctx)
	d := decoder{b: block, v: version}
	var seen uint64
	users, subIDs := 0, 0
	for len(d.b) > 0 {
		c := d.b[0]
		d.b = d.b[1:]
		id := PropID(c) // identifiers are variable byte integers, but every defined one fits 7 bits
		kind := kindOf(id)
		if kind == kindUnknown {
			return malformed(fmt.Sprintf("unknown property identifier 0x%02X", c), "§2.2.2.2")
		}
		if allowed&bit(id) == 0 {
			// An identifier not valid for the packet type is a Malformed
			// Packet [MQTT 5.0 §2.2.2.2].
			return malformed(fmt.Sprintf("property 0x%02X not allowed in %s", c, contextName(ctx)), "§2.2.2.2")
		}
		switch id {
		case PropUserProperty:
			if _, err := d.str("user property name"); err != nil {
				return err
			}
			if _, err := d.str("user property value"); err != nil {
				return err
			}
			users++
			continue
		case PropSubscriptionID:
			v, err := d.varInt("subscription identifier")
			if err != nil {
				return err
			}
			if v == 0 {
				section := "§3.3.2.3.8"
				if ctx == SUBSCRIBE {
					section = "§3.8.2.1.2"
				}
				return protocolErr("subscription identifier 0", section)
			}
			if ctx == SUBSCRIBE && subIDs > 0 {
				return protocolErr("subscription identifier more than once", "§3.8.2.1.2")
			}
			subIDs++
			continue
		}
		if seen&bit(id) != 0 {
			// Each non-repeatable property: "It is a Protocol Error to
			// include ... more than once".
			return protocolErr(fmt.Sprintf("property 0x%02X more than once", c), "§2.2.2.2")
		}
		seen |= bit(id)
		if err := p.decodeValue(&d, id); err != nil {
			return err
		}
	}
	p.present |= seen
	if users > 0 || subIDs > 0 {
		p.decodeRepeated(block, users, subIDs)
	}
	return p.check()
}

func (p *Properties) decodeValue(d *decoder, id PropID) error {
	var err error
	const what = "property value"
	switch id {
	case PropPayloadFormat:
		p.PayloadFormat, err = d.byte(what)
	case PropMessageExpiry:
		p.MessageExpiry, err = d.u32(what)
	case PropContentType:
		p.ContentType, err = d.str("content type")
	case PropResponseTopic:
		p.ResponseTopic, err = d.str("response topic")
	case PropCorrelationData:
		p.CorrelationData, err = d.binary("correlation data")
	case PropSessionExpiry:
		p.SessionExpiry, err = d.u32(what)
	case PropAssignedClientID:
		p.AssignedClientID, err = d.str("assigned client identifier")
	case PropServerKeepAlive:
		p.ServerKeepAlive, err = d.u16(what)
	case PropAuthMethod:
		p.AuthMethod, err = d.str("authentication method")
	case PropAuthData:
		p.AuthData, err = d.binary("authentication data")
	case PropRequestProblemInfo:
		p.RequestProblemInfo, err = d.byte(what)
	case PropWillDelay:
		p.WillDelay, err = d.u32(what)
	case PropRequestResponseInfo:
		p.RequestResponseInfo, err = d.byte(what)
	case PropResponseInfo:
		p.ResponseInfo, err = d.str("response information")
	case PropServerReference:
		p.ServerReference, err = d.str("server reference")
	case PropReasonString:
		p.ReasonString, err = d.str("reason string")
	case PropReceiveMaximum:
		p.ReceiveMaximum, err = d.u16(what)
	case PropTopicAliasMaximum:
		p.TopicAliasMaximum, err = d.u16(what)
	case PropTopicAlias:
		p.TopicAlias, err = d.u16(what)
	case PropMaximumQoS:
		p.MaximumQoS, err = d.byte(what)
	case PropRetainAvailable:
		p.RetainAvailable, err = d.byte(what)
	case PropMaximumPacketSize:
		p.MaximumPacketSize, err = d.u32(what)
	case PropWildcardSubAvailable:
		p.WildcardSubAvailable, err = d.byte(what)
	case PropSubIDAvailable:
		p.SubIDAvailable, err = d.byte(what)
	case PropSharedSubAvailable:
		p.SharedSubAvailable, err = d.byte(what)
	}
	return err
}

// decodeRepeated is the second pass over a block the first pass has
// validated: it collects user properties and subscription identifiers in
// order (MQTT 5.0 §3.3.2.3.7).
func (p *Properties) decodeRepeated(block []byte, users, subIDs int) {
	if users > 0 {
		p.User = make([]UserProperty, 0, users)
	}
	if subIDs > 0 {
		p.SubscriptionIDs = make([]uint32, 0, subIDs)
	}
	d := decoder{b: block}
	for len(d.b) > 0 {
		id := PropID(d.b[0])
		d.b = d.b[1:]
		switch kindOf(id) {
		case kindByte:
			d.b = d.b[1:]
		case kindU16:
			d.b = d.b[2:]
		case kindU32:
			d.b = d.b[4:]
		case kindVarInt:
			v, _ := d.varInt("")
			p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(v))
		case kindString, kindBinary:
			_, _ = d.binary("")
		case kindPair:
			k, _ := d.binary("")
			v, _ := d.binary("")
			p.User = append(p.User, UserProperty{Key: bytesString(k), Value: bytesString(v)})
		}
	}
}

// check applies the value rules of MQTT 5.0 section 3 to the present
// properties; it serves both Decode (a violation is a Protocol Error) and
// Append (which refuses to write one).
func (p *Properties) check() error {
	m := p.present
	if m == 0 {
		return nil
	}
	zeroOne := func(id PropID, v byte, name, section string) error {
		if m&bit(id) != 0 && v > 1 {
			return protocolErr(fmt.Sprintf("%s %d, not 0 or 1", name, v), section)
		}
		return nil
	}
	nonZero := func(id PropID, v uint32, name, r string) error {
		if m&bit(id) != 0 && v == 0 {
			return protocolErr(name+" 0", r)
		}
		return nil
	}
	for _, err := range [...]error{
		zeroOne(PropPayloadFormat, p.PayloadFormat, "payload format indicator", "§3.3.2.3.2"),
		zeroOne(PropRequestProblemInfo, p.RequestProblemInfo, "request problem information", "§3.1.2.11.7"),
		zeroOne(PropRequestResponseInfo, p.RequestResponseInfo, "request response information", "§3.1.2.11.6"),
		zeroOne(PropMaximumQoS, p.MaximumQoS, "maximum QoS", "§3.2.2.3.4"),
		zeroOne(PropRetainAvailable, p.RetainAvailable, "retain available", "§3.2.2.3.5"),
		zeroOne(PropWildcardSubAvailable, p.WildcardSubAvailable, "wildcard subscription available", "§3.2.2.3.11"),
		zeroOne(PropSubIDAvailable, p.SubIDAvailable, "subscription identifiers available", "§3.2.2.3.12"),
		zeroOne(PropSharedSubAvailable, p.SharedSubAvailable, "shared subscription available", "§3.2.2.3.13"),
		nonZero(PropReceiveMaximum, uint32(p.ReceiveMaximum), "receive maximum", "§3.1.2.11.3"),
		nonZero(PropMaximumPacketSize, p.MaximumPacketSize, "maximum packet size", "§3.1.2.11.4"),
		nonZero(PropTopicAlias, uint32(p.TopicAlias), "topic alias", "MQTT-3.3.2-8"),
	} {
		if err != nil {
			return err
		}
	}
	if m&bit(PropAuthData) != 0 && m&bit(PropAuthMethod) == 0 {
		return protocolErr("authentication data without authentication method", "§3.1.2.11.10")
	}
	return nil
}

// size validates the properties for encoding in context ctx and returns the
// length of the block without its length prefix.
func (p *Properties) size(t Type, ctx propContext) (int, error) {
	m := p.mask()
	if m == 0 {
		return 0, nil
	}
	if extra := m &^ allowedProps(ctx); extra != 0 {
		id := bits.TrailingZeros64(extra)
		return 0, invalid(t, fmt.Sprintf("property 0x%02X not allowed in %s", id, contextName(ctx)))
	}
	if err := p.check(); err != nil {
		return 0, invalid(t, err.(*codecError).msg)
	}
	n := 0
	for b := m; b != 0; b &= b - 1 {
		id := PropID(bits.TrailingZeros64(b))
		n++ // identifier
		var f int
		var err error
		switch id {
		case PropSubscriptionID:
			if ctx == SUBSCRIBE && len(p.SubscriptionIDs) > 1 {
				return 0, invalid(t, "more than one subscription identifier")
			}
			for i, v := range p.SubscriptionIDs {
				if v == 0 || v > MaxRemainingLength {
					return 0, invalid(t, fmt.Sprintf("subscription identifier %d out of range", v))
				}
				if i > 0 {
					n++
				}
				n += VarIntSize(int(v))
			}
			continue
		case PropUserProperty:
			for i, u := range p.User {
				if i > 0 {
					n++
				}
				k, err := fieldSize(t, len(u.Key), "user property name")
				if err != nil {
					return 0, err
				}
				v, err := fieldSize(t, len(u.Value), "user property value")
				if err != nil {
					return 0, err
				}
				n += k + v
			}
			continue
		case PropContentType:
			f, err = fieldSize(t, len(p.ContentType), "content type")
		case PropResponseTopic:
			f, err = fieldSize(t, len(p.ResponseTopic), "response topic")
		case PropCorrelationData:
			f, err = fieldSize(t, len(p.CorrelationData), "correlation data")
		case PropAssignedClientID:
			f, err = fieldSize(t, len(p.AssignedClientID), "assigned client identifier")
		case PropAuthMethod:
			f, err = fieldSize(t, len(p.AuthMethod), "authentication method")
		case PropAuthData:
			f, err = fieldSize(t, len(p.AuthData), "authentication data")
		case PropResponseInfo:
			f, err = fieldSize(t, len(p.ResponseInfo), "response information")
		case PropServerReference:
			f, err = fieldSize(t, len(p.ServerReference), "server reference")
		case PropReasonString:
			f, err = fieldSize(t, len(p.ReasonString), "reason string")
		default:
			switch kindOf(id) {
			case kindByte:
				f = 1
			case kindU16:
				f = 2
			case kindU32:
				f = 4
			}
		}
		if err != nil {
			return 0, err
		}
		n += f
	}
	if n > MaxRemainingLength {
		return 0, invalid(t, "properties too long")
	}
	return n, nil
}

// appendTo appends a property block of length n (from size): the length,
// then each property in identifier order, repeatable ones in slice order.
func (p *Properties) appendTo(b []byte, n int) []byte {
	b = AppendVarInt(b, n)
	if n == 0 {
		return b
	}
	for m := p.mask(); m != 0; m &= m - 1 {
		id := PropID(bits.TrailingZeros64(m))
		switch id {
		case PropSubscriptionID:
			for _, v := range p.SubscriptionIDs {
				b = append(b, byte(id))
				b = AppendVarInt(b, int(v))
			}
			continue
		case PropUserProperty:
			for _, u := range p.User {
				b = append(b, byte(id))
				b = appendString(b, u.Key)
				b = appendString(b, u.Value)
			}
			continue
		}
		b = append(b, byte(id))
		switch id {
		case PropPayloadFormat:
			b = append(b, p.PayloadFormat)
		case PropMessageExpiry:
			b = appendU32(b, p.MessageExpiry)
		case PropContentType:
			b = appendString(b, p.ContentType)
		case PropResponseTopic:
			b = appendString(b, p.ResponseTopic)
		case PropCorrelationData:
			b = appendBinary(b, p.CorrelationData)
		case PropSessionExpiry:
			b = appendU32(b, p.SessionExpiry)
		case PropAssignedClientID:
			b = appendString(b, p.AssignedClientID)
		case PropServerKeepAlive:
			b = appendU16(b, p.ServerKeepAlive)
		case PropAuthMethod:
			b = appendString(b, p.AuthMethod)
		case PropAuthData:
			b = appendBinary(b, p.AuthData)
		case PropRequestProblemInfo:
			b = append(b, p.RequestProblemInfo)
		case PropWillDelay:
			b = appendU32(b, p.WillDelay)
		case PropRequestResponseInfo:
			b = append(b, p.RequestResponseInfo)
		case PropResponseInfo:
			b = appendString(b, p.ResponseInfo)
		case PropServerReference:
			b = appendString(b, p.ServerReference)
		case PropReasonString:
			b = appendString(b, p.ReasonString)
		case PropReceiveMaximum:
			b = appendU16(b, p.ReceiveMaximum)
		case PropTopicAliasMaximum:
			b = appendU16(b, p.TopicAliasMaximum)
		case PropTopicAlias:
			b = appendU16(b, p.TopicAlias)
		case PropMaximumQoS:
			b = append(b, p.MaximumQoS)
		case PropRetainAvailable:
			b = append(b, p.RetainAvailable)
		case PropMaximumPacketSize:
			b = appendU32(b, p.MaximumPacketSize)
		case PropWildcardSubAvailable:
			b = append(b, p.WildcardSubAvailable)
		case PropSubIDAvailable:
			b = append(b, p.SubIDAvailable)
		case PropSharedSubAvailable:
			b = append(b, p.SharedSubAvailable)
		}
	}
	return b
}
