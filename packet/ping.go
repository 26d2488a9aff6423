package packet

// PINGREQ and PINGRESP: MQTT 5.0 §3.12-3.13, 3.1.1 §3.12-3.13. Nothing but
// a fixed header with remaining length 0.

func decodeEmpty(body []byte, section string) error {
	if len(body) != 0 {
		return malformed("remaining length not 0", section)
	}
	return nil
}

func (*Pingreq) size(byte) (sizes, error) { return sizes{}, nil }

func (*Pingreq) write(dst []byte, _ byte, _ sizes) []byte {
	return append(dst, byte(PINGREQ)<<4, 0)
}

func (*Pingresp) size(byte) (sizes, error) { return sizes{}, nil }

func (*Pingresp) write(dst []byte, _ byte, _ sizes) []byte {
	return append(dst, byte(PINGRESP)<<4, 0)
}
