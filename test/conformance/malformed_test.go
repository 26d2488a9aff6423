package conformance_test

import (
	"net"
	"testing"

	"github.com/mastmq/mast/broker"
)

// malformedCase is one packet the broker must refuse by closing the
// connection of the client that sent it, and nothing more.
type malformedCase struct {
	name     string
	rule     string // the statement or section broken
	versions []byte // protocol levels the bytes are written for
	// first is set when the bytes are the connection's first packet;
	// otherwise the client connects first.
	first bool
	// cut closes the client's writing side after the bytes: the stream
	// ends inside a packet.
	cut   bool
	bytes []byte
}

var (
	both     = []byte{v311, v5}
	only311  = []byte{v311}
	only5    = []byte{v5}
	withV31  = []byte{v31, v311, v5}
	malCases = []malformedCase{
		// ---- CONNECT
		{name: "CONNECT ends before keep alive", rule: "MQTT 3.1.1 §3.1.2", versions: only311, first: true, bytes: []byte{
			0x10,                           // CONNECT
			0x08,                           // remaining length 8: too short for the variable header
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04, // protocol level 4
			0x02, // connect flags; keep alive and payload missing
		}},
		{name: "CONNECT protocol name longer than the packet", rule: "MQTT 3.1.1 §1.5.3", versions: only311, first: true, bytes: []byte{
			0x10,       // CONNECT
			0x0C,       // remaining length 12
			0x00, 0x20, // protocol name length 32: past the end
			'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x00, 0x00, 0x00,
		}},
		{name: "CONNECT client id longer than the packet", rule: "MQTT 3.1.1 §3.1.3.1", versions: only311, first: true, bytes: []byte{
			0x10,                           // CONNECT
			0x0D,                           // remaining length 13
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // protocol level 4
			0x02,       // connect flags: clean session
			0x00, 0x00, // keep alive 0
			0x00, 0x09, 'c', // client id length 9, one byte present
		}},
		{name: "CONNECT bytes after the payload", rule: "MQTT-3.1.4-1", versions: only311, first: true, bytes: []byte{
			0x10,                           // CONNECT
			0x0E,                           // remaining length 14
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // protocol level 4
			0x02,       // connect flags: clean session, nothing else
			0x00, 0x00, // keep alive 0
			0x00, 0x01, 'c', // client id "c"
			'x', // a byte no flag accounts for
		}},
		{name: "CONNECT will flag without will topic", rule: "MQTT-3.1.2-9", versions: only311, first: true, bytes: []byte{
			0x10,                           // CONNECT
			0x0D,                           // remaining length 13
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // protocol level 4
			0x06,       // connect flags: clean session, will
			0x00, 0x00, // keep alive 0
			0x00, 0x01, 'c', // client id "c"; will topic and message missing
		}},
		{name: "CONNECT will QoS 3", rule: "MQTT-3.1.2-14 (3.1.1) / MQTT-3.1.2-12 (5.0)", versions: only311, first: true, bytes: []byte{
			0x10,                           // CONNECT
			0x12,                           // remaining length 18
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // protocol level 4
			0x1E,       // connect flags: clean session, will, will QoS 3
			0x00, 0x00, // keep alive 0
			0x00, 0x01, 'c', // client id "c"
			0x00, 0x01, 'w', // will topic "w"
			0x00, 0x00, // will message, empty
		}},
		{name: "CONNECT will QoS without will flag", rule: "MQTT-3.1.2-13 (3.1.1) / MQTT-3.1.2-11 (5.0)", versions: only311, first: true, bytes: []byte{
			0x10,                           // CONNECT
			0x0D,                           // remaining length 13
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // protocol level 4
			0x0A,       // connect flags: clean session, will QoS 1, no will flag
			0x00, 0x00, // keep alive 0
			0x00, 0x01, 'c', // client id "c"
		}},
		{name: "CONNECT will retain without will flag", rule: "MQTT-3.1.2-15 (3.1.1) / MQTT-3.1.2-13 (5.0)", versions: only311, first: true, bytes: []byte{
			0x10,                           // CONNECT
			0x0D,                           // remaining length 13
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // protocol level 4
			0x22,       // connect flags: clean session, will retain, no will flag
			0x00, 0x00, // keep alive 0
			0x00, 0x01, 'c', // client id "c"
		}},
		{name: "CONNECT password without user name", rule: "MQTT-3.1.2-22", versions: only311, first: true, bytes: []byte{
			0x10,                           // CONNECT
			0x10,                           // remaining length 16
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // protocol level 4
			0x42,       // connect flags: clean session, password, no user name
			0x00, 0x00, // keep alive 0
			0x00, 0x01, 'c', // client id "c"
			0x00, 0x01, 'p', // password "p"
		}},
		{name: "CONNECT user name flag without user name", rule: "MQTT-3.1.2-19", versions: only311, first: true, bytes: []byte{
			0x10,                           // CONNECT
			0x0D,                           // remaining length 13
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // protocol level 4
			0x82,       // connect flags: clean session, user name
			0x00, 0x00, // keep alive 0
			0x00, 0x01, 'c', // client id "c"; user name missing
		}},
		{name: "CONNECT client id not UTF-8", rule: "MQTT-1.5.3-1 (3.1.1) / MQTT-1.5.4-1 (5.0)", versions: only311, first: true, bytes: []byte{
			0x10,                           // CONNECT
			0x0E,                           // remaining length 14
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // protocol level 4
			0x02,       // connect flags: clean session
			0x00, 0x00, // keep alive 0
			0x00, 0x02, 0xC3, 0x28, // client id: an invalid two-byte sequence
		}},
		{name: "CONNECT client id with U+0000", rule: "MQTT-1.5.3-2 (3.1.1) / MQTT-1.5.4-2 (5.0)", versions: only311, first: true, bytes: []byte{
			0x10,                           // CONNECT
			0x0E,                           // remaining length 14
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x04,       // protocol level 4
			0x02,       // connect flags: clean session
			0x00, 0x00, // keep alive 0
			0x00, 0x02, 'c', 0x00, // client id "c\x00"
		}},
		{name: "CONNECT property length past the end", rule: "MQTT 5.0 §2.2.2.1", versions: only5, first: true, bytes: []byte{
			0x10,                           // CONNECT
			0x0E,                           // remaining length 14
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x05,       // protocol level 5
			0x02,       // connect flags: clean start
			0x00, 0x00, // keep alive 0
			0x20,            // property length 32: past the end
			0x00, 0x01, 'c', // client id "c"
		}},
		{name: "CONNECT Session Expiry Interval twice", rule: "MQTT 5.0 §3.1.2.11.2", versions: only5, first: true, bytes: []byte{
			0x10,                           // CONNECT
			0x18,                           // remaining length 24
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x05,       // protocol level 5
			0x02,       // connect flags: clean start
			0x00, 0x00, // keep alive 0
			0x0A,                         // property length 10
			0x11, 0x00, 0x00, 0x00, 0x0A, // Session Expiry Interval 10
			0x11, 0x00, 0x00, 0x00, 0x0A, // Session Expiry Interval again
			0x00, 0x01, 'c', // client id "c"
		}},
		{name: "CONNECT unknown property", rule: "MQTT 5.0 §2.2.2.2", versions: only5, first: true, bytes: []byte{
			0x10,                           // CONNECT
			0x10,                           // remaining length 16
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x05,       // protocol level 5
			0x02,       // connect flags: clean start
			0x00, 0x00, // keep alive 0
			0x02,       // property length 2
			0x7F, 0x00, // property 0x7F: no such property
			0x00, 0x01, 'c', // client id "c"
		}},
		{name: "CONNECT Receive Maximum 0", rule: "MQTT 5.0 §3.1.2.11.3", versions: only5, first: true, bytes: []byte{
			0x10,                           // CONNECT
			0x11,                           // remaining length 17
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x05,       // protocol level 5
			0x02,       // connect flags: clean start
			0x00, 0x00, // keep alive 0
			0x03,             // property length 3
			0x21, 0x00, 0x00, // Receive Maximum 0
			0x00, 0x01, 'c', // client id "c"
		}},
		{name: "CONNECT Maximum Packet Size 0", rule: "MQTT 5.0 §3.1.2.11.4", versions: only5, first: true, bytes: []byte{
			0x10,                           // CONNECT
			0x13,                           // remaining length 19
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x05,       // protocol level 5
			0x02,       // connect flags: clean start
			0x00, 0x00, // keep alive 0
			0x05,                         // property length 5
			0x27, 0x00, 0x00, 0x00, 0x00, // Maximum Packet Size 0
			0x00, 0x01, 'c', // client id "c"
		}},
		{name: "CONNECT with a PUBLISH property", rule: "MQTT 5.0 §2.2.2.2", versions: only5, first: true, bytes: []byte{
			0x10,                           // CONNECT
			0x11,                           // remaining length 17
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name
			0x05,       // protocol level 5
			0x02,       // connect flags: clean start
			0x00, 0x00, // keep alive 0
			0x03,             // property length 3
			0x23, 0x00, 0x01, // Topic Alias 1: not a CONNECT property
			0x00, 0x01, 'c', // client id "c"
		}},
		{name: "CONNECT cut short", rule: "MQTT 3.1.1 §4.8 / 5.0 §4.13", versions: only311, first: true, cut: true, bytes: []byte{
			0x10,                 // CONNECT
			0x0D,                 // remaining length 13
			0x00, 0x04, 'M', 'Q', // the stream ends here
		}},
		{name: "not MQTT at all", rule: "MQTT-3.1.0-1", versions: only311, first: true, bytes: []byte(
			"GET / HTTP/1.1\r\nHost: x\r\n\r\n", // 0x47: PUBACK with flags 0111
		)},
		{name: "remaining length of five bytes first", rule: "MQTT 3.1.1 §2.2.3 / 5.0 §1.5.5", versions: only311, first: true, bytes: []byte{
			0x10,                   // CONNECT
			0xFF, 0xFF, 0xFF, 0xFF, // four continuation bytes
			0x01, // a fifth
		}},

		// ---- PUBLISH
		{name: "PUBLISH empty", rule: "MQTT-3.3.2-1", versions: both, bytes: []byte{
			0x30, // PUBLISH QoS 0
			0x00, // remaining length 0: no topic
		}},
		{name: "PUBLISH topic length cut", rule: "MQTT 3.1.1 §1.5.3", versions: both, bytes: []byte{
			0x30, // PUBLISH QoS 0
			0x01, // remaining length 1
			0x00, // half a length
		}},
		{name: "PUBLISH topic longer than the packet", rule: "MQTT 3.1.1 §1.5.3 / 5.0 §1.5.4", versions: both, bytes: []byte{
			0x30,       // PUBLISH QoS 0
			0x05,       // remaining length 5
			0x00, 0x09, // topic length 9
			'a', '/', 'b', // three bytes of it
		}},
		{name: "PUBLISH QoS 1 without packet id", rule: "MQTT-2.3.1-1 (3.1.1) / MQTT-2.2.1-3 (5.0)", versions: only311, bytes: []byte{
			0x32,                      // PUBLISH QoS 1
			0x05,                      // remaining length 5
			0x00, 0x03, 'a', '/', 'b', // topic "a/b"; no packet identifier
		}},
		{name: "PUBLISH QoS 1 packet id 0", rule: "MQTT-2.3.1-1 (3.1.1) / MQTT-2.2.1-3 (5.0)", versions: only311, bytes: []byte{
			0x32,                      // PUBLISH QoS 1
			0x08,                      // remaining length 8
			0x00, 0x03, 'a', '/', 'b', // topic "a/b"
			0x00, 0x00, // packet identifier 0
			'x', // payload
		}},
		{name: "PUBLISH QoS 1 packet id 0", rule: "MQTT-2.2.1-3", versions: only5, bytes: []byte{
			0x32,                      // PUBLISH QoS 1
			0x09,                      // remaining length 9
			0x00, 0x03, 'a', '/', 'b', // topic "a/b"
			0x00, 0x00, // packet identifier 0
			0x00, // property length 0
			'x',  // payload
		}},
		{name: "PUBLISH QoS 0 with DUP", rule: "MQTT-3.3.1-2", versions: only311, bytes: []byte{
			0x38,                      // PUBLISH QoS 0, DUP set
			0x06,                      // remaining length 6
			0x00, 0x03, 'a', '/', 'b', // topic "a/b"
			'x', // payload
		}},
		{name: "PUBLISH property length past the end", rule: "MQTT 5.0 §2.2.2.1", versions: only5, bytes: []byte{
			0x30,                      // PUBLISH QoS 0
			0x07,                      // remaining length 7
			0x00, 0x03, 'a', '/', 'b', // topic "a/b"
			0x09, // property length 9: past the end
			'x',
		}},
		{name: "PUBLISH with a Subscription Identifier", rule: "MQTT-3.3.4-6", versions: only5, bytes: []byte{
			0x30,                      // PUBLISH QoS 0
			0x09,                      // remaining length 9
			0x00, 0x03, 'a', '/', 'b', // topic "a/b"
			0x02,       // property length 2
			0x0B, 0x01, // Subscription Identifier 1: only the server sends it
			'x', // payload
		}},
		{name: "PUBLISH Payload Format Indicator 2", rule: "MQTT 5.0 §3.3.2.3.2", versions: only5, bytes: []byte{
			0x30,                      // PUBLISH QoS 0
			0x09,                      // remaining length 9
			0x00, 0x03, 'a', '/', 'b', // topic "a/b"
			0x02,       // property length 2
			0x01, 0x02, // Payload Format Indicator 2: only 0 and 1 exist
			'x', // payload
		}},
		{name: "PUBLISH with a CONNECT property", rule: "MQTT 5.0 §2.2.2.2", versions: only5, bytes: []byte{
			0x30,                      // PUBLISH QoS 0
			0x0C,                      // remaining length 12
			0x00, 0x03, 'a', '/', 'b', // topic "a/b"
			0x05,                         // property length 5
			0x11, 0x00, 0x00, 0x00, 0x01, // Session Expiry Interval: not a PUBLISH property
			'x', // payload
		}},
		{name: "PUBLISH cut short", rule: "MQTT 3.1.1 §4.8 / 5.0 §4.13", versions: both, cut: true, bytes: []byte{
			0x30,                      // PUBLISH QoS 0
			0x0A,                      // remaining length 10
			0x00, 0x03, 'a', '/', 'b', // topic "a/b"; the stream ends here
		}},

		// ---- PUBACK, PUBREC, PUBREL, PUBCOMP
		{name: "PUBACK empty", rule: "MQTT 3.1.1 §3.4.1", versions: both, bytes: []byte{
			0x40, // PUBACK
			0x00, // remaining length 0: no packet identifier
		}},
		{name: "PUBACK one byte", rule: "MQTT 3.1.1 §3.4.1", versions: both, bytes: []byte{
			0x40, // PUBACK
			0x01, // remaining length 1
			0x00, // half a packet identifier
		}},
		{name: "PUBREC three bytes", rule: "MQTT 3.1.1 §3.5.1", versions: only311, bytes: []byte{
			0x50,       // PUBREC
			0x03,       // remaining length 3: 3.1.1 says 2
			0x00, 0x01, // packet identifier 1
			0x00,
		}},
		{name: "PUBREL one byte", rule: "MQTT 3.1.1 §3.6.1", versions: both, bytes: []byte{
			0x62, // PUBREL
			0x01, // remaining length 1
			0x00, // half a packet identifier
		}},
		{name: "PUBCOMP empty", rule: "MQTT 3.1.1 §3.7.1", versions: both, bytes: []byte{
			0x70, // PUBCOMP
			0x00, // remaining length 0
		}},
		{name: "PUBACK reason 0x05", rule: "MQTT-3.4.2-1", versions: only5, bytes: []byte{
			0x40,       // PUBACK
			0x03,       // remaining length 3
			0x00, 0x01, // packet identifier 1
			0x05, // reason 0x05: not a PUBACK reason code
		}},
		{name: "PUBREL reason 0x10", rule: "MQTT-3.6.2-1", versions: only5, bytes: []byte{
			0x62,       // PUBREL
			0x03,       // remaining length 3
			0x00, 0x01, // packet identifier 1
			0x10, // reason 0x10: not a PUBREL reason code
		}},
		{name: "PUBCOMP property length past the end", rule: "MQTT 5.0 §3.7.2.2", versions: only5, bytes: []byte{
			0x70,       // PUBCOMP
			0x04,       // remaining length 4
			0x00, 0x01, // packet identifier 1
			0x00, // reason 0x00
			0x08, // property length 8: past the end
		}},

		// ---- SUBSCRIBE
		{name: "SUBSCRIBE without filters", rule: "MQTT-3.8.3-3 (3.1.1)", versions: only311, bytes: []byte{
			0x82,       // SUBSCRIBE
			0x02,       // remaining length 2
			0x00, 0x01, // packet identifier 1; no payload
		}},
		{name: "SUBSCRIBE without filters", rule: "MQTT-3.8.3-2 (5.0)", versions: only5, bytes: []byte{
			0x82,       // SUBSCRIBE
			0x03,       // remaining length 3
			0x00, 0x01, // packet identifier 1
			0x00, // property length 0; no payload
		}},
		{name: "SUBSCRIBE QoS 3", rule: "MQTT-3.8.3-4 (3.1.1)", versions: only311, bytes: []byte{
			0x82,       // SUBSCRIBE
			0x08,       // remaining length 8
			0x00, 0x01, // packet identifier 1
			0x00, 0x03, 'a', '/', 'b', // filter "a/b"
			0x03, // requested QoS 3
		}},
		{name: "SUBSCRIBE reserved option bits", rule: "MQTT-3.8.3-4 (3.1.1)", versions: only311, bytes: []byte{
			0x82,       // SUBSCRIBE
			0x08,       // remaining length 8
			0x00, 0x01, // packet identifier 1
			0x00, 0x03, 'a', '/', 'b', // filter "a/b"
			0x04, // bit 2 set: reserved in 3.1.1
		}},
		{name: "SUBSCRIBE QoS 3", rule: "MQTT 5.0 §3.8.3.1", versions: only5, bytes: []byte{
			0x82,       // SUBSCRIBE
			0x09,       // remaining length 9
			0x00, 0x01, // packet identifier 1
			0x00,                      // property length 0
			0x00, 0x03, 'a', '/', 'b', // filter "a/b"
			0x03, // Maximum QoS 3
		}},
		{name: "SUBSCRIBE Retain Handling 3", rule: "MQTT 5.0 §3.8.3.1", versions: only5, bytes: []byte{
			0x82,       // SUBSCRIBE
			0x09,       // remaining length 9
			0x00, 0x01, // packet identifier 1
			0x00,                      // property length 0
			0x00, 0x03, 'a', '/', 'b', // filter "a/b"
			0x30, // Retain Handling 3
		}},
		{name: "SUBSCRIBE reserved option bits", rule: "MQTT-3.8.3-5 (5.0)", versions: only5, bytes: []byte{
			0x82,       // SUBSCRIBE
			0x09,       // remaining length 9
			0x00, 0x01, // packet identifier 1
			0x00,                      // property length 0
			0x00, 0x03, 'a', '/', 'b', // filter "a/b"
			0xC0, // bits 6 and 7: reserved
		}},
		{name: "SUBSCRIBE Subscription Identifier 0", rule: "MQTT 5.0 §3.8.2.1.2", versions: only5, bytes: []byte{
			0x82,       // SUBSCRIBE
			0x0B,       // remaining length 11
			0x00, 0x01, // packet identifier 1
			0x02,       // property length 2
			0x0B, 0x00, // Subscription Identifier 0
			0x00, 0x03, 'a', '/', 'b', // filter "a/b"
			0x00, // QoS 0
		}},
		{name: "SUBSCRIBE filter longer than the packet", rule: "MQTT 3.1.1 §1.5.3", versions: only311, bytes: []byte{
			0x82,       // SUBSCRIBE
			0x07,       // remaining length 7
			0x00, 0x01, // packet identifier 1
			0x00, 0x09, 'a', '/', 'b', // filter length 9, three bytes present
		}},
		{name: "SUBSCRIBE options byte missing", rule: "MQTT 3.1.1 §3.8.3", versions: only311, bytes: []byte{
			0x82,       // SUBSCRIBE
			0x07,       // remaining length 7
			0x00, 0x01, // packet identifier 1
			0x00, 0x03, 'a', '/', 'b', // filter "a/b"; no QoS byte
		}},
		{name: "SUBSCRIBE packet id 0", rule: "MQTT-2.3.1-1 (3.1.1)", versions: only311, bytes: []byte{
			0x82,       // SUBSCRIBE
			0x08,       // remaining length 8
			0x00, 0x00, // packet identifier 0
			0x00, 0x03, 'a', '/', 'b', // filter "a/b"
			0x00, // QoS 0
		}},
		{name: "SUBSCRIBE filter not UTF-8", rule: "MQTT-1.5.3-1 (3.1.1)", versions: only311, bytes: []byte{
			0x82,       // SUBSCRIBE
			0x07,       // remaining length 7
			0x00, 0x01, // packet identifier 1
			0x00, 0x02, 0xFF, 0xFE, // filter: not UTF-8
			0x00, // QoS 0
		}},
		{name: "SUBSCRIBE cut short", rule: "MQTT 3.1.1 §4.8 / 5.0 §4.13", versions: both, cut: true, bytes: []byte{
			0x82,       // SUBSCRIBE
			0x08,       // remaining length 8
			0x00, 0x01, // packet identifier 1; the stream ends here
		}},

		// ---- UNSUBSCRIBE
		{name: "UNSUBSCRIBE without filters", rule: "MQTT-3.10.3-2", versions: only311, bytes: []byte{
			0xA2,       // UNSUBSCRIBE
			0x02,       // remaining length 2
			0x00, 0x01, // packet identifier 1; no payload
		}},
		{name: "UNSUBSCRIBE without filters", rule: "MQTT-3.10.3-2", versions: only5, bytes: []byte{
			0xA2,       // UNSUBSCRIBE
			0x03,       // remaining length 3
			0x00, 0x01, // packet identifier 1
			0x00, // property length 0; no payload
		}},
		{name: "UNSUBSCRIBE filter longer than the packet", rule: "MQTT 3.1.1 §1.5.3", versions: only311, bytes: []byte{
			0xA2,       // UNSUBSCRIBE
			0x06,       // remaining length 6
			0x00, 0x01, // packet identifier 1
			0x00, 0x09, 'a', 'b', // filter length 9, two bytes present
		}},
		{name: "UNSUBSCRIBE packet id 0", rule: "MQTT-2.3.1-1 (3.1.1)", versions: only311, bytes: []byte{
			0xA2,       // UNSUBSCRIBE
			0x07,       // remaining length 7
			0x00, 0x00, // packet identifier 0
			0x00, 0x03, 'a', '/', 'b', // filter "a/b"
		}},

		// ---- PINGREQ, DISCONNECT, AUTH
		{name: "PINGREQ with a body", rule: "MQTT 3.1.1 §3.12.1", versions: withV31, bytes: []byte{
			0xC0, // PINGREQ
			0x01, // remaining length 1: PINGREQ has none
			0x00,
		}},
		{name: "DISCONNECT with a body", rule: "MQTT 3.1.1 §3.14.1", versions: only311, bytes: []byte{
			0xE0, // DISCONNECT
			0x01, // remaining length 1: 3.1.1 DISCONNECT has none
			0x00,
		}},
		{name: "DISCONNECT reason 0x03", rule: "MQTT-3.14.2-1", versions: only5, bytes: []byte{
			0xE0, // DISCONNECT
			0x01, // remaining length 1
			0x03, // reason 0x03: no such DISCONNECT reason
		}},
		{name: "DISCONNECT property length past the end", rule: "MQTT 5.0 §3.14.2.2", versions: only5, bytes: []byte{
			0xE0, // DISCONNECT
			0x03, // remaining length 3
			0x00, // reason 0x00
			0x05, // property length 5: past the end
			0x11,
		}},
		{name: "AUTH before 5.0", rule: "MQTT 3.1.1 §2.2.1 (type 15 reserved)", versions: only311, bytes: []byte{
			0xF0, // AUTH: reserved in 3.1.1
			0x00, // remaining length 0
		}},
		{name: "AUTH without an authentication method", rule: "MQTT 5.0 §4.12", versions: only5, bytes: []byte{
			0xF0, // AUTH
			0x00, // remaining length 0: reason 0x00
		}},

		// ---- Packet types a client never sends
		{name: "type 0", rule: "MQTT 3.1.1 §2.2.1 / 5.0 §2.1.2 (reserved)", versions: withV31, bytes: []byte{
			0x00, // reserved type 0
			0x00, // remaining length 0
		}},
		{name: "CONNACK from a client", rule: "MQTT-4.8.0-1 (3.1.1) / §4.13 (5.0)", versions: both, bytes: []byte{
			0x20, // CONNACK
			0x02, // remaining length 2
			0x00, // flags
			0x00, // accepted
		}},
		{name: "SUBACK from a client", rule: "MQTT-4.8.0-1 (3.1.1) / §4.13 (5.0)", versions: only311, bytes: []byte{
			0x90,       // SUBACK
			0x03,       // remaining length 3
			0x00, 0x01, // packet identifier 1
			0x00, // QoS 0
		}},
		{name: "UNSUBACK from a client", rule: "MQTT-4.8.0-1 (3.1.1) / §4.13 (5.0)", versions: only311, bytes: []byte{
			0xB0,       // UNSUBACK
			0x02,       // remaining length 2
			0x00, 0x01, // packet identifier 1
		}},
		{name: "PINGRESP from a client", rule: "MQTT-4.8.0-1 (3.1.1) / §4.13 (5.0)", versions: both, bytes: []byte{
			0xD0, // PINGRESP
			0x00, // remaining length 0
		}},
	}
)

