package packet_test

import "github.com/mastmq/mast/packet"

// The catalogue of well-formed packets, written byte by byte from the
// standards and never produced by our encoder. Each one is decoded and
// compared with pkt, and (unless decodeOnly) pkt is encoded and compared
// with raw. The fuzz targets start from these bytes too.

type fixture struct {
	name string
	v    byte // the connection's protocol level (CONNECT is also decoded at 0)
	raw  []byte
	pkt  packet.Packet
	// decodeOnly marks bytes that decode to pkt but that the encoder writes
	// differently (a longer form than needed, a 3.1 leniency).
	decodeOnly bool
}

// with returns p with the given properties marked present.
func with(p packet.Properties, ids ...packet.PropID) packet.Properties {
	for _, id := range ids {
		p.Set(id)
	}
	return p
}

var fixtures = []fixture{
	// CONNECT ---------------------------------------------------------
	{
		name: "CONNECT 3.1 minimal", v: 3,
		raw: []byte{
			0x10,                                     // CONNECT
			0x10,                                     // remaining length 16
			0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', // protocol name "MQIsdp"
			0x03,       // protocol level 3
			0x02,       // flags: clean session
			0x00, 0x3C, // keep alive 60
			0x00, 0x02, 'c', '1', // client identifier "c1"
		},
		pkt: &packet.Connect{ProtocolName: "MQIsdp", Version: 3, CleanStart: true, KeepAlive: 60, ClientID: "c1"},
	},
	{
		name: "CONNECT 3.1 user name and password flags without the fields", v: 3, decodeOnly: true,
		raw: []byte{
			0x10,                                     // CONNECT
			0x10,                                     // remaining length 16
			0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', // protocol name "MQIsdp"
			0x03,       // protocol level 3
			0xC2,       // flags: user name, password, clean session
			0x00, 0x3C, // keep alive 60
			0x00, 0x02, 'c', '1', // client identifier "c1"; no user name, no password follow
		},
		pkt: &packet.Connect{ProtocolName: "MQIsdp", Version: 3, CleanStart: true, KeepAlive: 60, ClientID: "c1"},
	},
	{
		name: "CONNECT 3.1.1 will, user name and password", v: 4,
		raw: []byte{
			0x10,                           // CONNECT
			0x22,                           // remaining length 34
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x04,       // protocol level 4
			0xEE,       // flags: user name, password, will retain, will QoS 1, will, clean session
			0x00, 0x0A, // keep alive 10
			0x00, 0x03, 'd', 'e', 'v', // client identifier "dev"
			0x00, 0x03, 'b', 'y', 'e', // will topic "bye"
			0x00, 0x02, 'o', 'k', // will payload "ok"
			0x00, 0x04, 'u', 's', 'e', 'r', // user name "user"
			0x00, 0x02, 'p', 'w', // password "pw"
		},
		pkt: &packet.Connect{ProtocolName: "MQTT", Version: 4, CleanStart: true, KeepAlive: 10, ClientID: "dev",
			WillFlag: true, WillQoS: 1, WillRetain: true, WillTopic: "bye", WillPayload: []byte("ok"),
			UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte("pw")},
	},
	{
		name: "CONNECT 5.0 minimal", v: 5,
		raw: []byte{
			0x10,                           // CONNECT
			0x0D,                           // remaining length 13
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x05,       // protocol level 5
			0x00,       // flags: none
			0x00, 0x00, // keep alive 0
			0x00,       // property length 0
			0x00, 0x00, // client identifier ""
		},
		pkt: &packet.Connect{ProtocolName: "MQTT", Version: 5},
	},
	{
		name: "CONNECT 5.0 properties, will properties, password without user name", v: 5,
		raw: []byte{
			0x10,                           // CONNECT
			0x41,                           // remaining length 65
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x05,       // protocol level 5
			0x56,       // flags: password, will QoS 2, will, clean start
			0x00, 0x1E, // keep alive 30
			0x14,                         // property length 20
			0x11, 0x00, 0x00, 0x0E, 0x10, // session expiry interval 3600
			0x21, 0x00, 0x14, // receive maximum 20
			0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
			0x27, 0x00, 0x00, 0x40, 0x00, // maximum packet size 16384
			0x00, 0x01, 'c', // client identifier "c"
			0x14,       // will property length 20
			0x01, 0x01, // payload format indicator 1
			0x03, 0x00, 0x0A, 't', 'e', 'x', 't', '/', 'p', 'l', 'a', 'i', 'n', // content type "text/plain"
			0x18, 0x00, 0x00, 0x00, 0x05, // will delay interval 5
			0x00, 0x01, 'w', // will topic "w"
			0x00, 0x00, // will payload, empty
			0x00, 0x03, 0x00, 0xFF, 0x01, // password, binary
		},
		pkt: &packet.Connect{ProtocolName: "MQTT", Version: 5, CleanStart: true, KeepAlive: 30, ClientID: "c",
			Properties: with(packet.Properties{SessionExpiry: 3600, ReceiveMaximum: 20, MaximumPacketSize: 16384,
				User: []packet.UserProperty{{Key: "k", Value: "v"}}},
				packet.PropSessionExpiry, packet.PropReceiveMaximum, packet.PropMaximumPacketSize),
			WillFlag: true, WillQoS: 2, WillTopic: "w",
			WillProperties: with(packet.Properties{PayloadFormat: 1, ContentType: "text/plain", WillDelay: 5},
				packet.PropPayloadFormat, packet.PropContentType, packet.PropWillDelay),
			PasswordFlag: true, Password: []byte{0x00, 0xFF, 0x01}},
	},

	// CONNACK ---------------------------------------------------------
	{
		name: "CONNACK 3.1 refused", v: 3,
		raw: []byte{
			0x20, // CONNACK
			0x02, // remaining length 2
			0x00, // unused in 3.1
			0x05, // return code 5: not authorized
		},
		pkt: &packet.Connack{ReasonCode: packet.ConnRefusedNotAuthorized},
	},
	{
		name: "CONNACK 3.1.1 session present", v: 4,
		raw: []byte{
			0x20, // CONNACK
			0x02, // remaining length 2
			0x01, // acknowledge flags: session present
			0x00, // return code 0: accepted
		},
		pkt: &packet.Connack{SessionPresent: true},
	},
	{
		name: "CONNACK 5.0 refused", v: 5,
		raw: []byte{
			0x20, // CONNACK
			0x03, // remaining length 3
			0x00, // acknowledge flags
			0x87, // reason code: not authorized
			0x00, // property length 0
		},
		pkt: &packet.Connack{ReasonCode: packet.NotAuthorized},
	},
	{
		name: "CONNACK 5.0 server properties", v: 5,
		raw: []byte{
			0x20,                                 // CONNACK
			0x16,                                 // remaining length 22
			0x00,                                 // acknowledge flags
			0x00,                                 // reason code: success
			0x13,                                 // property length 19
			0x12, 0x00, 0x04, 'a', 'u', 't', 'o', // assigned client identifier "auto"
			0x13, 0x00, 0x3C, // server keep alive 60
			0x22, 0x00, 0x0A, // topic alias maximum 10
			0x24, 0x01, // maximum QoS 1
			0x25, 0x00, // retain available 0
			0x28, 0x00, // wildcard subscription available 0
		},
		pkt: &packet.Connack{Properties: with(packet.Properties{AssignedClientID: "auto", ServerKeepAlive: 60,
			TopicAliasMaximum: 10, MaximumQoS: 1},
			packet.PropAssignedClientID, packet.PropServerKeepAlive, packet.PropTopicAliasMaximum,
			packet.PropMaximumQoS, packet.PropRetainAvailable, packet.PropWildcardSubAvailable)},
	},

	// PUBLISH ---------------------------------------------------------
	{
		name: "PUBLISH 3.1.1 QoS 0", v: 4,
		raw: []byte{
			0x30,                      // PUBLISH, QoS 0
			0x07,                      // remaining length 7
			0x00, 0x03, 'a', '/', 'b', // topic "a/b"
			'h', 'i', // payload
		},
		pkt: &packet.Publish{Topic: "a/b", Payload: []byte("hi")},
	},
	{
		name: "PUBLISH 3.1.1 QoS 1 DUP retain", v: 4,
		raw: []byte{
			0x3B,                      // PUBLISH, DUP, QoS 1, RETAIN
			0x0A,                      // remaining length 10
			0x00, 0x03, 'a', '/', 'b', // topic "a/b"
			0x00, 0x07, // packet identifier 7
			'x', 'y', 'z', // payload
		},
		pkt: &packet.Publish{Dup: true, QoS: 1, Retain: true, Topic: "a/b", PacketID: 7, Payload: []byte("xyz")},
	},
	{
		name: "PUBLISH 3.1 QoS 2 empty payload", v: 3,
		raw: []byte{
			0x34,            // PUBLISH, QoS 2
			0x05,            // remaining length 5
			0x00, 0x01, 't', // topic "t"
			0x12, 0x34, // packet identifier 0x1234; no payload
		},
		pkt: &packet.Publish{QoS: 2, Topic: "t", PacketID: 0x1234},
	},
	{
		name: "PUBLISH 3.1.1 multi-byte UTF-8 topic", v: 4,
		raw: []byte{
			0x30,       // PUBLISH, QoS 0
			0x08,       // remaining length 8
			0x00, 0x06, // topic length 6
			0xC3, 0xBC, '/', 0xE2, 0x82, 0xAC, // "ü/€"
		},
		pkt: &packet.Publish{Topic: "ü/€"},
	},
	{
		name: "PUBLISH 5.0 QoS 0 no properties", v: 5,
		raw: []byte{
			0x30,                      // PUBLISH, QoS 0
			0x06,                      // remaining length 6
			0x00, 0x03, 'a', '/', 'b', // topic "a/b"
			0x00, // property length 0; empty payload
		},
		pkt: &packet.Publish{Topic: "a/b"},
	},
	{
		name: "PUBLISH 5.0 QoS 1 every property", v: 5,
		raw: []byte{
			0x32,            // PUBLISH, QoS 1
			0x39,            // remaining length 57
			0x00, 0x01, 't', // topic "t"
			0x00, 0x05, // packet identifier 5
			0x31,       // property length 49
			0x01, 0x01, // payload format indicator 1
			0x02, 0x00, 0x00, 0x00, 0x3C, // message expiry interval 60
			0x03, 0x00, 0x04, 'j', 's', 'o', 'n', // content type "json"
			0x08, 0x00, 0x05, 'r', 'e', 'p', 'l', 'y', // response topic "reply"
			0x09, 0x00, 0x02, 0xCA, 0xFE, // correlation data
			0x0B, 0x01, // subscription identifier 1
			0x0B, 0x80, 0x01, // subscription identifier 128
			0x23, 0x00, 0x02, // topic alias 2
			0x26, 0x00, 0x01, 'a', 0x00, 0x01, '1', // user property a=1
			0x26, 0x00, 0x01, 'a', 0x00, 0x01, '2', // user property a=2 (order and duplicates kept)
			'{', '}', // payload
		},
		pkt: &packet.Publish{QoS: 1, Topic: "t", PacketID: 5, Payload: []byte("{}"),
			Properties: with(packet.Properties{PayloadFormat: 1, MessageExpiry: 60, ContentType: "json",
				ResponseTopic: "reply", CorrelationData: []byte{0xCA, 0xFE}, SubscriptionIDs: []uint32{1, 128},
				TopicAlias: 2, User: []packet.UserProperty{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}}},
				packet.PropPayloadFormat, packet.PropMessageExpiry, packet.PropContentType,
				packet.PropResponseTopic, packet.PropCorrelationData, packet.PropTopicAlias)},
	},
	{
		name: "PUBLISH 5.0 empty topic with topic alias", v: 5,
		raw: []byte{
			0x30,       // PUBLISH, QoS 0
			0x07,       // remaining length 7
			0x00, 0x00, // topic "", replaced by the alias
			0x03,             // property length 3
			0x23, 0x00, 0x01, // topic alias 1
			'x', // payload
		},
		pkt: &packet.Publish{Payload: []byte("x"),
			Properties: with(packet.Properties{TopicAlias: 1}, packet.PropTopicAlias)},
	},

	// PUBACK, PUBREC, PUBREL, PUBCOMP ---------------------------------
	{
		name: "PUBACK 3.1.1", v: 4,
		raw: []byte{0x40, 0x02, 0x00, 0x01}, // PUBACK, remaining length 2, packet identifier 1
		pkt: &packet.Ack{Kind: packet.PUBACK, PacketID: 1},
	},
	{
		name: "PUBREC 3.1.1", v: 4,
		raw: []byte{0x50, 0x02, 0xFF, 0xFF}, // PUBREC, remaining length 2, packet identifier 65535
		pkt: &packet.Ack{Kind: packet.PUBREC, PacketID: 65535},
	},
	{
		name: "PUBREL 3.1.1", v: 4,
		raw: []byte{0x62, 0x02, 0x00, 0x02}, // PUBREL (flags 0010), remaining length 2, packet identifier 2
		pkt: &packet.Ack{Kind: packet.PUBREL, PacketID: 2},
	},
	{
		name: "PUBCOMP 3.1.1", v: 4,
		raw: []byte{0x70, 0x02, 0x00, 0x03}, // PUBCOMP, remaining length 2, packet identifier 3
		pkt: &packet.Ack{Kind: packet.PUBCOMP, PacketID: 3},
	},
	{
		name: "PUBREL 3.1 with DUP", v: 3, decodeOnly: true,
		raw: []byte{0x6A, 0x02, 0x00, 0x02}, // PUBREL, DUP and QoS 1 as 3.1 retries send it, packet identifier 2
		pkt: &packet.Ack{Kind: packet.PUBREL, PacketID: 2},
	},
	{
		name: "PUBACK 5.0 short form", v: 5,
		raw: []byte{0x40, 0x02, 0x00, 0x01}, // PUBACK, remaining length 2: reason 0, no properties
		pkt: &packet.Ack{Kind: packet.PUBACK, PacketID: 1},
	},
	{
		name: "PUBACK 5.0 reason code only", v: 5,
		raw: []byte{
			0x40,       // PUBACK
			0x03,       // remaining length 3
			0x00, 0x01, // packet identifier 1
			0x10, // reason code: no matching subscribers; no property length
		},
		pkt: &packet.Ack{Kind: packet.PUBACK, PacketID: 1, ReasonCode: packet.NoMatchingSubscribers},
	},
	{
		name: "PUBREC 5.0 reason string", v: 5,
		raw: []byte{
			0x50,       // PUBREC
			0x0B,       // remaining length 11
			0x00, 0x09, // packet identifier 9
			0x80,                                 // reason code: unspecified error
			0x07,                                 // property length 7
			0x1F, 0x00, 0x04, 'o', 'o', 'p', 's', // reason string "oops"
		},
		pkt: &packet.Ack{Kind: packet.PUBREC, PacketID: 9, ReasonCode: packet.UnspecifiedError,
			Properties: with(packet.Properties{ReasonString: "oops"}, packet.PropReasonString)},
	},
	{
		name: "PUBREL 5.0 packet identifier not found", v: 5,
		raw: []byte{0x62, 0x03, 0x00, 0x09, 0x92}, // PUBREL, remaining length 3, packet identifier 9, reason 0x92
		pkt: &packet.Ack{Kind: packet.PUBREL, PacketID: 9, ReasonCode: packet.PacketIDNotFound},
	},
	{
		name: "PUBCOMP 5.0 long form of success", v: 5, decodeOnly: true,
		raw: []byte{
			0x70,       // PUBCOMP
			0x04,       // remaining length 4
			0x00, 0x01, // packet identifier 1
			0x00, // reason code: success
			0x00, // property length 0
		},
		pkt: &packet.Ack{Kind: packet.PUBCOMP, PacketID: 1},
	},

	// SUBSCRIBE, SUBACK -----------------------------------------------
	{
		name: "SUBSCRIBE 3.1.1", v: 4,
		raw: []byte{
			0x82,       // SUBSCRIBE (flags 0010)
			0x0C,       // remaining length 12
			0x00, 0x0A, // packet identifier 10
			0x00, 0x03, 'a', '/', '#', // topic filter "a/#"
			0x01,            // QoS 1
			0x00, 0x01, 'b', // topic filter "b"
			0x02, // QoS 2
		},
		pkt: &packet.Subscribe{PacketID: 10, Subscriptions: []packet.Subscription{
			{Filter: "a/#", QoS: 1}, {Filter: "b", QoS: 2}}},
	},
	{
		name: "SUBSCRIBE 3.1 with DUP", v: 3, decodeOnly: true,
		raw: []byte{
			0x8A,       // SUBSCRIBE, DUP and QoS 1 as 3.1 retries send it
			0x06,       // remaining length 6
			0x00, 0x0A, // packet identifier 10
			0x00, 0x01, 'b', // topic filter "b"
			0x00, // QoS 0
		},
		pkt: &packet.Subscribe{PacketID: 10, Subscriptions: []packet.Subscription{{Filter: "b"}}},
	},
	{
		name: "SUBSCRIBE 5.0 subscription identifier and options", v: 5,
		raw: []byte{
			0x82,       // SUBSCRIBE (flags 0010)
			0x18,       // remaining length 24
			0x00, 0x0B, // packet identifier 11
			0x02,       // property length 2
			0x0B, 0x05, // subscription identifier 5
			0x00, 0x03, 'x', '/', '+', // topic filter "x/+"
			0x2D,                                                         // options: retain handling 2, retain as published, no local, QoS 1
			0x00, 0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'y', // topic filter "$share/g/y"
			0x10, // options: retain handling 1, QoS 0
		},
		pkt: &packet.Subscribe{PacketID: 11,
			Properties: packet.Properties{SubscriptionIDs: []uint32{5}},
			Subscriptions: []packet.Subscription{
				{Filter: "x/+", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
				{Filter: "$share/g/y", RetainHandling: 1}}},
	},
	{
		name: "SUBACK 3.1.1", v: 4,
		raw: []byte{
			0x90,       // SUBACK
			0x05,       // remaining length 5
			0x00, 0x0A, // packet identifier 10
			0x01, 0x02, 0x80, // return codes: QoS 1, QoS 2, failure
		},
		pkt: &packet.Suback{PacketID: 10, ReasonCodes: []byte{1, 2, 0x80}},
	},
	{
		name: "SUBACK 5.0 reason string", v: 5,
		raw: []byte{
			0x90,       // SUBACK
			0x0B,       // remaining length 11
			0x00, 0x0B, // packet identifier 11
			0x05,                       // property length 5
			0x1F, 0x00, 0x02, 'n', 'o', // reason string "no"
			0x00, 0x87, 0xA2, // reason codes: QoS 0, not authorized, wildcards not supported
		},
		pkt: &packet.Suback{PacketID: 11, ReasonCodes: []byte{0x00, 0x87, 0xA2},
			Properties: with(packet.Properties{ReasonString: "no"}, packet.PropReasonString)},
	},

	// UNSUBSCRIBE, UNSUBACK -------------------------------------------
	{
		name: "UNSUBSCRIBE 3.1.1", v: 4,
		raw: []byte{
			0xA2,       // UNSUBSCRIBE (flags 0010)
			0x0A,       // remaining length 10
			0x00, 0x0C, // packet identifier 12
			0x00, 0x03, 'a', '/', '#', // topic filter "a/#"
			0x00, 0x01, 'b', // topic filter "b"
		},
		pkt: &packet.Unsubscribe{PacketID: 12, Filters: []string{"a/#", "b"}},
	},
	{
		name: "UNSUBSCRIBE 5.0 user property", v: 5,
		raw: []byte{
			0xA2,       // UNSUBSCRIBE (flags 0010)
			0x0C,       // remaining length 12
			0x00, 0x0D, // packet identifier 13
			0x06,                              // property length 6
			0x26, 0x00, 0x01, 'k', 0x00, 0x00, // user property k=""
			0x00, 0x01, 'a', // topic filter "a"
		},
		pkt: &packet.Unsubscribe{PacketID: 13, Filters: []string{"a"},
			Properties: packet.Properties{User: []packet.UserProperty{{Key: "k"}}}},
	},
	{
		name: "UNSUBACK 3.1.1", v: 4,
		raw: []byte{0xB0, 0x02, 0x00, 0x0C}, // UNSUBACK, remaining length 2, packet identifier 12
		pkt: &packet.Unsuback{PacketID: 12},
	},
	{
		name: "UNSUBACK 5.0", v: 5,
		raw: []byte{
			0xB0,       // UNSUBACK
			0x05,       // remaining length 5
			0x00, 0x0D, // packet identifier 13
			0x00,       // property length 0
			0x00, 0x11, // reason codes: success, no subscription existed
		},
		pkt: &packet.Unsuback{PacketID: 13, ReasonCodes: []byte{0x00, 0x11}},
	},

	// PINGREQ, PINGRESP -----------------------------------------------
	{name: "PINGREQ 3.1", v: 3, raw: []byte{0xC0, 0x00}, pkt: &packet.Pingreq{}}, // PINGREQ, remaining length 0
	{name: "PINGREQ 3.1.1", v: 4, raw: []byte{0xC0, 0x00}, pkt: &packet.Pingreq{}},
	{name: "PINGREQ 5.0", v: 5, raw: []byte{0xC0, 0x00}, pkt: &packet.Pingreq{}},
	{name: "PINGRESP 3.1.1", v: 4, raw: []byte{0xD0, 0x00}, pkt: &packet.Pingresp{}}, // PINGRESP, remaining length 0
	{name: "PINGRESP 5.0", v: 5, raw: []byte{0xD0, 0x00}, pkt: &packet.Pingresp{}},

	// DISCONNECT, AUTH ------------------------------------------------
	{name: "DISCONNECT 3.1.1", v: 4, raw: []byte{0xE0, 0x00}, pkt: &packet.Disconnect{}}, // DISCONNECT, remaining length 0
	{name: "DISCONNECT 5.0 short form", v: 5, raw: []byte{0xE0, 0x00}, pkt: &packet.Disconnect{}},
	{
		name: "DISCONNECT 5.0 with will", v: 5,
		raw: []byte{0xE0, 0x01, 0x04}, // DISCONNECT, remaining length 1, reason: disconnect with will message
		pkt: &packet.Disconnect{ReasonCode: packet.DisconnectWithWill},
	},
	{
		name: "DISCONNECT 5.0 use another server", v: 5,
		raw: []byte{
			0xE0,                         // DISCONNECT
			0x0C,                         // remaining length 12
			0x9C,                         // reason code: use another server
			0x0A,                         // property length 10
			0x11, 0x00, 0x00, 0x00, 0x00, // session expiry interval 0
			0x1C, 0x00, 0x02, 'b', '2', // server reference "b2"
		},
		pkt: &packet.Disconnect{ReasonCode: packet.UseAnotherServer,
			Properties: with(packet.Properties{ServerReference: "b2"}, packet.PropSessionExpiry, packet.PropServerReference)},
	},
	{name: "AUTH 5.0 short form", v: 5, raw: []byte{0xF0, 0x00}, pkt: &packet.Auth{}}, // AUTH, remaining length 0
	{
		name: "AUTH 5.0 continue", v: 5,
		raw: []byte{
			0xF0,                                      // AUTH
			0x10,                                      // remaining length 16
			0x18,                                      // reason code: continue authentication
			0x0E,                                      // property length 14
			0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M', // authentication method "SCRAM"
			0x16, 0x00, 0x03, 0x01, 0x02, 0x03, // authentication data
		},
		pkt: &packet.Auth{ReasonCode: packet.ContinueAuthentication,
			Properties: with(packet.Properties{AuthMethod: "SCRAM", AuthData: []byte{1, 2, 3}},
				packet.PropAuthMethod, packet.PropAuthData)},
	},
}
