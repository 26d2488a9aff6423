package packet_test

import (
	"bytes"
	"testing"

	"github.com/mastmq/mast/packet"
)

var benchCases = []struct{ name, fixture string }{
	{"CONNECT/v4", "CONNECT 3.1.1 will, user name and password"},
	{"CONNECT/v5", "CONNECT 5.0 properties, will properties, password without user name"},
	{"PUBLISH/qos0/v4", "PUBLISH 3.1.1 QoS 0"},
	{"PUBLISH/qos1/v4", "PUBLISH 3.1.1 QoS 1 DUP retain"},
	{"PUBLISH/qos0/v5", "PUBLISH 5.0 QoS 0 no properties"},
	{"PUBLISH/qos1/v5props", "PUBLISH 5.0 QoS 1 every property"},
	{"PUBACK/v4", "PUBACK 3.1.1"},
	{"PUBACK/v5", "PUBREC 5.0 reason string"},
	{"SUBSCRIBE/v4", "SUBSCRIBE 3.1.1"},
	{"SUBSCRIBE/v5", "SUBSCRIBE 5.0 subscription identifier and options"},
	{"PINGREQ", "PINGREQ 3.1.1"},
}

// BenchmarkRead reads a packet from an in-memory io.ByteReader: header,
// body allocation and decoding.
func BenchmarkRead(b *testing.B) {
	for _, bc := range benchCases {
		f := fixtureNamed(b, bc.fixture)
		v := f.v
		if f.pkt.Type() == packet.CONNECT {
			v = 0
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(f.raw)))
			r := bytes.NewReader(f.raw)
			for b.Loop() {
				r.Reset(f.raw)
				if _, err := packet.Read(r, v, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecode decodes a body already in memory.
func BenchmarkDecode(b *testing.B) {
	for _, bc := range benchCases {
		f := fixtureNamed(b, bc.fixture)
		h, err := packet.ReadFixedHeader(bytes.NewReader(f.raw))
		if err != nil {
			b.Fatal(err)
		}
		body := f.raw[len(f.raw)-h.Remaining:]
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(f.raw)))
			for b.Loop() {
				if _, err := packet.Decode(f.v, h, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppend encodes into a buffer with room.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range benchCases {
		f := fixtureNamed(b, bc.fixture)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(f.raw)))
			dst := make([]byte, 0, 256)
			for b.Loop() {
				if _, err := packet.Append(dst, f.v, f.pkt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPublishFanout is the broker's hot path: one PUBLISH per
// subscriber, built on the stack with that subscriber's header around a
// shared 1 KiB payload.
func BenchmarkPublishFanout(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 1024)
	subIDs := []uint32{7}
	for _, v := range []byte{4, 5} {
		name := map[byte]string{4: "v4", 5: "v5"}[v]
		b.Run(name+"/Append", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			dst := make([]byte, 0, 2048)
			for b.Loop() {
				p := packet.Publish{QoS: 1, Topic: "house/sensor1/temperature", PacketID: 42, Payload: payload}
				if v == 5 {
					p.Properties.SubscriptionIDs = subIDs
				}
				if _, err := p.Append(dst, v); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/AppendHeader", func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]byte, 0, 2048)
			for b.Loop() {
				p := packet.Publish{QoS: 1, Topic: "house/sensor1/temperature", PacketID: 42, Payload: payload}
				if v == 5 {
					p.Properties.SubscriptionIDs = subIDs
				}
				if _, err := p.AppendHeader(dst, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