// Malformed packets and protocol violations close the connection that
// sent them ([MQTT-4.8.0-1] in 3.1.1; [MQTT-4.13.1-1] in 5.0, with a
// DISCONNECT 0x81 Malformed Packet or 0x82 Protocol Error first once
// CONNECT has been accepted), and never harm the broker: clients connected
// all along keep working, and new ones can connect.
func TestMalformedPackets(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	var bystanders []*client
	for _, v := range withV31 {
		c := connectClean(t, addr, v, "bystander-"+versionName(v))
		c.subscribe(1, "alive/#", 0x00)
		bystanders = append(bystanders, c)
	}
	t.Run("cases", func(t *testing.T) {
		for _, tc := range malCases {
			for _, v := range tc.versions {
				t.Run(versionName(v)+"/"+tc.name, func(t *testing.T) {
					t.Parallel()
					t.Log(tc.rule)
					var c *client
					if tc.first {
						c = dial(t, addr, v, "malformed")
					} else {
						c = connectClean(t, addr, v, "malformed")
					}
					c.send(tc.bytes)
					if tc.cut {
						c.nc.(*net.TCPConn).CloseWrite()
					}
					got := c.expectClosed()
					checkRefusal(t, c, tc, got)
					// The broker still serves new clients.
					connectClean(t, addr, v, "after").ping()
				})
			}
		}
	})
	pub := connectClean(t, addr, v311, "alive-pub")
	pub.publish(0, false, "alive/still", 0, "yes")
	for _, c := range bystanders {
		c.expectMessage("alive/still", "yes", 0, false)
		c.ping()
	}
}

