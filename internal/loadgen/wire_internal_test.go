package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"testing"
	"testing/iotest"

	"github.com/mastmq/mast/packet"
)

func decodeOne(t *testing.T, version byte, b []byte) packet.Packet {
	t.Helper()
	p, err := packet.Read(bytes.NewReader(b), version, 0)
	if err != nil {
		t.Fatalf("packet.Read(% x): %v", b, err)
	}
	return p
}

// The hand-built PUBLISH must be what package packet decodes, at every
// level and QoS, before and after stamping.
func TestTemplateDecodes(t *testing.T) {
	for _, v := range []byte{packet.Version31, packet.Version311, packet.Version5} {
		for qos := byte(0); qos <= 2; qos++ {
			for _, retain := range []bool{false, true} {
				t.Run(fmt.Sprintf("v%d/qos%d/retain=%v", v, qos, retain), func(t *testing.T) {
					payload := newPayload(40, 0xbeef, 7)
					tm := newTemplate(v, qos, retain, "a/b/c", payload)
					b := tm.stamp(0x1234, 99, 123456789)
					p := decodeOne(t, v, b).(*packet.Publish)
					if p.Topic != "a/b/c" || p.QoS != qos || p.Retain != retain || len(p.Payload) != 40 {
						t.Fatalf("decoded %+v", p)
					}
					if qos > 0 && p.PacketID != 0x1234 {
						t.Fatalf("packet id %#x, want 0x1234", p.PacketID)
					}
					st, ok := readStamp(p.Payload)
					if !ok || st != (stamp{run: 0xbeef, pub: 7, seq: 99, nanos: 123456789}) {
						t.Fatalf("stamp %+v %v", st, ok)
					}
				})
			}
		}
	}
}

func TestAppendAckDecodes(t *testing.T) {
	for _, v := range []byte{packet.Version311, packet.Version5} {
		for _, k := range []packet.Type{packet.PUBACK, packet.PUBREC, packet.PUBREL, packet.PUBCOMP} {
			a := decodeOne(t, v, appendAck(nil, k, 513)).(*packet.Ack)
			if a.Kind != k || a.PacketID != 513 || a.ReasonCode != 0 {
				t.Errorf("v%d %v: decoded %+v", v, k, a)
			}
		}
	}
}

// parsePublish must skip v5 properties and agree with package packet's
// encoder.
func TestParsePublish(t *testing.T) {
	p := &packet.Publish{QoS: 1, Retain: true, Dup: true, Topic: "x/y", PacketID: 42, Payload: []byte("hello")}
	p.Properties.MessageExpiry = 30
	p.Properties.Set(packet.PropMessageExpiry)
	p.Properties.User = []packet.UserProperty{{Key: "k", Value: "v"}}
	for _, v := range []byte{packet.Version311, packet.Version5} {
		b, err := packet.Append(nil, v, p)
		if err != nil {
			t.Fatal(err)
		}
		r := reader{br: bufio.NewReader(bytes.NewReader(b)), max: 1 << 20}
		first, body, err := r.next()
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parsePublish(first, body, v)
		if !ok || string(got.topic) != "x/y" || got.id != 42 || got.qos != 1 || !got.retain || !got.dup || string(got.payload) != "hello" {
			t.Errorf("v%d: parsed %+v ok=%v", v, got, ok)
		}
	}
	if _, ok := parsePublish(0x32, []byte{0, 9, 'a'}, packet.Version311); ok {
		t.Error("accepted a topic longer than the body")
	}
	if _, ok := parsePublish(0x36, []byte{0, 1, 'a'}, packet.Version311); ok {
		t.Error("accepted QoS 3")
	}
}

// The reader must return whole packets whatever the read boundaries, for
// bodies inside and larger than its buffer.
func TestReaderBoundaries(t *testing.T) {
	var stream []byte
	var want [][]byte
	for _, n := range []int{0, 1, 30, 127, 128, 500, 5000} {
		payload := bytes.Repeat([]byte{byte(n)}, n)
		b := appendPublish(nil, packet.Version311, 0, false, []byte("t"), 0, payload)
		stream = append(stream, b...)
		want = append(want, payload)
	}
	r := reader{br: bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(stream)), 64), max: 1 << 20}
	for i, w := range want {
		first, body, err := r.next()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		p, ok := parsePublish(first, body, packet.Version311)
		if !ok || !bytes.Equal(p.payload, w) {
			t.Fatalf("packet %d: got %d bytes, want %d", i, len(p.payload), len(w))
		}
	}
	if _, _, err := r.next(); err == nil {
		t.Fatal("no error at end of stream")
	}
	// Two packets in one read: the second shares the first's arrival.
	two := appendPublish(appendPublish(nil, 4, 0, false, []byte("a"), 0, []byte("x")), 4, 0, false, []byte("b"), 0, []byte("y"))
	r = reader{br: bufio.NewReader(bytes.NewReader(two)), max: 1 << 20}
	for i, want := range []bool{true, false} {
		if _, _, err := r.next(); err != nil || r.filled != want {
			t.Fatalf("packet %d: filled %v, want %v (err %v)", i, r.filled, want, err)
		}
	}
	bad := reader{br: bufio.NewReader(bytes.NewReader([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01})), max: 1 << 28}
	if _, _, err := bad.next(); err == nil {
		t.Fatal("accepted a five-byte remaining length")
	}
}

