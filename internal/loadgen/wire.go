package loadgen

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/mastmq/mast/packet"
)

// The hot path speaks MQTT by hand: a PUBLISH is a template whose packet
// identifier and payload fields are rewritten in place, and incoming packets
// are sliced out of the bufio.Reader's buffer without being decoded into
// packet values. Everything else (CONNECT, SUBSCRIBE, CONNACK, SUBACK) goes
// through package packet, where allocation does not matter.

var errMalformed = errors.New("malformed packet from broker")

// appendPublish appends a PUBLISH. topic is a byte slice so that callers
// building a topic per message (the retained scenario) need no string.
// v5 packets carry an empty property block.
func appendPublish(dst []byte, version, qos byte, retain bool, topic []byte, id uint16, payload []byte) []byte {
	first := byte(packet.PUBLISH)<<4 | qos<<1
	if retain {
		first |= 1
	}
	rl := 2 + len(topic) + len(payload)
	if qos > 0 {
		rl += 2
	}
	if version == packet.Version5 {
		rl++ // property length 0
	}
	dst = packet.AppendVarInt(append(dst, first), rl)
	dst = append(dst, byte(len(topic)>>8), byte(len(topic)))
	dst = append(dst, topic...)
	if qos > 0 {
		dst = append(dst, byte(id>>8), byte(id))
	}
	if version == packet.Version5 {
		dst = append(dst, 0)
	}
	return append(dst, payload...)
}

// appendAck appends PUBACK, PUBREC, PUBREL or PUBCOMP with reason code 0,
// in the short form that every protocol level accepts.
func appendAck(dst []byte, t packet.Type, id uint16) []byte {
	first := byte(t) << 4
	if t == packet.PUBREL {
		first |= 0x02 // [MQTT-3.6.1-1]
	}
	return append(dst, first, 2, byte(id>>8), byte(id))
}

// template is one publisher's PUBLISH, encoded once; send rewrites the
// packet identifier and the payload's sequence number and time in place.
type template struct {
	buf    []byte
	idOff  int // offset of the packet identifier, -1 at QoS 0
	payOff int // offset of the payload
}

func newTemplate(version, qos byte, retain bool, topic string, payload []byte) template {
	buf := appendPublish(nil, version, qos, retain, []byte(topic), 1, payload)
	t := template{buf: buf, idOff: -1, payOff: len(buf) - len(payload)}
	if qos > 0 {
		t.idOff = len(buf) - len(payload) - 2
		if version == packet.Version5 {
			t.idOff--
		}
	}
	return t
}

// stamp writes the per-message fields and returns the packet bytes.
func (t *template) stamp(id uint16, seq uint64, nanos int64) []byte {
	if t.idOff >= 0 {
		t.buf[t.idOff] = byte(id >> 8)
		t.buf[t.idOff+1] = byte(id)
	}
	putSeqTime(t.buf[t.payOff:], seq, nanos)
	return t.buf
}

// reader reads packets from a broker without allocating: a body that fits
// in the bufio.Reader's buffer is returned as a slice of that buffer, valid
// until the next call.
type reader struct {
	br  *bufio.Reader
	big []byte // for bodies larger than br's buffer
	max int    // largest body accepted
	// filled reports whether the last packet needed bytes that were not
	// yet buffered: packets that were already buffered arrived no later,
	// so a receiver can share one timestamp among them.
	filled bool
}

// next reads one packet and returns its first byte and body.
func (r *reader) next() (byte, []byte, error) {
	avail := r.br.Buffered()
	first, err := r.br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, err := readVarInt(r.br)
	if err != nil {
		return 0, nil, err
	}
	if n > r.max {
		return 0, nil, fmt.Errorf("%w: %d-byte packet", errMalformed, n)
	}
	r.filled = 1+packet.VarIntSize(n)+n > avail
	if n <= r.br.Size() {
		body, err := r.br.Peek(n)
		if err != nil {
			return 0, nil, unexpected(err)
		}
		r.br.Discard(n)
		return first, body, nil
	}
	if cap(r.big) < n {
		r.big = make([]byte, n)
	}
	body := r.big[:n]
	if _, err := io.ReadFull(r.br, body); err != nil {
		return 0, nil, unexpected(err)
	}
	return first, body, nil
}

// buffered reports whether another packet's bytes have already arrived, so
// that replies can wait to be flushed together.
func (r *reader) buffered() bool { return r.br.Buffered() > 0 }

func readVarInt(br *bufio.Reader) (int, error) {
	n, shift := 0, 0
	for i := 0; i < 4; i++ {
		c, err := br.ReadByte()
		if err != nil {
			return 0, unexpected(err)
		}
		n |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			return n, nil
		}
		shift += 7
	}
	return 0, fmt.Errorf("%w: remaining length over four bytes", errMalformed)
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// publishView is a PUBLISH sliced out of its body.
type publishView struct {
	qos     byte
	retain  bool
	dup     bool
	id      uint16
	topic   []byte
	payload []byte
}

// parsePublish slices a PUBLISH body; first is the fixed header's first
// byte. Properties (v5) are skipped, not decoded.
func parsePublish(first byte, body []byte, version byte) (publishView, bool) {
	p := publishView{qos: first >> 1 & 3, retain: first&1 != 0, dup: first&8 != 0}
	if p.qos == 3 || len(body) < 2 {
		return p, false
	}
	tl := int(binary.BigEndian.Uint16(body))
	i := 2 + tl
	if len(body) < i {
		return p, false
	}
	p.topic = body[2:i]
	if p.qos > 0 {
		if len(body) < i+2 {
			return p, false
		}
		p.id = binary.BigEndian.Uint16(body[i:])
		i += 2
	}
	if version == packet.Version5 {
		pl, n, ok := varInt(body[i:])
		if !ok || len(body) < i+n+pl {
			return p, false
		}
		i += n + pl
	}
	p.payload = body[i:]
	return p, true
}

// parseAck returns the packet identifier of PUBACK, PUBREC, PUBREL or
// PUBCOMP, and the v5 reason code (0 when absent).
func parseAck(body []byte) (id uint16, reason byte, ok bool) {
	if len(body) < 2 {
		return 0, 0, false
	}
	id = binary.BigEndian.Uint16(body)
	if len(body) > 2 {
		reason = body[2]
	}
	return id, reason, true
}

// varInt decodes a variable byte integer from b.
func varInt(b []byte) (v, n int, ok bool) {
	shift := 0
	for n < len(b) && n < 4 {
		c := b[n]
		n++
		v |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, n, true
		}
		shift += 7
	}
	return 0, 0, false
}