// checkRefusal checks what the broker sent before closing: at levels 3
// and 4 nothing after CONNECT (3.1.1 has no server DISCONNECT) and at most
// a refusing CONNACK for a bad CONNECT; at level 5 a DISCONNECT with a
// reason code of 0x80 or more, or for a bad CONNECT a CONNACK refusal or
// nothing. When the stream was cut the broker may send nothing.
func checkRefusal(t *testing.T, c *client, tc malformedCase, got []byte) {
	t.Helper()
	if len(got) == 0 {
		if c.version == v5 && !tc.first && !tc.cut {
			t.Fatalf("5.0 connection closed without DISCONNECT [MQTT 5.0 §4.13.1: SHOULD send one]")
		}
		return
	}
	switch {
	case tc.first && got[0] == 0x20:
		if len(got) < 4 || got[3] == 0x00 {
			t.Fatalf("bad CONNECT accepted: % X", got)
		}
	case !tc.first && c.version == v5 && got[0] == 0xE0:
		if len(got) < 3 || got[2] < 0x80 {
			t.Fatalf("DISCONNECT % X: want a reason of 0x80 or more", got)
		}
		if !tc.cut && got[2] != 0x81 && got[2] != 0x82 {
			t.Fatalf("DISCONNECT reason 0x%02X, want 0x81 Malformed Packet or 0x82 Protocol Error", got[2])
		}
	default:
		t.Fatalf("got % X (%s) before the close, want nothing%s", got, c.describe(got),
			map[bool]string{true: " or a DISCONNECT", false: ""}[c.version == v5])
	}
}
