package packet

import (
	"fmt"
	"io"
	"slices"
)

// ReadFixedHeader reads a fixed header: the type and flags byte and the
// remaining length (a variable byte integer of at most four bytes
// [MQTT-1.5.5-1]). It checks the flags reserved for each type
// [MQTT-2.2.2-1] [MQTT-2.2.2-2] with the rules of 3.1.1 and 5.0 (Read also
// knows the leniency of 3.1). An EOF before the first byte is returned as
// io.EOF, one inside the header as io.ErrUnexpectedEOF.
func ReadFixedHeader(r io.ByteReader) (FixedHeader, error) {
	h, err := readHeader(r)
	if err != nil {
		return FixedHeader{}, err
	}
	if err := checkHeader(0, h); err != nil {
		return FixedHeader{}, withType(err, h.Type)
	}
	return h, nil
}

// Read reads one whole packet from r. When maxSize > 0 a packet whose total
// size (fixed header included) exceeds it fails with ErrTooLarge before its
// body is allocated. version is the connection's protocol level (0 before
// CONNECT, when only CONNECT is accepted).
//
// Read takes one byte at a time from an io.ByteReader (a *bufio.Reader, as
// a server should pass) and otherwise wraps r at the cost of one small
// allocation. The body is read into a fresh buffer that the packet then
// aliases; a large body is grown as its bytes arrive rather than allocated
// at once, so a peer that announces a large packet and sends nothing
// commits little memory.
//
// Errors: io.EOF when r ends between packets; io.ErrUnexpectedEOF when it
// ends inside one; an error wrapping ErrTooLarge, ErrMalformed or
// ErrProtocol (see Decode); or r's own error. Only after an error from
// decoding a body Read has consumed does the stream stand at the next
// packet. ErrTooLarge, and a fixed header refused for its flags or for its
// type at this version, come before the body is read: the stream is left
// inside the packet and the connection must be closed (a caller that wants
// to drain the body first can use ReadFixedHeader, then discard
// FixedHeader.Remaining bytes).
func Read(r io.Reader, version byte, maxSize int) (Packet, error) {
	var h FixedHeader
	var err error
	if br, ok := r.(io.ByteReader); ok {
		h, err = readHeader(br)
	} else {
		h, err = readHeader(&byteReader{r: r})
	}
	if err != nil {
		return nil, err
	}
	if err := checkHeader(version, h); err != nil {
		return nil, withType(err, h.Type)
	}
	// Refuse a packet that cannot be accepted here before reading its body.
	if err := checkType(version, h.Type); err != nil {
		return nil, err
	}
	if size := 1 + VarIntSize(h.Remaining) + h.Remaining; maxSize > 0 && size > maxSize {
		return nil, &codecError{class: ErrTooLarge, typ: h.Type,
			msg: fmt.Sprintf("%d bytes, more than the maximum of %d", size, maxSize)}
	}
	body, err := readBody(r, h.Remaining)
	if err != nil {
		return nil, err
	}
	return Decode(version, h, body)
}

// byteReader gives an io.Reader without ReadByte one, reading exactly one
// byte at a time so that nothing past the header is consumed.
type byteReader struct {
	r io.Reader
	b [1]byte
}

func (br *byteReader) ReadByte() (byte, error) {
	if _, err := io.ReadFull(br.r, br.b[:]); err != nil {
		return 0, err
	}
	return br.b[0], nil
}

// readChunk is the largest body allocated before any of it has arrived.
const readChunk = 64 << 10

