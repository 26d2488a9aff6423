package packet

import "fmt"

// PUBACK, PUBREC, PUBREL and PUBCOMP: MQTT 5.0 §3.4-3.7, 3.1.1 §3.4-3.7.
// They share one layout: packet identifier, then in 5.0 a reason code and
// properties, both of which may be left out.

// ackReason reports whether c is a reason code of ack kind k, and names the
// statement that says so.
func ackReason(k Type, c byte) (ok bool, r string) {
	switch k {
	case PUBACK, PUBREC:
		switch c {
		case Success, NoMatchingSubscribers, UnspecifiedError, ImplementationSpecific,
			NotAuthorized, TopicNameInvalid, PacketIDInUse, QuotaExceeded, PayloadFormatInvalid:
			ok = true
		}
		if k == PUBACK {
			return ok, "MQTT-3.4.2-1"
		}
		return ok, "MQTT-3.5.2-1"
	case PUBREL, PUBCOMP:
		ok = c == Success || c == PacketIDNotFound
		if k == PUBREL {
			return ok, "MQTT-3.6.2-1"
		}
		return ok, "MQTT-3.7.2-1"
	}
	return false, ""
}

func (a *Ack) decode(v byte, body []byte) error {
	d := decoder{b: body, v: v}
	var err error
	if a.PacketID, err = d.packetID(); err != nil {
		return err
	}
	if v < Version5 || len(d.b) == 0 {
		// Remaining length 2: in 5.0, reason code 0 and no properties.
		return d.end()
	}
	a.ReasonCode, _ = d.byte("reason code")
	if ok, r := ackReason(a.Kind, a.ReasonCode); !ok {
		return protocolErr(fmt.Sprintf("reason code 0x%02X", a.ReasonCode), r)
	}
	if len(d.b) == 0 {
		// Remaining length 3: a reason code and no properties.
		return nil
	}
	if err := d.props(&a.Properties, a.Kind); err != nil {
		return err
	}
	return d.end()
}

func (a *Ack) size(v byte) (sizes, error) {
	var s sizes
	if a == nil {
		return s, invalid(PUBACK, "nil packet")
	}
	switch a.Kind {
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
	default:
		return s, invalid(a.Kind, fmt.Sprintf("Ack of kind %v", a.Kind))
	}
	if a.PacketID == 0 {
		return s, invalid(a.Kind, "packet identifier 0")
	}
	s.rl = 2
	if v < Version5 {
		return s, nil
	}
	if ok, _ := ackReason(a.Kind, a.ReasonCode); !ok {
		return s, invalid(a.Kind, fmt.Sprintf("reason code 0x%02X", a.ReasonCode))
	}
	var err error
	if s.props, err = a.Properties.size(a.Kind, a.Kind); err != nil {
		return s, err
	}
	switch {
	case s.props > 0:
		s.rl += 1 + VarIntSize(s.props) + s.props
	case a.ReasonCode != Success:
		s.rl++
	}
	return s, nil
}

func (a *Ack) write(dst []byte, v byte, s sizes) []byte {
	first := byte(a.Kind) << 4
	if a.Kind == PUBREL {
		first |= 0x2
	}
	dst = appendHeader(dst, first, s.rl)
	dst = appendU16(dst, a.PacketID)
	if s.rl > 2 {
		dst = append(dst, a.ReasonCode)
	}
	if s.props > 0 {
		dst = a.Properties.appendTo(dst, s.props)
	}
	return dst
}
