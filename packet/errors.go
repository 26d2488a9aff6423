package packet

import (
	"errors"
	"fmt"
)

// ErrUnsupportedVersion is wrapped by the error Decode and Read return for a
// CONNECT whose protocol level is not one this package speaks, or does not
// belong with its protocol name ("MQIsdp" goes with 3, "MQTT" with 4 or 5)
// [MQTT-3.1.2-2]. It wraps ErrProtocol. The *Connect is returned beside the
// error with ProtocolName and Version set, so that a server can answer with
// CONNACK 0x01 (levels 3 and 4, ConnRefusedVersion) or 0x84 (level 5,
// UnsupportedProtocolVersion) before closing.
//
// A protocol name other than "MQTT" or "MQIsdp" is not this error but a
// plain ErrProtocol [MQTT-3.1.2-1]: the peer is not speaking MQTT, and the
// server closes without a CONNACK.
//
// A client reading at level 5 gets this error too when the server answers
// with a 3.1.1 CONNACK refusing the level (return code 1), its cue to
// retry at level 4.
var ErrUnsupportedVersion = fmt.Errorf("unsupported protocol version: %w", ErrProtocol)

// ErrInvalid is wrapped by the errors of Append and Size: the packet holds a
// value that cannot be encoded, or whose encoding the receiver would have to
// reject (a string over 65535 bytes, QoS 3, packet identifier 0, a property
// the packet type does not carry, AUTH below level 5 ...).
var ErrInvalid = errors.New("invalid packet")

// ReasonCodeOf returns the v5 reason code that answers a decoding error:
// 0x84 Unsupported Protocol Version, 0x95 Packet Too Large, 0x82 Protocol
// Error, 0x81 Malformed Packet, and 0x80 Unspecified Error for anything else
// (I/O errors included).
func ReasonCodeOf(err error) byte {
	switch {
	case errors.Is(err, ErrUnsupportedVersion):
		return UnsupportedProtocolVersion
	case errors.Is(err, ErrTooLarge):
		return PacketTooLarge
	case errors.Is(err, ErrProtocol):
		return ProtocolError
	case errors.Is(err, ErrMalformed):
		return MalformedPacket
	}
	return UnspecifiedError
}

// codecError is every error this package makes: a class (one of the
// exported sentinels) it unwraps to, the packet type when known, what was
// wrong, and the normative statement or section it breaks.
type codecError struct {
	class error
	typ   Type
	msg   string
	rule  string // "MQTT-3.1.2-3", or "§3.8.3.1" where the spec gives no number
}

func (e *codecError) Error() string {
	s := "packet: "
	if e.typ != 0 {
		s += e.typ.String() + ": "
	}
	s += e.class.Error() + ": " + e.msg
	if e.rule != "" {
		s += " [" + e.rule + "]"
	}
	return s
}

func (e *codecError) Unwrap() error { return e.class }

func malformed(msg, rule string) error {
	return &codecError{class: ErrMalformed, msg: msg, rule: rule}
}

func protocolErr(msg, rule string) error {
	return &codecError{class: ErrProtocol, msg: msg, rule: rule}
}

func invalid(t Type, msg string) error {
	return &codecError{class: ErrInvalid, typ: t, msg: msg}
}

// withType records the packet type on an error made before it was known.
func withType(err error, t Type) error {
	if e, ok := err.(*codecError); ok && e.typ == 0 {
		e.typ = t
	}
	return err
}

// rule picks the statement number of the standard in use: MQTT 3.1.1 (which
// also stands for 3.1, whose text has no numbers) or MQTT 5.0.
func rule(version byte, v311, v5 string) string {
	if version == Version5 {
		return v5
	}
	return v311
}