// Per-message work allocates nothing: stamping a template, building a
// per-message topic packet, reading and parsing a PUBLISH, tracking it.
func TestHotPathAllocs(t *testing.T) {
	payload := newPayload(64, 1, 0)
	tm := newTemplate(packet.Version311, 1, false, "bench/pairs/1", payload)
	var seq uint64
	if n := testing.AllocsPerRun(1000, func() {
		seq++
		tm.stamp(uint16(seq), seq, int64(seq))
	}); n != 0 {
		t.Errorf("template stamp: %v allocs", n)
	}

	pkt := make([]byte, 0, 256)
	topic := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(1000, func() {
		seq++
		topic = append(append(topic[:0], "bench/retained/0/"...), byte('0'+seq%10))
		putSeqTime(payload, seq, int64(seq))
		pkt = appendPublish(pkt[:0], packet.Version5, 1, true, topic, uint16(seq), payload)
		pkt = appendAck(pkt, packet.PUBACK, uint16(seq))
	}); n != 0 {
		t.Errorf("appendPublish/appendAck: %v allocs", n)
	}

	// A stream of stamped packets, read back and tracked.
	const msgs = 2000
	var stream []byte
	for i := range msgs {
		stream = append(stream, tm.stamp(uint16(i+1), uint64(i), 1)...)
	}
	src := bytes.NewReader(stream)
	r := reader{br: bufio.NewReaderSize(src, 4096), max: 1 << 20}
	tr := newTracker(1)
	tr.hist = newHistogram()
	tr.message(payload, 2, true) // first message of a publisher creates its set
	src.Seek(0, 0)
	r.br.Reset(src)
	acks := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(msgs-1, func() {
		first, body, err := r.next()
		if err != nil {
			t.Fatal(err)
		}
		p, ok := parsePublish(first, body, packet.Version311)
		if !ok {
			t.Fatal("parse failed")
		}
		tr.message(p.payload, 1000, true)
		acks = appendAck(acks[:0], packet.PUBACK, p.id)
	}); n != 0 {
		t.Errorf("read, parse and track: %v allocs", n)
	}
}

func TestSeqSet(t *testing.T) {
	var s seqSet
	for i := range uint64(1000) {
		s.add(i)
	}
	s.add(5)
	s.add(999)
	if s.unique != 1000 || s.dups != 2 {
		t.Fatalf("in order: unique %d dups %d", s.unique, s.dups)
	}
	// Reordering within the window is not a duplicate.
	for _, x := range []uint64{1002, 1001, 1000, 1004} {
		if !s.add(x) {
			t.Fatalf("%d reported as duplicate", x)
		}
	}
	// A gap larger than the window slides it; the gap stays missing.
	far := uint64(1004 + 3*window)
	s.add(far)
	if s.unique != 1005 || s.top != far+1 {
		t.Fatalf("after gap: unique %d top %d", s.unique, s.top)
	}
	if s.add(far) || s.add(1003) {
		t.Fatal("duplicate or hopelessly late message counted as new")
	}
	if !s.add(far - 5) {
		t.Fatal("in-window message after a slide counted as duplicate")
	}
	if got := s.top - s.unique; got != far+1-1006 {
		t.Fatalf("gap estimate %d", got)
	}
}

func TestTrackerIgnoresForeign(t *testing.T) {
	tr := newTracker(7)
	tr.message([]byte("not a bench payload at all, no"), 0, false)
	tr.message(newPayload(24, 8, 0), 0, false)
	tr.message(newPayload(24, 7, 0), 0, false)
	if tr.foreign != 2 || tr.unique != 1 {
		t.Fatalf("foreign %d unique %d", tr.foreign, tr.unique)
	}
}

// CONNACK and SUBACK are checked by hand, without decoding: the codes
// must be read where package packet puts them, at every level.
func TestAckChecks(t *testing.T) {
	for _, v := range []byte{packet.Version31, packet.Version311, packet.Version5} {
		for _, tc := range []struct {
			name  string
			p     packet.Packet
			valid bool
		}{
			{"connack ok", &packet.Connack{SessionPresent: true}, true},
			{"connack refused", &packet.Connack{ReasonCode: 0x05}, false},
			{"suback ok", &packet.Suback{PacketID: 9, ReasonCodes: []byte{0, 1, 2}}, true},
			{"suback refused", &packet.Suback{PacketID: 9, ReasonCodes: []byte{1, 0x80}}, false},
		} {
			t.Run(fmt.Sprintf("v%d/%s", v, tc.name), func(t *testing.T) {
				p := tc.p
				if s, ok := p.(*packet.Suback); ok && v == packet.Version5 {
					s2 := *s
					s2.Properties.ReasonString = "why"
					s2.Properties.Set(packet.PropReasonString)
					p = &s2
				}
				if c, ok := p.(*packet.Connack); ok && v == packet.Version5 && c.ReasonCode != 0 {
					c2 := *c
					c2.ReasonCode = packet.NotAuthorized
					p = &c2
				}
				b, err := packet.Append(nil, v, p)
				if err != nil {
					t.Fatal(err)
				}
				c := &client{version: v, r: reader{br: bufio.NewReader(bytes.NewReader(b)), max: 1 << 20}}
				if _, ok := p.(*packet.Connack); ok {
					err = c.readConnack()
				} else {
					first, body, rerr := c.r.next()
					if rerr != nil {
						t.Fatal(rerr)
					}
					err = c.checkSuback(first, body)
				}
				if (err == nil) != tc.valid {
					t.Fatalf("% x: error %v, want valid %v", b, err, tc.valid)
				}
			})
		}
	}
	c := &client{version: packet.Version5}
	if err := c.checkSuback(0x90, []byte{0, 1, 5, 0}); err == nil {
		t.Error("SUBACK whose properties run past its end accepted")
	}
}
