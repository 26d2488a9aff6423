package packet

import "fmt"

// UNSUBACK: MQTT 5.0 §3.11, 3.1.1 §3.11. Before 5.0 it carries only the
// packet identifier.

// unsubackReason reports whether c is an Unsubscribe Reason Code
// [MQTT-3.11.3-2].
func unsubackReason(c byte) bool {
	switch c {
	case Success, NoSubscriptionExisted, UnspecifiedError, ImplementationSpecific,
		NotAuthorized, TopicFilterInvalid, PacketIDInUse:
		return true
	}
	return false
}

func (p *Unsuback) decode(v byte, body []byte) error {
	d := decoder{b: body, v: v}
	var err error
	if p.PacketID, err = d.packetID(); err != nil {
		return err
	}
	if v < Version5 {
		return d.end()
	}
	if err := d.props(&p.Properties, UNSUBACK); err != nil {
		return err
	}
	p.ReasonCodes = d.rest()
	if len(p.ReasonCodes) == 0 {
		return protocolErr("no reason code", "§3.11.3")
	}
	for _, c := range p.ReasonCodes {
		if !unsubackReason(c) {
			return protocolErr(fmt.Sprintf("reason code 0x%02X", c), "MQTT-3.11.3-2")
		}
	}
	return nil
}

func (p *Unsuback) size(v byte) (sizes, error) {
	var s sizes
	if p == nil {
		return s, invalid(UNSUBACK, "nil packet")
	}
	if p.PacketID == 0 {
		return s, invalid(UNSUBACK, "packet identifier 0")
	}
	s.rl = 2
	if v < Version5 {
		return s, nil
	}
	if len(p.ReasonCodes) == 0 {
		return s, invalid(UNSUBACK, "no reason code")
	}
	for _, c := range p.ReasonCodes {
		if !unsubackReason(c) {
			return s, invalid(UNSUBACK, fmt.Sprintf("reason code 0x%02X", c))
		}
	}
	var err error
	if s.props, err = p.Properties.size(UNSUBACK, UNSUBACK); err != nil {
		return s, err
	}
	s.rl += VarIntSize(s.props) + s.props + len(p.ReasonCodes)
	return s, nil
}

func (p *Unsuback) write(dst []byte, v byte, s sizes) []byte {
	dst = appendHeader(dst, byte(UNSUBACK)<<4, s.rl)
	dst = appendU16(dst, p.PacketID)
	if v < Version5 {
		return dst
	}
	dst = p.Properties.appendTo(dst, s.props)
	return append(dst, p.ReasonCodes...)
}
