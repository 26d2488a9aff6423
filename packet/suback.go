package packet

import "fmt"

// SUBACK: MQTT 5.0 §3.9, 3.1.1 §3.9.

// subackReason reports whether c is a Subscribe Reason Code
// [MQTT-3.9.3-2].
func subackReason(c byte) bool {
	switch c {
	case Success, GrantedQoS1, GrantedQoS2, UnspecifiedError, ImplementationSpecific,
		NotAuthorized, TopicFilterInvalid, PacketIDInUse, QuotaExceeded, SharedSubNotSupported,
		SubIDsNotSupported, WildcardSubNotSupported:
		return true
	}
	return false
}

// subackReturnCode reports whether c is a 3.1.1 SUBACK return code; others
// are reserved [MQTT-3.9.3-2].
func subackReturnCode(c byte) bool { return c <= 2 || c == SubackFailure }

func (p *Suback) decode(v byte, body []byte) error {
	d := decoder{b: body, v: v}
	var err error
	if p.PacketID, err = d.packetID(); err != nil {
		return err
	}
	if v == Version5 {
		if err := d.props(&p.Properties, SUBACK); err != nil {
			return err
		}
	}
	// One code per filter of the SUBSCRIBE, which has at least one.
	p.ReasonCodes = d.rest()
	if len(p.ReasonCodes) == 0 {
		return protocolErr("no reason code", "§3.9.3")
	}
	for _, c := range p.ReasonCodes {
		if v == Version5 && !subackReason(c) || v < Version5 && !subackReturnCode(c) {
			return protocolErr(fmt.Sprintf("reason code 0x%02X", c), "MQTT-3.9.3-2")
		}
	}
	return nil
}

// size checks the codes for v. At levels 3 and 4 a 5.0 failure code (0x80
// or above) is written as the one 3.1.1 failure code, 0x80, so that a
// server can work in reason codes and encode for any client.
func (p *Suback) size(v byte) (sizes, error) {
	var s sizes
	if p == nil {
		return s, invalid(SUBACK, "nil packet")
	}
	if p.PacketID == 0 {
		return s, invalid(SUBACK, "packet identifier 0")
	}
	if len(p.ReasonCodes) == 0 {
		return s, invalid(SUBACK, "no reason code")
	}
	for _, c := range p.ReasonCodes {
		if v == Version5 && !subackReason(c) || v < Version5 && c > GrantedQoS2 && c < SubackFailure {
			return s, invalid(SUBACK, fmt.Sprintf("reason code 0x%02X", c))
		}
	}
	s.rl = 2 + len(p.ReasonCodes)
	if v == Version5 {
		var err error
		if s.props, err = p.Properties.size(SUBACK, SUBACK); err != nil {
			return s, err
		}
		s.rl += VarIntSize(s.props) + s.props
	}
	return s, nil
}

func (p *Suback) write(dst []byte, v byte, s sizes) []byte {
	dst = appendHeader(dst, byte(SUBACK)<<4, s.rl)
	dst = appendU16(dst, p.PacketID)
	if v == Version5 {
		dst = p.Properties.appendTo(dst, s.props)
		return append(dst, p.ReasonCodes...)
	}
	for _, c := range p.ReasonCodes {
		dst = append(dst, min(c, SubackFailure))
	}
	return dst
}
