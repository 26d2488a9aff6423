package packet

import (
	"fmt"
	"io"
)

// readHeader reads the first byte and the remaining length of a fixed
// header, leaving the flags to checkHeader. An EOF before the first byte is
// io.EOF (the peer closed between packets); inside the header it is
// io.ErrUnexpectedEOF.
func readHeader(r io.ByteReader) (FixedHeader, error) {
	b, err := r.ReadByte()
	if err != nil {
		return FixedHeader{}, err
	}
	n := 0
	for i := 0; ; i++ {
		if i == 4 {
			// Four bytes express up to MaxRemainingLength; a fifth is
			// never valid [MQTT 5.0 §1.5.5, 3.1.1 §2.2.3].
			return FixedHeader{}, malformed("remaining length longer than four bytes", "§1.5.5")
		}
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return FixedHeader{}, err
		}
		n |= int(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				return FixedHeader{}, malformed("remaining length not in its shortest encoding", "MQTT-1.5.5-1")
			}
			break
		}
	}
	return FixedHeader{Type: Type(b >> 4), Flags: b & 0x0f, Remaining: n}, nil
}

// checkHeader checks the packet type and the flag bits of the fixed header
// for protocol level version (0 when not yet known: the strict rules of
// 3.1.1 and 5.0 apply).
func checkHeader(version byte, h FixedHeader) error {
	switch {
	case h.Type == 0:
		return malformed("reserved packet type 0", rule(version, "§2.2.1", "§2.1.2"))
	case h.Type > AUTH: // only from a caller's FixedHeader: the wire has four bits
		return malformed(fmt.Sprintf("packet type %d", h.Type), "")
	}
	switch h.Type {
	case PUBLISH:
		qos := h.Flags >> 1 & 3
		if qos == 3 {
			return malformed("PUBLISH with QoS 3", "MQTT-3.3.1-4")
		}
		if h.Flags&0x8 != 0 && qos == 0 {
			return malformed("PUBLISH with DUP set and QoS 0", "MQTT-3.3.1-2")
		}
		return nil
	case PUBREL, SUBSCRIBE, UNSUBSCRIBE:
		f := h.Flags
		if version == Version31 {
			// MQTT 3.1 gave these packets a QoS of 1 and let a retry
			// set DUP; Mosquitto accepts that from 3.1 clients too.
			f &^= 0x8
		}
		if f == 0x2 {
			return nil
		}
	default:
		if h.Flags == 0 {
			return nil
		}
	}
	// Reserved flag bits must hold the listed values [MQTT-2.2.2-1]; any
	// other value makes the packet malformed [MQTT-2.2.2-2] (5.0:
	// [MQTT-2.1.3-1]).
	return &codecError{class: ErrMalformed, typ: h.Type,
		msg:  fmt.Sprintf("reserved flag bits 0x%X", h.Flags),
		rule: rule(version, "MQTT-2.2.2-2", "MQTT-2.1.3-1")}
}

// checkType checks that a packet of type t can arrive on a connection at
// protocol level version; 0 means before CONNECT, when only CONNECT can.
func checkType(version byte, t Type) error {
	switch {
	case t == CONNECT:
		// The level comes from the packet itself. A second CONNECT
		// [MQTT-3.1.0-2] is for the session to refuse.
		return nil
	case version == 0:
		return &codecError{class: ErrProtocol, typ: t,
			msg: "first packet is not CONNECT", rule: "MQTT-3.1.0-1"}
	case version < Version31 || version > Version5:
		return &codecError{class: ErrUnsupportedVersion, typ: t,
			msg: fmt.Sprintf("protocol level %d", version)}
	case t == AUTH && version < Version5:
		// Type 15 is reserved before MQTT 5.0 [3.1.1 §2.2.1].
		return &codecError{class: ErrMalformed, typ: t,
			msg: "reserved packet type 15 before MQTT 5.0", rule: "§2.2.1"}
	}
	return nil
}
