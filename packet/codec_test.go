package packet_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/mastmq/mast/packet"
)

// readVersions are the levels a fixture is read at: the connection's, and
// 0 for a CONNECT, which is read before the level is known.
func readVersions(f fixture) []byte {
	if f.pkt.Type() == packet.CONNECT {
		return []byte{0, f.v}
	}
	return []byte{f.v}
}

func TestDecodeFixtures(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			for _, v := range readVersions(f) {
				r := bytes.NewReader(f.raw)
				got, err := packet.Read(r, v, 0)
				if err != nil {
					t.Fatalf("Read at level %d: %v", v, err)
				}
				if !reflect.DeepEqual(got, f.pkt) {
					t.Fatalf("Read at level %d:\n got %#v\nwant %#v", v, got, f.pkt)
				}
				if r.Len() != 0 {
					t.Fatalf("Read left %d bytes", r.Len())
				}
			}
		})
	}
}

func TestAppendFixtures(t *testing.T) {
	for _, f := range fixtures {
		if f.decodeOnly {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			prefix := []byte("prefix")
			got, err := packet.Append(prefix, f.v, f.pkt)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:len(prefix)], []byte("prefix")) || !bytes.Equal(got[len(prefix):], f.raw) {
				t.Fatalf("Append:\n got % X\nwant % X", got[len(prefix):], f.raw)
			}
			n, err := packet.Size(f.v, f.pkt)
			if err != nil || n != len(f.raw) {
				t.Fatalf("Size = %d, %v; want %d", n, err, len(f.raw))
			}
		})
	}
}

// TestInvalidFixtures reads every invalid packet and checks the error
// class and the rule it cites.
func TestInvalidFixtures(t *testing.T) {
	for _, f := range invalidFixtures {
		t.Run(f.name, func(t *testing.T) {
			p, err := packet.Read(bytes.NewReader(f.raw), f.v, f.max)
			if err == nil {
				t.Fatalf("Read = %#v, want an error", p)
			}
			if !errors.Is(err, f.err) {
				t.Fatalf("Read error %q is not %q", err, f.err)
			}
			if f.rule != "" && !strings.Contains(err.Error(), f.rule) {
				t.Fatalf("Read error %q does not cite %s", err, f.rule)
			}
			if _, isConnect := p.(*packet.Connect); p != nil && !isConnect {
				t.Fatalf("Read returned %#v beside an error", p)
			}
		})
	}
}

// TestErrorClassesDistinct checks that each decode error wraps exactly one
// of ErrMalformed, ErrProtocol and ErrTooLarge, so that a server's choice
// of reason code is never ambiguous.
func TestErrorClassesDistinct(t *testing.T) {
	for _, f := range invalidFixtures {
		_, err := packet.Read(bytes.NewReader(f.raw), f.v, f.max)
		n := 0
		for _, class := range []error{packet.ErrMalformed, packet.ErrProtocol, packet.ErrTooLarge} {
			if errors.Is(err, class) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %q wraps %d classes", f.name, err, n)
		}
	}
}

func TestUnsupportedVersion(t *testing.T) {
	for _, tc := range []struct {
		raw     []byte
		name    string
		version byte
	}{
		{connectLevel("MQTT", 6), "MQTT", 6},
		{connectLevel("MQTT", 3), "MQTT", 3},
		{connectLevel("MQIsdp", 4), "MQIsdp", 4},
		{connectLevel("MQTT", 0x84), "MQTT", 0x84}, // Mosquitto's bridge bit
	} {
		p, err := packet.Read(bytes.NewReader(tc.raw), 0, 0)
		if !errors.Is(err, packet.ErrUnsupportedVersion) || !errors.Is(err, packet.ErrProtocol) {
			t.Fatalf("level %d: error %v, want ErrUnsupportedVersion wrapping ErrProtocol", tc.version, err)
		}
		c, ok := p.(*packet.Connect)
		if !ok || c.Version != tc.version || c.ProtocolName != tc.name {
			t.Fatalf("level %d: packet %#v, want a *Connect with name and level", tc.version, p)
		}
		if got := packet.ReasonCodeOf(err); got != packet.UnsupportedProtocolVersion {
			t.Fatalf("ReasonCodeOf = %#x", got)
		}
	}

	// Not MQTT at all: a protocol error, not an unsupported version.
	_, err := packet.Read(bytes.NewReader(connectLevel("HTTP", 4)), 0, 0)
	if !errors.Is(err, packet.ErrProtocol) || errors.Is(err, packet.ErrUnsupportedVersion) {
		t.Fatalf("unknown protocol name: %v", err)
	}
}

