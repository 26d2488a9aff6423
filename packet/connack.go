package packet

import "fmt"

// CONNACK: MQTT 5.0 §3.2, 3.1.1 §3.2, 3.1 §3.2.

// connackReason reports whether c is a Connect Reason Code [MQTT-3.2.2-8].
func connackReason(c byte) bool {
	switch c {
	case Success, UnspecifiedError, MalformedPacket, ProtocolError, ImplementationSpecific,
		UnsupportedProtocolVersion, ClientIDNotValid, BadUsernameOrPassword, NotAuthorized,
		ServerUnavailable, ServerBusy, Banned, BadAuthMethod, TopicNameInvalid, PacketTooLarge,
		QuotaExceeded, PayloadFormatInvalid, RetainNotSupported, QoSNotSupported,
		UseAnotherServer, ServerMoved, ConnectionRateExceeded:
		return true
	}
	return false
}

func (c *Connack) decode(v byte, body []byte) error {
	if v == Version5 && len(body) == 2 && body[1] == ConnRefusedVersion {
		// A 3.1.1 server refusing a 5.0 CONNECT answers in its own
		// format; tell the client so that it can retry at level 4.
		return &codecError{class: ErrUnsupportedVersion,
			msg: "server answered with a 3.1.1 CONNACK refusing the protocol level"}
	}
	d := decoder{b: body, v: v}
	flags, err := d.byte("acknowledge flags")
	if err != nil {
		return err
	}
	if c.ReasonCode, err = d.byte("reason code"); err != nil {
		return err
	}
	switch v {
	case Version31:
		// 3.1 has no session present flag; its first byte is unused.
	default:
		if flags&^1 != 0 {
			// Bits 7-1 are reserved [MQTT-3.2.2-1] (3.1.1 §3.2.2.1).
			return malformed(fmt.Sprintf("reserved acknowledge flags 0x%02X", flags), rule(v, "§3.2.2.1", "MQTT-3.2.2-1"))
		}
		c.SessionPresent = flags&1 != 0
	}
	if v == Version5 {
		if !connackReason(c.ReasonCode) {
			return protocolErr(fmt.Sprintf("reason code 0x%02X", c.ReasonCode), "MQTT-3.2.2-8")
		}
	} else if c.ReasonCode > ConnRefusedNotAuthorized {
		return protocolErr(fmt.Sprintf("reserved return code %d", c.ReasonCode), "§3.2.2.3")
	}
	if c.SessionPresent && c.ReasonCode != 0 {
		return protocolErr("session present with a refusal", rule(v, "MQTT-3.2.2-4", "MQTT-3.2.2-6"))
	}
	if v == Version5 {
		if err := d.props(&c.Properties, CONNACK); err != nil {
			return err
		}
	}
	return d.end()
}

func (c *Connack) size(v byte) (sizes, error) {
	var s sizes
	if c == nil {
		return s, invalid(CONNACK, "nil packet")
	}
	if c.SessionPresent && c.ReasonCode != 0 && v != Version31 {
		return s, invalid(CONNACK, "session present with a refusal")
	}
	if v < Version5 {
		if c.ReasonCode > ConnRefusedNotAuthorized {
			return s, invalid(CONNACK, fmt.Sprintf("return code 0x%02X is not a 3.1.1 return code", c.ReasonCode))
		}
		s.rl = 2
		return s, nil
	}
	if !connackReason(c.ReasonCode) {
		return s, invalid(CONNACK, fmt.Sprintf("reason code 0x%02X", c.ReasonCode))
	}
	var err error
	if s.props, err = c.Properties.size(CONNACK, CONNACK); err != nil {
		return s, err
	}
	s.rl = 2 + VarIntSize(s.props) + s.props
	return s, nil
}

func (c *Connack) write(dst []byte, v byte, s sizes) []byte {
	var flags byte
	if c.SessionPresent && v != Version31 {
		flags = 1
	}
	dst = appendHeader(dst, byte(CONNACK)<<4, s.rl)
	dst = append(dst, flags, c.ReasonCode)
	if v == Version5 {
		dst = c.Properties.appendTo(dst, s.props)
	}
	return dst
}
