package packet_test

import "github.com/mastmq/mast/packet"

// The catalogue of packets a decoder must refuse, each with the error class
// a server turns into its reason code and the statement (or section, where
// the standard gives no number) that the error cites.

type invalidFixture struct {
	name string
	v    byte // connection's protocol level; 0 before CONNECT
	max  int  // maximum packet size for Read; 0 for none
	raw  []byte
	err  error  // packet.ErrMalformed, ErrProtocol, ErrTooLarge or ErrUnsupportedVersion
	rule string // the rule the error must cite
}

var (
	malformed   = packet.ErrMalformed
	protocol    = packet.ErrProtocol
	tooLarge    = packet.ErrTooLarge
	unsupported = packet.ErrUnsupportedVersion
)

var invalidFixtures = []invalidFixture{
	// Fixed header ----------------------------------------------------
	{"reserved type 0", 4, 0, []byte{0x00, 0x00}, malformed, "§2.2.1"},
	{"PUBLISH QoS 3", 4, 0, []byte{
		0x36,            // PUBLISH, QoS 3
		0x03,            // remaining length 3
		0x00, 0x01, 'a', // topic "a"
	}, malformed, "MQTT-3.3.1-4"},
	{"PUBLISH DUP with QoS 0", 4, 0, []byte{
		0x38,            // PUBLISH, DUP, QoS 0
		0x03,            // remaining length 3
		0x00, 0x01, 'a', // topic "a"
	}, malformed, "MQTT-3.3.1-2"},
	{"PUBREL flags 0000", 4, 0, []byte{0x60, 0x02, 0x00, 0x01}, malformed, "MQTT-2.2.2-2"},
	{"PUBREL flags 0000 in 5.0", 5, 0, []byte{0x60, 0x02, 0x00, 0x01}, malformed, "MQTT-2.1.3-1"},
	{"SUBSCRIBE flags 0000", 4, 0, []byte{
		0x80,       // SUBSCRIBE with flags 0000
		0x06,       // remaining length 6
		0x00, 0x01, // packet identifier 1
		0x00, 0x01, 'a', 0x00, // "a", QoS 0
	}, malformed, "MQTT-2.2.2-2"},
	{"SUBSCRIBE with DUP after 3.1", 4, 0, []byte{
		0x8A,       // SUBSCRIBE with flags 1010, allowed in 3.1 only
		0x06,       // remaining length 6
		0x00, 0x01, // packet identifier 1
		0x00, 0x01, 'a', 0x00, // "a", QoS 0
	}, malformed, "MQTT-2.2.2-2"},
	{"UNSUBSCRIBE flags 0000", 5, 0, []byte{
		0xA0,       // UNSUBSCRIBE with flags 0000
		0x06,       // remaining length 6
		0x00, 0x01, // packet identifier 1
		0x00,            // property length 0
		0x00, 0x01, 'a', // "a"
	}, malformed, "MQTT-2.1.3-1"},
	{"PUBACK flags 0001", 4, 0, []byte{0x41, 0x02, 0x00, 0x01}, malformed, "MQTT-2.2.2-2"},
	{"PINGREQ flags 0001", 4, 0, []byte{0xC1, 0x00}, malformed, "MQTT-2.2.2-2"},
	{"CONNECT flags 0001", 0, 0, []byte{0x11, 0x00}, malformed, "MQTT-2.2.2-2"},
	{"remaining length of five bytes", 4, 0, []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}, malformed, "§1.5.5"},
	{"remaining length not shortest", 4, 0, []byte{
		0xC0,       // PINGREQ
		0x80, 0x00, // remaining length 0 in two bytes
	}, malformed, "MQTT-1.5.5-1"},
	{"first packet not CONNECT", 0, 0, []byte{0xC0, 0x00}, protocol, "MQTT-3.1.0-1"},
	{"AUTH before 5.0", 4, 0, []byte{0xF0, 0x00}, malformed, "§2.2.1"},
	{"PINGREQ with a body", 4, 0, []byte{0xC0, 0x01, 0x00}, malformed, "§3.12.1"},
	{"PINGRESP with a body", 5, 0, []byte{0xD0, 0x01, 0x00}, malformed, "§3.13.1"},
	{"DISCONNECT 3.1.1 with a body", 4, 0, []byte{0xE0, 0x01, 0x00}, malformed, "§3.14.1"},
	{"packet over the maximum size", 4, 8, []byte{
		0x30,                      // PUBLISH
		0x07,                      // remaining length 7: 9 bytes in all
		0x00, 0x03, 'a', '/', 'b', // topic "a/b"
		'h', 'i', // payload
	}, tooLarge, ""},
	{"announced length over the maximum size", 4, 1 << 20, []byte{
		0x30,                   // PUBLISH
		0xFF, 0xFF, 0xFF, 0x7F, // remaining length 268435455; the body never comes
	}, tooLarge, ""},

	// CONNECT ---------------------------------------------------------
	{"CONNECT protocol name not MQTT", 0, 0, []byte{
		0x10, 0x0C, // CONNECT, remaining length 12
		0x00, 0x04, 'M', 'Q', 'T', 'X', // protocol name "MQTX"
		0x04, 0x02, 0x00, 0x3C, // level 4, clean session, keep alive 60
		0x00, 0x00, // client identifier ""
	}, protocol, "MQTT-3.1.2-1"},
	{"CONNECT level 6", 0, 0, []byte{
		0x10, 0x0C, // CONNECT, remaining length 12
		0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
		0x06, 0x02, 0x00, 0x3C, // level 6, clean session, keep alive 60
		0x00, 0x00, // client identifier ""
	}, unsupported, "MQTT-3.1.2-2"},
	{"CONNECT MQIsdp at level 4", 0, 0, []byte{
		0x10, 0x0E, // CONNECT, remaining length 14
		0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', // protocol name "MQIsdp"
		0x04, 0x02, 0x00, 0x3C, // level 4, clean session, keep alive 60
		0x00, 0x00, // client identifier ""
	}, unsupported, "MQTT-3.1.2-2"},
	{"CONNECT MQTT at level 3", 0, 0, []byte{
		0x10, 0x0C, // CONNECT, remaining length 12
		0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
		0x03, 0x02, 0x00, 0x3C, // level 3, clean session, keep alive 60
		0x00, 0x00, // client identifier ""
	}, unsupported, "MQTT-3.1.2-2"},
	{"CONNECT reserved flag", 0, 0, connect4(0x03), malformed, "MQTT-3.1.2-3"},
	{"CONNECT will QoS without will", 0, 0, connect4(0x0A), malformed, "MQTT-3.1.2-13"},
	{"CONNECT 5.0 will QoS without will", 0, 0, connect5(0x0A), malformed, "MQTT-3.1.2-11"},
	{"CONNECT will retain without will", 0, 0, connect4(0x22), malformed, "MQTT-3.1.2-15"},
	{"CONNECT 5.0 will retain without will", 0, 0, connect5(0x22), malformed, "MQTT-3.1.2-13"},
	{"CONNECT will QoS 3", 0, 0, connect4(0x1E), malformed, "MQTT-3.1.2-14"},
	{"CONNECT 5.0 will QoS 3", 0, 0, connect5(0x1E), malformed, "MQTT-3.1.2-12"},
	{"CONNECT password without user name", 0, 0, connect4(0x42), malformed, "MQTT-3.1.2-22"},
	{"CONNECT user name flag without user name", 0, 0, connect4(0x82), malformed, ""},
	{"CONNECT client identifier not UTF-8", 0, 0, []byte{
		0x10, 0x0E, // CONNECT, remaining length 14
		0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, // "MQTT" 4, clean session, keep alive 60
		0x00, 0x02, 0xC3, 0x28, // client identifier: a two byte sequence broken off
	}, malformed, "MQTT-1.5.3-1"},
	{"CONNECT client identifier with U+0000", 0, 0, []byte{
		0x10, 0x0E, // CONNECT, remaining length 14
		0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, // "MQTT" 4, clean session, keep alive 60
		0x00, 0x02, 'a', 0x00, // client identifier "a\x00"
	}, malformed, "MQTT-1.5.3-2"},
	{"CONNECT 5.0 client identifier with a surrogate", 0, 0, []byte{
		0x10, 0x10, // CONNECT, remaining length 16
		0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C, // "MQTT" 5, clean start, keep alive 60
		0x00,                         // property length 0
		0x00, 0x03, 0xED, 0xA0, 0x80, // client identifier: U+D800 encoded
	}, malformed, "MQTT-1.5.4-1"},
	{"CONNECT trailing bytes", 0, 0, []byte{
		0x10, 0x0D, // CONNECT, remaining length 13
		0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, // "MQTT" 4, clean session, keep alive 60
		0x00, 0x00, // client identifier ""
		0x00, // one byte too many
	}, malformed, ""},
	{"CONNECT 5.0 topic alias property", 0, 0, connect5Props(0x23, 0x00, 0x01), malformed, "§2.2.2.2"},
	{"CONNECT 5.0 unknown property", 0, 0, connect5Props(0x7F, 0x00), malformed, "§2.2.2.2"},
	{"CONNECT 5.0 session expiry twice", 0, 0, connect5Props(
		0x11, 0x00, 0x00, 0x00, 0x01, // session expiry interval 1
		0x11, 0x00, 0x00, 0x00, 0x02, // session expiry interval 2
	), protocol, "§2.2.2.2"},
	{"CONNECT 5.0 receive maximum 0", 0, 0, connect5Props(0x21, 0x00, 0x00), protocol, "§3.1.2.11.3"},
	{"CONNECT 5.0 maximum packet size 0", 0, 0, connect5Props(0x27, 0x00, 0x00, 0x00, 0x00), protocol, "§3.1.2.11.4"},
	{"CONNECT 5.0 request problem information 2", 0, 0, connect5Props(0x17, 0x02), protocol, "§3.1.2.11.7"},
	{"CONNECT 5.0 request response information 2", 0, 0, connect5Props(0x19, 0x02), protocol, "§3.1.2.11.6"},
	{"CONNECT 5.0 authentication data without method", 0, 0, connect5Props(0x16, 0x00, 0x01, 0xAA), protocol, "§3.1.2.11.10"},
	{"CONNECT 5.0 property value cut by the property length", 0, 0, connect5Props(0x11, 0x00, 0x00), malformed, ""},
	{"CONNECT 5.0 property length past the packet", 0, 0, []byte{
		0x10, 0x0B, // CONNECT, remaining length 11
		0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x00, 0x00, 0x00, // "MQTT" 5, no flags, keep alive 0
		0x05, // property length 5, but nothing follows
	}, malformed, "§2.2.2.1"},
	{"CONNECT 5.0 session expiry in will properties", 0, 0, []byte{
		0x10, 0x18, // CONNECT, remaining length 24
		0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x04, 0x00, 0x00, // "MQTT" 5, will, keep alive 0
		0x00,       // property length 0
		0x00, 0x00, // client identifier ""
		0x05, 0x11, 0x00, 0x00, 0x00, 0x01, // will properties: session expiry interval, not a will property
		0x00, 0x01, 't', // will topic "t"
		0x00, 0x00, // will payload
	}, malformed, "§2.2.2.2"},

	// CONNACK ---------------------------------------------------------
	{"CONNACK reserved flags", 4, 0, []byte{0x20, 0x02, 0x02, 0x00}, malformed, "§3.2.2.1"},
	{"CONNACK 5.0 reserved flags", 5, 0, []byte{0x20, 0x03, 0x80, 0x00, 0x00}, malformed, "MQTT-3.2.2-1"},
	{"CONNACK return code 6", 4, 0, []byte{0x20, 0x02, 0x00, 0x06}, protocol, "§3.2.2.3"},
	{"CONNACK session present with refusal", 4, 0, []byte{0x20, 0x02, 0x01, 0x05}, protocol, "MQTT-3.2.2-4"},
	{"CONNACK 5.0 session present with refusal", 5, 0, []byte{0x20, 0x03, 0x01, 0x80, 0x00}, protocol, "MQTT-3.2.2-6"},
	{"CONNACK 5.0 reason code of PUBACK", 5, 0, []byte{0x20, 0x03, 0x00, 0x10, 0x00}, protocol, "MQTT-3.2.2-8"},
	{"CONNACK 5.0 without property length", 5, 0, []byte{0x20, 0x02, 0x00, 0x00}, malformed, ""},
	{"CONNACK 3.1.1 answer to a 5.0 CONNECT", 5, 0, []byte{0x20, 0x02, 0x00, 0x01}, unsupported, ""},
	{"CONNACK 5.0 maximum QoS 2", 5, 0, []byte{
		0x20, 0x05, 0x00, 0x00, // CONNACK, remaining length 5, flags, success
		0x02, 0x24, 0x02, // property length 2, maximum QoS 2
	}, protocol, "§3.2.2.3.4"},
	{"CONNACK 5.0 topic alias", 5, 0, []byte{
		0x20, 0x06, 0x00, 0x00, // CONNACK, remaining length 6, flags, success
		0x03, 0x23, 0x00, 0x01, // property length 3, topic alias 1: a PUBLISH property
	}, malformed, "§2.2.2.2"},

	// PUBLISH ---------------------------------------------------------
	{"PUBLISH QoS 1 packet identifier 0", 4, 0, []byte{
		0x32, 0x05, // PUBLISH QoS 1, remaining length 5
		0x00, 0x01, 't', // topic "t"
		0x00, 0x00, // packet identifier 0
	}, protocol, "MQTT-2.3.1-1"},
	{"PUBLISH 5.0 QoS 2 packet identifier 0", 5, 0, []byte{
		0x34, 0x06, // PUBLISH QoS 2, remaining length 6
		0x00, 0x01, 't', // topic "t"
		0x00, 0x00, // packet identifier 0
		0x00, // property length 0
	}, protocol, "MQTT-2.2.1-3"},
	{"PUBLISH topic length past the packet", 4, 0, []byte{
		0x30, 0x03, // PUBLISH, remaining length 3
		0x00, 0x05, 'a', // topic of 5 bytes, 1 present
	}, malformed, ""},
	{"PUBLISH QoS 1 without packet identifier", 4, 0, []byte{
		0x32, 0x04, // PUBLISH QoS 1, remaining length 4
		0x00, 0x01, 't', // topic "t"
		0x00, // half a packet identifier
	}, malformed, ""},
	{"PUBLISH topic not UTF-8", 4, 0, []byte{
		0x30, 0x04, // PUBLISH, remaining length 4
		0x00, 0x02, 0xFF, 'a', // topic with byte 0xFF
	}, malformed, "MQTT-1.5.3-1"},
	{"PUBLISH 5.0 topic alias 0", 5, 0, []byte{
		0x30, 0x07, // PUBLISH, remaining length 7
		0x00, 0x01, 't', // topic "t"
		0x03, 0x23, 0x00, 0x00, // property length 3, topic alias 0
	}, protocol, "MQTT-3.3.2-8"},
	{"PUBLISH 5.0 empty topic without alias", 5, 0, []byte{
		0x30, 0x03, // PUBLISH, remaining length 3
		0x00, 0x00, // topic ""
		0x00, // property length 0
	}, protocol, "§3.3.2.1"},
	{"PUBLISH 5.0 payload format 2", 5, 0, []byte{
		0x30, 0x06, // PUBLISH, remaining length 6
		0x00, 0x01, 't', // topic "t"
		0x02, 0x01, 0x02, // property length 2, payload format indicator 2
	}, protocol, "§3.3.2.3.2"},
	{"PUBLISH 5.0 subscription identifier 0", 5, 0, []byte{
		0x30, 0x06, // PUBLISH, remaining length 6
		0x00, 0x01, 't', // topic "t"
		0x02, 0x0B, 0x00, // property length 2, subscription identifier 0
	}, protocol, "§3.3.2.3.8"},
	{"PUBLISH 5.0 subscription identifier not shortest", 5, 0, []byte{
		0x30, 0x07, // PUBLISH, remaining length 7
		0x00, 0x01, 't', // topic "t"
		0x03, 0x0B, 0x81, 0x00, // property length 3, subscription identifier 1 in two bytes
	}, malformed, "MQTT-1.5.5-1"},
	{"PUBLISH 5.0 reason string", 5, 0, []byte{
		0x30, 0x08, // PUBLISH, remaining length 8
		0x00, 0x01, 't', // topic "t"
		0x04, 0x1F, 0x00, 0x01, 'x', // property length 4, reason string: not a PUBLISH property
	}, malformed, "§2.2.2.2"},
	{"PUBLISH 5.0 message expiry twice", 5, 0, []byte{
		0x30, 0x0E, // PUBLISH, remaining length 14
		0x00, 0x01, 't', // topic "t"
		0x0A,                         // property length 10
		0x02, 0x00, 0x00, 0x00, 0x01, // message expiry interval 1
		0x02, 0x00, 0x00, 0x00, 0x01, // message expiry interval 1 again
	}, protocol, "§2.2.2.2"},
	{"PUBLISH 5.0 user property value cut", 5, 0, []byte{
		0x30, 0x0B, // PUBLISH, remaining length 11
		0x00, 0x01, 't', // topic "t"
		0x07,                                   // property length 7
		0x26, 0x00, 0x01, 'k', 0x00, 0x05, 'v', // user property value of 5 bytes, 1 within the properties
	}, malformed, ""},
	{"PUBLISH 5.0 user property not UTF-8", 5, 0, []byte{
		0x30, 0x0B, // PUBLISH, remaining length 11
		0x00, 0x01, 't', // topic "t"
		0x07,                                    // property length 7
		0x26, 0x00, 0x01, 'k', 0x00, 0x01, 0x80, // user property value: a lone continuation byte
	}, malformed, "MQTT-1.5.4-1"},
	{"PUBLISH 5.0 property length past the packet", 5, 0, []byte{
		0x30, 0x04, // PUBLISH, remaining length 4
		0x00, 0x01, 't', // topic "t"
		0x09, // property length 9, nothing follows
	}, malformed, "§2.2.2.1"},

	// PUBACK, PUBREC, PUBREL, PUBCOMP ---------------------------------
	{"PUBACK packet identifier 0", 4, 0, []byte{0x40, 0x02, 0x00, 0x00}, protocol, "MQTT-2.3.1-1"},
	{"PUBACK 3.1.1 remaining length 3", 4, 0, []byte{0x40, 0x03, 0x00, 0x01, 0x00}, malformed, ""},
	{"PUBACK remaining length 1", 4, 0, []byte{0x40, 0x01, 0x00}, malformed, ""},
	{"PUBACK 5.0 reason code of PUBREL", 5, 0, []byte{0x40, 0x03, 0x00, 0x01, 0x92}, protocol, "MQTT-3.4.2-1"},
	{"PUBREC 5.0 reason code 0x01", 5, 0, []byte{0x50, 0x03, 0x00, 0x01, 0x01}, protocol, "MQTT-3.5.2-1"},
	{"PUBREL 5.0 reason code of PUBACK", 5, 0, []byte{0x62, 0x03, 0x00, 0x01, 0x10}, protocol, "MQTT-3.6.2-1"},
	{"PUBCOMP 5.0 reason code 0x80", 5, 0, []byte{0x70, 0x03, 0x00, 0x01, 0x80}, protocol, "MQTT-3.7.2-1"},
	{"PUBACK 5.0 trailing bytes", 5, 0, []byte{
		0x40, 0x06, // PUBACK, remaining length 6
		0x00, 0x01, 0x00, // packet identifier 1, success
		0x00,       // property length 0
		0x00, 0x00, // two bytes too many
	}, malformed, ""},
	{"PUBACK 5.0 topic alias property", 5, 0, []byte{
		0x40, 0x07, // PUBACK, remaining length 7
		0x00, 0x01, 0x00, // packet identifier 1, success
		0x03, 0x23, 0x00, 0x01, // property length 3, topic alias
	}, malformed, "§2.2.2.2"},

	// SUBSCRIBE, SUBACK -----------------------------------------------
	{"SUBSCRIBE without a filter", 4, 0, []byte{0x82, 0x02, 0x00, 0x01}, protocol, "MQTT-3.8.3-3"},
	{"SUBSCRIBE 5.0 without a filter", 5, 0, []byte{0x82, 0x03, 0x00, 0x01, 0x00}, protocol, "MQTT-3.8.3-2"},
	{"SUBSCRIBE packet identifier 0", 4, 0, []byte{
		0x82, 0x06, 0x00, 0x00, // SUBSCRIBE, remaining length 6, packet identifier 0
		0x00, 0x01, 'a', 0x00, // "a", QoS 0
	}, protocol, "MQTT-2.3.1-1"},
	{"SUBSCRIBE reserved option bits", 4, 0, []byte{
		0x82, 0x06, 0x00, 0x01, // SUBSCRIBE, remaining length 6, packet identifier 1
		0x00, 0x01, 'a', 0x04, // "a", options 0x04: a 5.0 bit, reserved in 3.1.1
	}, malformed, "MQTT-3-8.3-4"},
	{"SUBSCRIBE QoS 3", 4, 0, []byte{
		0x82, 0x06, 0x00, 0x01, // SUBSCRIBE, remaining length 6, packet identifier 1
		0x00, 0x01, 'a', 0x03, // "a", QoS 3
	}, malformed, "MQTT-3-8.3-4"},
	{"SUBSCRIBE without options byte", 4, 0, []byte{
		0x82, 0x05, 0x00, 0x01, // SUBSCRIBE, remaining length 5, packet identifier 1
		0x00, 0x01, 'a', // "a", and no QoS
	}, malformed, ""},
	{"SUBSCRIBE 5.0 reserved option bits", 5, 0, []byte{
		0x82, 0x07, 0x00, 0x01, 0x00, // SUBSCRIBE, remaining length 7, packet identifier 1, no properties
		0x00, 0x01, 'a', 0x40, // "a", options with bit 6
	}, malformed, "MQTT-3.8.3-5"},
	{"SUBSCRIBE 5.0 QoS 3", 5, 0, []byte{
		0x82, 0x07, 0x00, 0x01, 0x00, // SUBSCRIBE, remaining length 7, packet identifier 1, no properties
		0x00, 0x01, 'a', 0x03, // "a", QoS 3
	}, protocol, "§3.8.3.1"},
	{"SUBSCRIBE 5.0 retain handling 3", 5, 0, []byte{
		0x82, 0x07, 0x00, 0x01, 0x00, // SUBSCRIBE, remaining length 7, packet identifier 1, no properties
		0x00, 0x01, 'a', 0x30, // "a", retain handling 3
	}, protocol, "§3.8.3.1"},
	{"SUBSCRIBE 5.0 two subscription identifiers", 5, 0, []byte{
		0x82, 0x0B, 0x00, 0x01, // SUBSCRIBE, remaining length 11, packet identifier 1
		0x04, 0x0B, 0x01, 0x0B, 0x02, // property length 4, subscription identifiers 1 and 2
		0x00, 0x01, 'a', 0x00, // "a", QoS 0
	}, protocol, "§3.8.2.1.2"},
	{"SUBSCRIBE 5.0 subscription identifier 0", 5, 0, []byte{
		0x82, 0x09, 0x00, 0x01, // SUBSCRIBE, remaining length 9, packet identifier 1
		0x02, 0x0B, 0x00, // property length 2, subscription identifier 0
		0x00, 0x01, 'a', 0x00, // "a", QoS 0
	}, protocol, "§3.8.2.1.2"},
	{"SUBACK return code 3", 4, 0, []byte{0x90, 0x03, 0x00, 0x01, 0x03}, protocol, "MQTT-3.9.3-2"},
	{"SUBACK 5.0 reason code 0x11", 5, 0, []byte{0x90, 0x04, 0x00, 0x01, 0x00, 0x11}, protocol, "MQTT-3.9.3-2"},
	{"SUBACK without a return code", 4, 0, []byte{0x90, 0x02, 0x00, 0x01}, protocol, "§3.9.3"},

	// UNSUBSCRIBE, UNSUBACK -------------------------------------------
	{"UNSUBSCRIBE without a filter", 4, 0, []byte{0xA2, 0x02, 0x00, 0x01}, protocol, "MQTT-3.10.3-2"},
	{"UNSUBSCRIBE filter with U+0000", 4, 0, []byte{
		0xA2, 0x05, 0x00, 0x01, // UNSUBSCRIBE, remaining length 5, packet identifier 1
		0x00, 0x01, 0x00, // filter "\x00"
	}, malformed, "MQTT-1.5.3-2"},
	{"UNSUBACK 3.1.1 with a reason code", 4, 0, []byte{0xB0, 0x03, 0x00, 0x01, 0x00}, malformed, ""},
	{"UNSUBACK 5.0 reason code 0x01", 5, 0, []byte{0xB0, 0x04, 0x00, 0x01, 0x00, 0x01}, protocol, "MQTT-3.11.3-2"},
	{"UNSUBACK 5.0 without a reason code", 5, 0, []byte{0xB0, 0x03, 0x00, 0x01, 0x00}, protocol, "§3.11.3"},

	// DISCONNECT, AUTH ------------------------------------------------
	{"DISCONNECT 5.0 reason code 0x01", 5, 0, []byte{0xE0, 0x01, 0x01}, protocol, "MQTT-3.14.2-1"},
	{"DISCONNECT 5.0 topic alias property", 5, 0, []byte{
		0xE0, 0x05, 0x00, // DISCONNECT, remaining length 5, normal
		0x03, 0x23, 0x00, 0x01, // property length 3, topic alias
	}, malformed, "§2.2.2.2"},
	{"AUTH reason code 0x04", 5, 0, []byte{0xF0, 0x01, 0x04}, protocol, "MQTT-3.15.2-1"},
	{"AUTH trailing bytes", 5, 0, []byte{
		0xF0, 0x03, 0x18, // AUTH, remaining length 3, continue authentication
		0x00, // property length 0
		0x00, // one byte too many
	}, malformed, ""},
}

// connect4 is a 3.1.1 CONNECT with the given flags and no payload beyond an
// empty client identifier.
func connect4(flags byte) []byte {
	return []byte{
		0x10, 0x0C, // CONNECT, remaining length 12
		0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
		0x04,       // level 4
		flags,      // connect flags
		0x00, 0x3C, // keep alive 60
		0x00, 0x00, // client identifier ""
	}
}

// connect5 is connect4 at level 5, with an empty property block.
func connect5(flags byte) []byte {
	return []byte{
		0x10, 0x0D, // CONNECT, remaining length 13
		0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
		0x05,       // level 5
		flags,      // connect flags
		0x00, 0x3C, // keep alive 60
		0x00,       // property length 0
		0x00, 0x00, // client identifier ""
	}
}

// connect5Props is a 5.0 CONNECT whose properties are props.
func connect5Props(props ...byte) []byte {
	b := []byte{
		0x10, byte(13 + len(props)), // CONNECT, remaining length
		0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
		0x05,       // level 5
		0x02,       // clean start
		0x00, 0x3C, // keep alive 60
		byte(len(props)), // property length
	}
	b = append(b, props...)
	return append(b, 0x00, 0x00) // client identifier ""
}