// TestConnectErrorKeepsVersion checks that a CONNECT failing after its
// level still tells the server which version to answer in.
func TestConnectErrorKeepsVersion(t *testing.T) {
	p, err := packet.Read(bytes.NewReader(connect5(0x03)), 0, 0)
	if !errors.Is(err, packet.ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
	want := &packet.Connect{ProtocolName: "MQTT", Version: 5}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("p = %#v, want %#v", p, want)
	}
	// Too short to hold a level: nothing to answer with.
	p, err = packet.Read(bytes.NewReader([]byte{0x10, 0x02, 0x00, 0x04}), 0, 0)
	if p != nil || !errors.Is(err, packet.ErrMalformed) {
		t.Fatalf("p, err = %#v, %v", p, err)
	}
}

func connectLevel(name string, level byte) []byte {
	b := []byte{0x10, byte(2 + len(name) + 6), 0, byte(len(name))}
	b = append(b, name...)
	return append(b, level, 0x02, 0x00, 0x3C, 0x00, 0x00)
}

func TestReasonCodeOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want byte
	}{
		{packet.ErrMalformed, packet.MalformedPacket},
		{packet.ErrProtocol, packet.ProtocolError},
		{packet.ErrTooLarge, packet.PacketTooLarge},
		{packet.ErrUnsupportedVersion, packet.UnsupportedProtocolVersion},
		{io.ErrUnexpectedEOF, packet.UnspecifiedError},
	} {
		if got := packet.ReasonCodeOf(tc.err); got != tc.want {
			t.Errorf("ReasonCodeOf(%v) = %#x, want %#x", tc.err, got, tc.want)
		}
	}
}

func TestReadEOF(t *testing.T) {
	for _, tc := range []struct {
		raw  []byte
		want error
	}{
		{nil, io.EOF},                                   // closed between packets
		{[]byte{0x30}, io.ErrUnexpectedEOF},             // inside the fixed header
		{[]byte{0x30, 0x80}, io.ErrUnexpectedEOF},       // inside the remaining length
		{[]byte{0x30, 0x05, 0x00}, io.ErrUnexpectedEOF}, // inside the body
		{[]byte{0x30, 0x05}, io.ErrUnexpectedEOF},       // before the body
	} {
		for _, r := range []io.Reader{bytes.NewReader(tc.raw), plainReader{bytes.NewReader(tc.raw)}} {
			_, err := packet.Read(r, 4, 0)
			if err != tc.want {
				t.Errorf("% X via %T: err = %v, want %v", tc.raw, r, err, tc.want)
			}
		}
	}
}

// plainReader hides every method but Read.
type plainReader struct{ r io.Reader }

func (p plainReader) Read(b []byte) (int, error) { return p.r.Read(b) }

// TestReadStream reads all fixtures of one level back to back, through a
// reader that is not an io.ByteReader, through a tiny bufio.Reader and
// through a reader returning a byte at a time, to check that Read never
// consumes past a packet.
func TestReadStream(t *testing.T) {
	var stream []byte
	var want []packet.Packet
	for _, f := range fixtures {
		if f.v == 5 && f.pkt.Type() != packet.CONNECT {
			stream = append(stream, f.raw...)
			want = append(want, f.pkt)
		}
	}
	readers := map[string]func() io.Reader{
		"bytes.Reader": func() io.Reader { return bytes.NewReader(stream) },
		"plain":        func() io.Reader { return plainReader{bytes.NewReader(stream)} },
		"bufio16":      func() io.Reader { return bufio.NewReaderSize(plainReader{bytes.NewReader(stream)}, 16) },
		"one byte":     func() io.Reader { return &chunkReader{b: stream, n: 1} },
	}
	for name, mk := range readers {
		r := mk()
		for i, w := range want {
			got, err := packet.Read(r, 5, 0)
			if err != nil {
				t.Fatalf("%s: packet %d: %v", name, i, err)
			}
			if !reflect.DeepEqual(got, w) {
				t.Fatalf("%s: packet %d:\n got %#v\nwant %#v", name, i, got, w)
			}
		}
		if _, err := packet.Read(r, 5, 0); err != io.EOF {
			t.Fatalf("%s: at the end: %v", name, err)
		}
	}
}

// chunkReader returns b at most n bytes a read.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), c.n, len(c.b))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

// TestReadTooLargeReadsNoBody checks that a packet over the maximum is
// refused after its fixed header, with its body neither read nor
// allocated.
func TestReadTooLargeReadsNoBody(t *testing.T) {
	raw := []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F} // PUBLISH of 268435455 bytes, announced
	raw = append(raw, make([]byte, 1000)...)
	r := bytes.NewReader(raw)
	allocated := allocatedBytes(func() {
		_, err := packet.Read(r, 4, 1<<20)
		if !errors.Is(err, packet.ErrTooLarge) {
			t.Fatalf("err = %v", err)
		}
	})
	if r.Len() != 1000 {
		t.Fatalf("Read consumed %d bytes past the fixed header", 1000-r.Len())
	}
	if allocated > 64<<10 { // test machinery; the body would be 256 MiB
		t.Fatalf("Read allocated %d bytes", allocated)
	}
}

