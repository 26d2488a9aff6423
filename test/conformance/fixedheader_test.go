package conformance_test

import (
	"testing"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

// [MQTT-2.2.2-1] [MQTT-2.2.2-2] (3.1.1) / [MQTT-2.1.3-1] (5.0) Reserved
// flag bits in the fixed header must have their listed values; otherwise
// the packet is malformed and the connection closed (5.0: DISCONNECT 0x81).
func TestReservedFixedHeaderFlags(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	cases := []struct {
		name  string
		rule  string
		bytes []byte
	}{
		{"SUBSCRIBE flags 0000", "MQTT-3.8.1-1", []byte{
			0x80,       // SUBSCRIBE with flags 0000, not 0010
			0x08,       // remaining length 8 (3.1.1; 5.0 adds a property length below)
			0x00, 0x01, // packet identifier 1
			0x00, 0x03, 'a', '/', 'b', // filter "a/b"
			0x00, // QoS 0
		}},
		{"UNSUBSCRIBE flags 0000", "MQTT-3.10.1-1", []byte{
			0xA0,       // UNSUBSCRIBE with flags 0000, not 0010
			0x07,       // remaining length 7
			0x00, 0x01, // packet identifier 1
			0x00, 0x03, 'a', '/', 'b', // filter "a/b"
		}},
		{"PUBREL flags 0000", "MQTT-3.6.1-1", []byte{
			0x60,       // PUBREL with flags 0000, not 0010
			0x02,       // remaining length 2
			0x00, 0x01, // packet identifier 1
		}},
		{"SUBSCRIBE flags 0011", "MQTT-3.8.1-1", []byte{
			0x83,       // SUBSCRIBE with flags 0011
			0x08,       // remaining length 8
			0x00, 0x01, // packet identifier 1
			0x00, 0x03, 'a', '/', 'b', // filter "a/b"
			0x00, // QoS 0
		}},
		{"PUBACK flags 0010", "MQTT-2.2.2-1", []byte{
			0x42,       // PUBACK with flags 0010, not 0000
			0x02,       // remaining length 2
			0x00, 0x01, // packet identifier 1
		}},
		{"PINGREQ flags 0001", "MQTT-2.2.2-1", []byte{
			0xC1, // PINGREQ with flags 0001
			0x00, // remaining length 0
		}},
		{"DISCONNECT flags 0001", "MQTT-3.14.1-1", []byte{
			0xE1, // DISCONNECT with flags 0001
			0x00, // remaining length 0
		}},
	}
	for _, v := range []byte{v311, v5} {
		for _, tc := range cases {
			t.Run(versionName(v)+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				t.Log(tc.rule)
				c := connectClean(t, addr, v, "flags")
				b := tc.bytes
				if v == v5 && (b[0]>>4 == 8 || b[0]>>4 == 10) {
					// SUBSCRIBE and UNSUBSCRIBE carry a property
					// length after the packet identifier in 5.0.
					b = append([]byte{b[0], b[1] + 1, b[2], b[3], 0x00}, b[4:]...)
				}
				c.send(b)
				c.expectProtocolClose(packet.MalformedPacket)
			})
		}
	}
}

// [MQTT-3.3.1-4] A PUBLISH must not have both QoS bits set; the receiver
// closes the connection (5.0: Malformed Packet).
func TestPublishQoS3(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	for _, v := range []byte{v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			c := connectClean(t, addr, v, "qos3")
			b := []byte{
				0x36,                      // PUBLISH with QoS bits 11
				0x08,                      // remaining length 8
				0x00, 0x03, 'a', '/', 'b', // topic "a/b"
				0x00, 0x01, // packet identifier 1
				'x', // payload "x"
			}
			if v == v5 {
				b = []byte{
					0x36,                      // PUBLISH with QoS bits 11
					0x09,                      // remaining length 9
					0x00, 0x03, 'a', '/', 'b', // topic "a/b"
					0x00, 0x01, // packet identifier 1
					0x00, // property length 0
					'x',  // payload "x"
				}
			}
			c.send(b)
			c.expectProtocolClose(packet.MalformedPacket)
		})
	}
}

// The remaining length is a variable byte integer of at most four bytes
// [MQTT 3.1.1 §2.2.3] [MQTT 5.0 §1.5.5]: a fifth byte makes the packet
// malformed.
func TestRemainingLengthFiveBytes(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	for _, v := range []byte{v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			c := connectClean(t, addr, v, "varint")
			c.send([]byte{
				0x30,                   // PUBLISH QoS 0
				0xFF, 0xFF, 0xFF, 0xFF, // four continuation bytes
				0x01, // a fifth length byte
			})
			c.expectProtocolClose(packet.MalformedPacket)
		})
	}
}

// A packet larger than the server's Maximum Packet Size closes the
// connection; a 5.0 client is told DISCONNECT 0x95 Packet too large [MQTT
// 5.0 §3.2.2.3.6, §4.13]. The server decides from the fixed header, before
// the body arrives. A CONNECT that is too large is refused the same way.
func TestPacketTooLarge(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{MaxPacketSize: 256})
	for _, v := range []byte{v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			c := connectClean(t, addr, v, "large")
			c.send([]byte{
				0x30,       // PUBLISH QoS 0
				0xAD, 0x02, // remaining length 301: 304 bytes in all, over 256
				0x00, 0x03, 'a', '/', 'b', // topic "a/b"; the rest never comes
			})
			if v == v5 {
				c.expectDisconnect(packet.PacketTooLarge)
			} else {
				c.expectCloseSilently()
			}
		})
	}
	t.Run("at the limit", func(t *testing.T) {
		t.Parallel()
		// 3 + 253 = 256 bytes: exactly the maximum, accepted.
		c := connectClean(t, addr, v5, "limit")
		c.subscribe(1, "a/b", 0x00)
		payload := make([]byte, 253-2-3-1)
		for i := range payload {
			payload[i] = 'p'
		}
		b := pkt(0x30, // PUBLISH QoS 0
			str("a/b"),   // topic
			[]byte{0x00}, // property length 0
			payload)      // payload
		if len(b) != 256 {
			t.Fatalf("test bug: packet of %d bytes", len(b))
		}
		c.send(b)
		c.expectMessage("a/b", string(payload), 0, false)
	})
	t.Run("huge announced", func(t *testing.T) {
		t.Parallel()
		c := connectClean(t, addr, v5, "huge")
		c.send([]byte{
			0x30,                   // PUBLISH QoS 0
			0xFF, 0xFF, 0xFF, 0x7F, // remaining length 268435455, the largest
		})
		c.expectDisconnect(packet.PacketTooLarge)
	})
}
