package packet

import "fmt"

// DISCONNECT: MQTT 5.0 §3.14, 3.1.1 §3.14. Before 5.0 it is a bare fixed
// header; in 5.0 a reason code and properties follow, and may be left out
// when they are 0 and empty.

// disconnectReason reports whether c is a Disconnect Reason Code
// [MQTT-3.14.2-1].
func disconnectReason(c byte) bool {
	switch c {
	case Success, DisconnectWithWill, UnspecifiedError, MalformedPacket, ProtocolError,
		ImplementationSpecific, NotAuthorized, ServerBusy, ServerShuttingDown, KeepAliveTimeout,
		SessionTakenOver, TopicFilterInvalid, TopicNameInvalid, ReceiveMaximumExceeded,
		TopicAliasInvalid, PacketTooLarge, MessageRateTooHigh, QuotaExceeded,
		AdministrativeAction, PayloadFormatInvalid, RetainNotSupported, QoSNotSupported,
		UseAnotherServer, ServerMoved, SharedSubNotSupported, ConnectionRateExceeded,
		MaximumConnectTime, SubIDsNotSupported, WildcardSubNotSupported:
		return true
	}
	return false
}

// decodeReasonProps decodes the optional reason code and properties that
// DISCONNECT and AUTH share: remaining length 0 means reason 0, 1 means no
// properties.
func decodeReasonProps(v byte, body []byte, t Type, code *byte, p *Properties,
	valid func(byte) bool, r string) error {
	if len(body) == 0 {
		return nil
	}
	d := decoder{b: body, v: v}
	*code, _ = d.byte("reason code")
	if !valid(*code) {
		return protocolErr(fmt.Sprintf("reason code 0x%02X", *code), r)
	}
	if len(d.b) == 0 {
		return nil
	}
	if err := d.props(p, t); err != nil {
		return err
	}
	return d.end()
}

// sizeReasonProps is the encoding side of decodeReasonProps, choosing the
// shortest form.
func sizeReasonProps(t Type, code byte, p *Properties) (sizes, error) {
	var s sizes
	var err error
	if s.props, err = p.size(t, t); err != nil {
		return s, err
	}
	switch {
	case s.props > 0:
		s.rl = 1 + VarIntSize(s.props) + s.props
	case code != Success:
		s.rl = 1
	}
	return s, nil
}

func writeReasonProps(dst []byte, t Type, code byte, p *Properties, s sizes) []byte {
	dst = appendHeader(dst, byte(t)<<4, s.rl)
	if s.rl > 0 {
		dst = append(dst, code)
	}
	if s.props > 0 {
		dst = p.appendTo(dst, s.props)
	}
	return dst
}

func (p *Disconnect) decode(v byte, body []byte) error {
	if v < Version5 {
		// Remaining length 0 (3.1.1 §3.14.1).
		if len(body) != 0 {
			return malformed("remaining length not 0", "§3.14.1")
		}
		return nil
	}
	return decodeReasonProps(v, body, DISCONNECT, &p.ReasonCode, &p.Properties, disconnectReason, "MQTT-3.14.2-1")
}

func (p *Disconnect) size(v byte) (sizes, error) {
	if p == nil {
		return sizes{}, invalid(DISCONNECT, "nil packet")
	}
	if v < Version5 {
		return sizes{}, nil
	}
	if !disconnectReason(p.ReasonCode) {
		return sizes{}, invalid(DISCONNECT, fmt.Sprintf("reason code 0x%02X", p.ReasonCode))
	}
	return sizeReasonProps(DISCONNECT, p.ReasonCode, &p.Properties)
}

func (p *Disconnect) write(dst []byte, _ byte, s sizes) []byte {
	return writeReasonProps(dst, DISCONNECT, p.ReasonCode, &p.Properties, s)
}