// TestReadAnnouncedLengthWithoutData checks that a peer announcing a huge
// packet and sending little makes Read allocate in proportion to what
// arrived, not to what was announced.
func TestReadAnnouncedLengthWithoutData(t *testing.T) {
	raw := []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F} // PUBLISH of 268435455 bytes, announced
	raw = append(raw, make([]byte, 1000)...)
	allocated := allocatedBytes(func() {
		_, err := packet.Read(bytes.NewReader(raw), 4, 0)
		if err != io.ErrUnexpectedEOF {
			t.Fatalf("err = %v", err)
		}
	})
	if allocated > 1<<20 {
		t.Fatalf("Read allocated %d bytes for 1000 received", allocated)
	}
}

func allocatedBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestReadLargePacket reads packets around the size where Read stops
// allocating the body at once.
func TestReadLargePacket(t *testing.T) {
	for _, n := range []int{64<<10 - 10, 64<<10 + 1, 300 << 10, 1<<20 + 3} {
		p := &packet.Publish{Topic: "big", Payload: bytes.Repeat([]byte{0xA5}, n)}
		raw, err := packet.Append(nil, 4, p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := packet.Read(&chunkReader{b: raw, n: 7000}, 4, len(raw))
		if err != nil {
			t.Fatalf("%d: %v", n, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("%d: payload differs", n)
		}
		if _, err := packet.Read(bytes.NewReader(raw), 4, len(raw)-1); !errors.Is(err, packet.ErrTooLarge) {
			t.Fatalf("%d: one byte over: %v", n, err)
		}
	}
}

func TestReadFixedHeader(t *testing.T) {
	for _, tc := range []struct {
		raw  []byte
		want packet.FixedHeader
		err  error
	}{
		{[]byte{0x30, 0x00}, packet.FixedHeader{Type: packet.PUBLISH}, nil},
		{[]byte{0x3D, 0x7F}, packet.FixedHeader{Type: packet.PUBLISH, Flags: 0xD, Remaining: 127}, nil},
		{[]byte{0x62, 0x80, 0x01}, packet.FixedHeader{Type: packet.PUBREL, Flags: 2, Remaining: 128}, nil},
		{[]byte{0x82, 0xFF, 0x7F}, packet.FixedHeader{Type: packet.SUBSCRIBE, Flags: 2, Remaining: 16383}, nil},
		{[]byte{0xC0, 0x80, 0x80, 0x01}, packet.FixedHeader{Type: packet.PINGREQ, Remaining: 16384}, nil},
		{[]byte{0xE0, 0xFF, 0xFF, 0x7F}, packet.FixedHeader{Type: packet.DISCONNECT, Remaining: 2097151}, nil},
		{[]byte{0x10, 0x80, 0x80, 0x80, 0x01}, packet.FixedHeader{Type: packet.CONNECT, Remaining: 2097152}, nil},
		{[]byte{0x10, 0xFF, 0xFF, 0xFF, 0x7F}, packet.FixedHeader{Type: packet.CONNECT, Remaining: packet.MaxRemainingLength}, nil},
		{[]byte{0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, packet.FixedHeader{}, packet.ErrMalformed},
		{[]byte{0x10, 0x80, 0x80, 0x00}, packet.FixedHeader{}, packet.ErrMalformed},
		{[]byte{0x6A, 0x02}, packet.FixedHeader{}, packet.ErrMalformed}, // 3.1's DUP on PUBREL: Read knows the level, this does not
		{[]byte{0x3E, 0x00}, packet.FixedHeader{}, packet.ErrMalformed},
		{[]byte{0x10}, packet.FixedHeader{}, io.ErrUnexpectedEOF},
		{nil, packet.FixedHeader{}, io.EOF},
	} {
		h, err := packet.ReadFixedHeader(bytes.NewReader(tc.raw))
		if h != tc.want || !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
			t.Errorf("% X: %+v, %v; want %+v, %v", tc.raw, h, err, tc.want, tc.err)
		}
	}
}

func TestVarInt(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x00}},
		{127, []byte{0x7F}},
		{128, []byte{0x80, 0x01}},
		{16383, []byte{0xFF, 0x7F}},
		{16384, []byte{0x80, 0x80, 0x01}},
		{2097151, []byte{0xFF, 0xFF, 0x7F}},
		{2097152, []byte{0x80, 0x80, 0x80, 0x01}},
		{packet.MaxRemainingLength, []byte{0xFF, 0xFF, 0xFF, 0x7F}},
	} {
		got := packet.AppendVarInt(nil, tc.n)
		if !bytes.Equal(got, tc.want) || packet.VarIntSize(tc.n) != len(tc.want) {
			t.Errorf("%d: % X (size %d), want % X", tc.n, got, packet.VarIntSize(tc.n), tc.want)
		}
	}
}

