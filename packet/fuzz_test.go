package packet_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/mastmq/mast/packet"
)

// fuzzMax is the maximum packet size the fuzz targets read with, so that
// no input can make Read allocate more than that for a body.
const fuzzMax = 1 << 16

func addSeeds(f *testing.F, add func(raw []byte)) {
	for _, fx := range fixtures {
		add(fx.raw)
	}
	for _, fx := range invalidFixtures {
		add(fx.raw)
	}
	// A session's worth of packets in one stream.
	var stream []byte
	for _, fx := range fixtures {
		if fx.v == 5 {
			stream = append(stream, fx.raw...)
		}
	}
	add(stream)
}

// FuzzRead feeds arbitrary bytes to Read at every level. Read must not
// panic, must fail only with a documented error, and what it decodes must
// encode again to a packet that decodes the same.
func FuzzRead(f *testing.F) {
	addSeeds(f, func(raw []byte) { f.Add(raw) })
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []byte{0, 3, 4, 5} {
			r := bytes.NewReader(data)
			p, err := packet.Read(r, v, fuzzMax)
			checkResult(t, v, p, err)
			if err == nil {
				checkReencode(t, v, p, len(data)-r.Len())
			}
		}
	})
}

// FuzzReadSplit reads a stream of packets whole and again through readers
// that return it in two pieces split at an arbitrary point (as the NATS
// server's fuzz tests do), with and without a small bufio.Reader on top:
// the packets and the final error must be the same.
func FuzzReadSplit(f *testing.F) {
	addSeeds(f, func(raw []byte) { f.Add(raw, uint16(len(raw)/2)) })
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		at := int(split) % (len(data) + 1)
		for _, v := range []byte{0, 3, 4, 5} {
			want, wantErr := readStream(bytes.NewReader(data), v)
			for name, r := range map[string]io.Reader{
				"split":       &splitReader{a: data[:at], b: data[at:]},
				"bufio split": bufio.NewReaderSize(&splitReader{a: data[:at], b: data[at:]}, 16),
			} {
				got, gotErr := readStream(r, v)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("level %d, %s at %d: packets differ:\n got %#v\nwant %#v", v, name, at, got, want)
				}
				if errorClass(gotErr) != errorClass(wantErr) {
					t.Fatalf("level %d, %s at %d: error %v, read whole %v", v, name, at, gotErr, wantErr)
				}
			}
		}
	})
}

// FuzzDecode feeds arbitrary fixed headers and bodies to Decode.
func FuzzDecode(f *testing.F) {
	addSeeds(f, func(raw []byte) {
		if len(raw) < 2 {
			return
		}
		n := 1 // skip the remaining length to reach the body
		for n < len(raw) && n < 5 && raw[n]&0x80 != 0 {
			n++
		}
		if n+1 <= len(raw) {
			f.Add(raw[0], byte(5), raw[n+1:])
		}
	})
	f.Fuzz(func(t *testing.T, first, version byte, body []byte) {
		v := []byte{0, 3, 4, 5, 6}[int(version)%5]
		h := packet.FixedHeader{Type: packet.Type(first >> 4), Flags: first & 0xF, Remaining: len(body)}
		p, err := packet.Decode(v, h, body)
		checkResult(t, v, p, err)
		if err == nil {
			checkReencode(t, v, p, 1+packet.VarIntSize(len(body))+len(body))
		}
	})
}

// checkResult checks that a failed Read or Decode returns a documented
// error, and a packet only for CONNECT.
func checkResult(t *testing.T, v byte, p packet.Packet, err error) {
	t.Helper()
	if err == nil {
		if p == nil {
			t.Fatalf("level %d: nil packet and nil error", v)
		}
		return
	}
	if errorClass(err) == "other" {
		t.Fatalf("level %d: undocumented error %v", v, err)
	}
	if p != nil {
		c, ok := p.(*packet.Connect)
		if !ok || c == nil {
			t.Fatalf("level %d: %#v returned with error %v", v, p, err)
		}
	}
}

// checkReencode encodes a decoded packet again, at the level it was
// decoded at, and decodes that: the packet must survive, in no more bytes
// than it came in.
func checkReencode(t *testing.T, v byte, p packet.Packet, n int) {
	t.Helper()
	ev := v
	if c, ok := p.(*packet.Connect); ok {
		ev = c.Version
	}
	raw, err := packet.Append(nil, ev, p)
	if err != nil {
		t.Fatalf("level %d: decoded %#v but cannot encode it: %v", v, p, err)
	}
	if len(raw) > n {
		t.Fatalf("level %d: %d bytes decoded to %#v, which encodes in %d", v, n, p, len(raw))
	}
	p2, err := packet.Read(bytes.NewReader(raw), v, 0)
	if err != nil {
		t.Fatalf("level %d: re-encoded % X does not decode: %v", v, raw, err)
	}
	if !reflect.DeepEqual(p, p2) {
		t.Fatalf("level %d: re-encoded packet differs:\n got %#v\nwant %#v", v, p2, p)
	}
}

// errorClass names the kind of error Read may return.
func errorClass(err error) string {
	switch {
	case err == nil:
		return "nil"
	case err == io.EOF:
		return "EOF"
	case err == io.ErrUnexpectedEOF:
		return "unexpected EOF"
	case errors.Is(err, packet.ErrUnsupportedVersion):
		return "unsupported version"
	case errors.Is(err, packet.ErrTooLarge):
		return "too large"
	case errors.Is(err, packet.ErrProtocol):
		return "protocol"
	case errors.Is(err, packet.ErrMalformed):
		return "malformed"
	}
	return "other"
}

// readStream reads packets until an error as a server would: starting at
// level v and switching to the level of a CONNECT when one arrives.
func readStream(r io.Reader, v byte) ([]packet.Packet, error) {
	var ps []packet.Packet
	for range 1000 {
		p, err := packet.Read(r, v, fuzzMax)
		if err != nil {
			return ps, err
		}
		ps = append(ps, p)
		if c, ok := p.(*packet.Connect); ok {
			v = c.Version
		}
	}
	return ps, nil
}

// splitReader returns a, then b, each in as few reads as the caller's
// buffer allows; it has no ReadByte, so Read takes its slow path.
type splitReader struct{ a, b []byte }

func (s *splitReader) Read(p []byte) (int, error) {
	src := &s.a
	if len(s.a) == 0 {
		src = &s.b
	}
	if len(*src) == 0 {
		return 0, io.EOF
	}
	n := copy(p, *src)
	*src = (*src)[n:]
	return n, nil
}
