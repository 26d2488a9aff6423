package packet

import (
	"unicode/utf8"
	"unsafe"
)

// The data representations of MQTT 5.0 section 1.5 (3.1.1 section 1.5):
// bytes, two and four byte big-endian integers, variable byte integers,
// length-prefixed binary data and UTF-8 strings.

// VarIntSize returns the length in bytes (1 to 4) of the variable byte
// integer encoding of n, for 0 <= n <= MaxRemainingLength.
func VarIntSize(n int) int {
	switch {
	case n < 1<<7:
		return 1
	case n < 1<<14:
		return 2
	case n < 1<<21:
		return 3
	}
	return 4
}

// AppendVarInt appends n as a variable byte integer, seven bits a byte,
// least significant first, in the fewest bytes [MQTT-1.5.5-1]. n must be
// within 0..MaxRemainingLength.
func AppendVarInt(dst []byte, n int) []byte {
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	return append(dst, byte(n))
}

func appendU16(b []byte, v uint16) []byte { return append(b, byte(v>>8), byte(v)) }

func appendU32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// appendString appends a two byte length and s; the caller has checked that
// len(s) <= 65535.
func appendString(b []byte, s string) []byte {
	b = appendU16(b, uint16(len(s)))
	return append(b, s...)
}

func appendBinary(b []byte, s []byte) []byte {
	b = appendU16(b, uint16(len(s)))
	return append(b, s...)
}

// fieldSize is the encoded size of a length-prefixed string or binary field
// of n bytes, or an error if n does not fit the two byte length.
func fieldSize(t Type, n int, what string) (int, error) {
	if n > 65535 {
		return 0, invalid(t, what+" longer than 65535 bytes")
	}
	return 2 + n, nil
}

// bytesString returns the bytes of b as a string without copying. Decoded
// packets alias their body, which is never modified afterwards (see the
// package documentation), so the string stays immutable.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// validUTF8 reports whether b is a UTF-8 Encoded String as MQTT defines it:
// well-formed UTF-8 without surrogates [MQTT-1.5.4-1] and without U+0000
// [MQTT-1.5.4-2] (3.1.1: [MQTT-1.5.3-1] [MQTT-1.5.3-2]). Topics are mostly
// ASCII, so that is checked a byte at a time before falling back to
// utf8.Valid, which rejects surrogates and overlong forms.
func validUTF8(b []byte) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == 0 {
			return false
		}
		if c >= utf8.RuneSelf {
			rest := b[i:]
			if !utf8.Valid(rest) {
				return false
			}
			for _, c := range rest {
				if c == 0 {
					return false
				}
			}
			return true
		}
	}
	return true
}

// decoder reads the fields of one packet body front to back. Every read
// checks the bytes are there: a packet whose fields run past its remaining
// length is malformed.
type decoder struct {
	b []byte
	v byte // protocol level, for the statement numbers in errors
}

func truncated(what string) error {
	return malformed(what+" runs past the end of the packet", "")
}

func (d *decoder) byte(what string) (byte, error) {
	if len(d.b) < 1 {
		return 0, truncated(what)
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c, nil
}

func (d *decoder) u16(what string) (uint16, error) {
	if len(d.b) < 2 {
		return 0, truncated(what)
	}
	v := uint16(d.b[0])<<8 | uint16(d.b[1])
	d.b = d.b[2:]
	return v, nil
}

func (d *decoder) u32(what string) (uint32, error) {
	if len(d.b) < 4 {
		return 0, truncated(what)
	}
	v := uint32(d.b[0])<<24 | uint32(d.b[1])<<16 | uint32(d.b[2])<<8 | uint32(d.b[3])
	d.b = d.b[4:]
	return v, nil
}

// packetID reads a packet identifier, which must not be 0 [MQTT-2.2.1-3]
// (3.1.1: [MQTT-2.3.1-1]).
func (d *decoder) packetID() (uint16, error) {
	id, err := d.u16("packet identifier")
	if err == nil && id == 0 {
		err = protocolErr("packet identifier 0", rule(d.v, "MQTT-2.3.1-1", "MQTT-2.2.1-3"))
	}
	return id, err
}

func (d *decoder) varInt(what string) (int, error) {
	v, n, err := readVarInt(d.b, what)
	if err != nil {
		return 0, err
	}
	d.b = d.b[n:]
	return v, nil
}

// readVarInt decodes a variable byte integer of at most four bytes
// [MQTT-1.5.5] in its shortest form [MQTT-1.5.5-1] from the front of b and
// returns it and its length.
func readVarInt(b []byte, what string) (v, n int, err error) {
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, truncated(what)
		}
		c := b[i]
		v |= int(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, 0, malformed(what+" not in its shortest encoding", "MQTT-1.5.5-1")
			}
			return v, i + 1, nil
		}
	}
	return 0, 0, malformed(what+" longer than four bytes", "§1.5.5")
}

// binary reads two byte length-prefixed binary data, aliasing the body; an
// empty field is nil.
func (d *decoder) binary(what string) ([]byte, error) {
	n, err := d.u16(what + " length")
	if err != nil {
		return nil, err
	}
	if int(n) > len(d.b) {
		return nil, truncated(what)
	}
	if n == 0 {
		return nil, nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s, nil
}

// str reads a UTF-8 Encoded String, aliasing the body.
func (d *decoder) str(what string) (string, error) {
	b, err := d.binary(what)
	if err != nil {
		return "", err
	}
	if !validUTF8(b) {
		return "", d.badUTF8(what)
	}
	return bytesString(b), nil
}

func (d *decoder) badUTF8(what string) error {
	return malformed(what+" is not well-formed UTF-8 or contains U+0000",
		rule(d.v, "MQTT-1.5.3-1] [MQTT-1.5.3-2", "MQTT-1.5.4-1] [MQTT-1.5.4-2"))
}

// end reports bytes left over after a packet's last field: the remaining
// length said more than the packet holds.
func (d *decoder) end() error {
	if len(d.b) != 0 {
		return malformed("unexpected bytes after the packet's last field", "")
	}
	return nil
}

// rest returns the unread bytes (a payload or a list of reason codes),
// aliasing the body; nil when there are none.
func (d *decoder) rest() []byte {
	if len(d.b) == 0 {
		return nil
	}
	r := d.b
	d.b = nil
	return r
}