func TestDecodeChecksHeader(t *testing.T) {
	body := []byte{0x00, 0x01}
	if _, err := packet.Decode(4, packet.FixedHeader{Type: packet.PUBACK, Remaining: 3}, body); !errors.Is(err, packet.ErrMalformed) {
		t.Errorf("remaining length unlike body: %v", err)
	}
	if _, err := packet.Decode(4, packet.FixedHeader{Type: packet.PUBACK, Flags: 1, Remaining: 2}, body); !errors.Is(err, packet.ErrMalformed) {
		t.Errorf("reserved flags: %v", err)
	}
	if p, err := packet.Decode(4, packet.FixedHeader{Type: 16}, nil); p != nil || !errors.Is(err, packet.ErrMalformed) {
		t.Errorf("type 16: %v, %v", p, err)
	}
	if _, err := packet.Decode(7, packet.FixedHeader{Type: packet.PUBACK, Remaining: 2}, body); !errors.Is(err, packet.ErrUnsupportedVersion) {
		t.Errorf("level 7: %v", err)
	}
	p, err := packet.Decode(4, packet.FixedHeader{Type: packet.PUBACK, Remaining: 2}, body)
	if err != nil || !reflect.DeepEqual(p, &packet.Ack{Kind: packet.PUBACK, PacketID: 1}) {
		t.Errorf("PUBACK: %#v, %v", p, err)
	}
}

// TestDecodeAliasesBody checks the promise of the package documentation:
// strings and payloads point into the body instead of copying it.
func TestDecodeAliasesBody(t *testing.T) {
	raw := fixtureNamed(t, "PUBLISH 3.1.1 QoS 1 DUP retain").raw
	body := append([]byte(nil), raw[2:]...)
	p, err := packet.Decode(4, packet.FixedHeader{Type: packet.PUBLISH, Flags: 0xB, Remaining: len(body)}, body)
	if err != nil {
		t.Fatal(err)
	}
	pub := p.(*packet.Publish)
	body[2], body[7] = 'A', 'X'
	if pub.Topic != "A/b" || string(pub.Payload) != "Xyz" {
		t.Fatalf("topic %q payload %q do not alias the body", pub.Topic, pub.Payload)
	}
}

func fixtureNamed(t testing.TB, name string) fixture {
	for _, f := range fixtures {
		if f.name == name {
			return f
		}
	}
	t.Fatalf("no fixture %q", name)
	return fixture{}
}

// TestDecodeAllocationBound measures the memory decoding costs for the
// packets that expand most from wire to Go values (many empty filters or
// user properties): it stays within a small multiple of the packet size,
// whatever the packet claims.
func TestDecodeAllocationBound(t *testing.T) {
	const n = 20000
	user := make([]packet.UserProperty, n)
	subIDs := make([]uint32, n)
	for i := range subIDs {
		subIDs[i] = 1
	}
	for _, tc := range []struct {
		name string
		v    byte
		p    packet.Packet
	}{
		{"SUBSCRIBE of empty filters", 4, &packet.Subscribe{PacketID: 1, Subscriptions: make([]packet.Subscription, n)}},
		{"UNSUBSCRIBE of empty filters", 4, &packet.Unsubscribe{PacketID: 1, Filters: make([]string, n)}},
		{"PUBLISH of empty user properties", 5, &packet.Publish{Topic: "t", Properties: packet.Properties{User: user}}},
		{"PUBLISH of subscription identifiers", 5, &packet.Publish{Topic: "t", Properties: packet.Properties{SubscriptionIDs: subIDs}}},
	} {
		raw, err := packet.Append(nil, tc.v, tc.p)
		if err != nil {
			t.Fatal(err)
		}
		allocated := allocatedBytes(func() {
			if _, err := packet.Read(bytes.NewReader(raw), tc.v, len(raw)); err != nil {
				t.Fatal(err)
			}
		})
		ratio := float64(allocated) / float64(len(raw))
		t.Logf("%s: %d bytes on the wire, %d allocated (%.1fx)", tc.name, len(raw), allocated, ratio)
		if ratio > 10 {
			t.Errorf("%s: decoding allocated %.1f times the packet size", tc.name, ratio)
		}
	}
}
