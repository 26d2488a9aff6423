package packet

import (
	"fmt"
	"io"
)

// ByteReader is what Reader reads from: a *bufio.Reader, or a reader of
// the caller's that buffers its own way.
type ByteReader interface {
	io.Reader
	io.ByteReader
}

// Reader reads packets from a buffered stream for one connection. It
// reuses one Publish value for every PUBLISH it returns, which is valid
// only until the next Read; other packets are new values. Each body is a
// fresh allocation, so strings and payloads taken from a packet stay valid.
type Reader struct {
	R ByteReader
	// Version is the connection's protocol level, 0 before CONNECT.
	Version byte
	// MaxSize, when positive, bounds a packet's total size; a larger one
	// fails with ErrTooLarge before its body is allocated.
	MaxSize int
	pub     Publish
}

// Read reads and decodes the next packet, as the function Read does.
func (r *Reader) Read() (Packet, error) {
	h, err := readHeader(r.R)
	if err != nil {
		return nil, err
	}
	if err := checkHeader(r.Version, h); err != nil {
		return nil, withType(err, h.Type)
	}
	if err := checkType(r.Version, h.Type); err != nil {
		return nil, err
	}
	if size := 1 + VarIntSize(h.Remaining) + h.Remaining; r.MaxSize > 0 && size > r.MaxSize {
		return nil, &codecError{class: ErrTooLarge, typ: h.Type,
			msg: fmt.Sprintf("%d bytes, more than the maximum of %d", size, r.MaxSize)}
	}
	body, err := readBody(r.R, h.Remaining)
	if err != nil {
		return nil, err
	}
	if h.Type != PUBLISH {
		return Decode(r.Version, h, body)
	}
	r.pub = Publish{}
	if err := r.pub.decode(r.Version, h.Flags, body); err != nil {
		return nil, withType(err, PUBLISH)
	}
	return &r.pub, nil
}