// readBody reads an n-byte body. Up to readChunk it allocates exactly n;
// beyond, it doubles a buffer as it fills, so that memory follows the bytes
// actually received (at most twice as much) rather than the length the peer
// announced.
func readBody(r io.Reader, n int) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if n <= readChunk {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, unexpectedEOF(err)
		}
		return b, nil
	}
	b := make([]byte, 0, readChunk)
	for {
		m, err := io.ReadFull(r, b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		if len(b) == n {
			return b, nil
		}
		nb := make([]byte, len(b), min(2*cap(b), n))
		copy(nb, b)
		b = nb
	}
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Decode decodes a packet body. The result aliases body.
//
// version is the connection's protocol level: 0 before CONNECT, when any
// other packet is a Protocol Error [MQTT-3.1.0-1]. A CONNECT is decoded by
// the level it carries whatever version is; refusing a second CONNECT
// [MQTT-3.1.0-2] is the session's business. When a CONNECT fails after its
// protocol name and level were read, Decode returns a *Connect holding just
// those two fields beside the error, so that a server can answer in the
// client's version: errors.Is(err, ErrUnsupportedVersion) calls for CONNACK
// 0x01 (levels 3, 4) or 0x84 (level 5), other errors for 0x81 or 0x82 (5.0).
// For any other packet type the Packet is nil when err is not.
//
// Every error wraps ErrMalformed or ErrProtocol and names the normative
// statement (or, where the standard numbers none, the section) broken.
// Decode checks what the wire format fixes; what depends on session state
// (topic alias maximum, receive maximum, a client sending server-only
// properties) or on topic syntax (package topic) is left to the caller.
func Decode(version byte, h FixedHeader, body []byte) (Packet, error) {
	if h.Remaining != len(body) {
		return nil, &codecError{class: ErrMalformed, typ: h.Type,
			msg: fmt.Sprintf("remaining length %d but %d bytes of body", h.Remaining, len(body))}
	}
	if err := checkHeader(version, h); err != nil {
		return nil, withType(err, h.Type)
	}
	if err := checkType(version, h.Type); err != nil {
		return nil, err
	}
	var err error
	var p Packet
	switch h.Type {
	case CONNECT:
		c, err := decodeConnect(body)
		if err != nil {
			err = withType(err, CONNECT)
			if c == nil {
				return nil, err
			}
			return c, err
		}
		return c, nil
	case CONNACK:
		x := new(Connack)
		err, p = x.decode(version, body), x
	case PUBLISH:
		x := new(Publish)
		err, p = x.decode(version, h.Flags, body), x
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		x := &Ack{Kind: h.Type}
		err, p = x.decode(version, body), x
	case SUBSCRIBE:
		x := new(Subscribe)
		err, p = x.decode(version, body), x
	case SUBACK:
		x := new(Suback)
		err, p = x.decode(version, body), x
	case UNSUBSCRIBE:
		x := new(Unsubscribe)
		err, p = x.decode(version, body), x
	case UNSUBACK:
		x := new(Unsuback)
		err, p = x.decode(version, body), x
	case PINGREQ:
		err, p = decodeEmpty(body, "§3.12.1"), &Pingreq{}
	case PINGRESP:
		err, p = decodeEmpty(body, "§3.13.1"), &Pingresp{}
	case DISCONNECT:
		x := new(Disconnect)
		err, p = x.decode(version, body), x
	case AUTH:
		x := new(Auth)
		err, p = x.decode(version, body), x
	}
	if err != nil {
		return nil, withType(err, h.Type)
	}
	return p, nil
}

// sizes are what an encoder learns while validating a packet: its
// remaining length and the lengths of its property blocks.
type sizes struct {
	rl        int // remaining length
	props     int // property block, without its length prefix
	willProps int // CONNECT's will properties
}

// encoder is implemented by every packet type. size validates p for
// protocol level v and measures it; write appends the packet, trusting
// size's result.
type encoder interface {
	size(v byte) (sizes, error)
	write(dst []byte, v byte, s sizes) []byte
}

func sizeOf(version byte, p Packet) (encoder, sizes, error) {
	e, ok := p.(encoder)
	if !ok {
		return nil, sizes{}, invalid(0, fmt.Sprintf("cannot encode %T", p))
	}
	s, err := e.size(version)
	if err != nil {
		return nil, s, err // a nil pointer ends here, before p.Type
	}
	s, err = checkSizes(p.Type(), version, s, nil)
	return e, s, err
}

// checkSizes completes an encoder's size: the protocol level must be one
// this package writes, the remaining length must fit its four bytes.
func checkSizes(t Type, version byte, s sizes, err error) (sizes, error) {
	if version < Version31 || version > Version5 {
		return s, invalid(t, fmt.Sprintf("protocol level %d", version))
	}
	if err != nil {
		return s, err
	}
	if s.rl > MaxRemainingLength {
		return s, invalid(t, fmt.Sprintf("remaining length %d exceeds %d", s.rl, MaxRemainingLength))
	}
	return s, nil
}

// Append encodes p for protocol level version and appends it to dst.
//
// At levels 3 and 4 properties and other 5.0-only fields are not written.
// Append refuses (with an error wrapping ErrInvalid, dst unchanged) what
// cannot be encoded or what a receiver would have to reject: a field too
// long for its length prefix, a packet over MaxRemainingLength, QoS 3,
// packet identifier 0, a property the packet type does not carry or an
// out-of-range property value, a reason code the packet type does not
// define, AUTH below level 5. It does not check UTF-8, which costs a pass
// over every string on the hot path: strings come from decoded packets
// (already checked) or from the program.
//
// Append allocates nothing when dst has room for the packet.
func Append(dst []byte, version byte, p Packet) ([]byte, error) {
	e, s, err := sizeOf(version, p)
	if err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, 1+VarIntSize(s.rl)+s.rl)
	return e.write(dst, version, s), nil
}

// Size returns the number of bytes Append would write for p at protocol
// level version, fixed header included; the error is the one Append would
// return. A server uses it to respect a client's Maximum Packet Size
// [MQTT-3.1.2-24] without encoding first.
func Size(version byte, p Packet) (int, error) {
	_, s, err := sizeOf(version, p)
	if err != nil {
		return 0, err
	}
	return 1 + VarIntSize(s.rl) + s.rl, nil
}

// appendHeader appends a fixed header.
func appendHeader(dst []byte, first byte, rl int) []byte {
	return AppendVarInt(append(dst, first), rl)
}
