package conformance_test

import (
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

// [MQTT-3.1.0-1] The first packet from the client must be CONNECT; a server
// that gets anything else closes the connection without a CONNACK.
func TestFirstPacketMustBeConnect(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	cases := []struct {
		name  string
		bytes []byte
	}{
		{"PINGREQ", []byte{
			0xC0, // PINGREQ
			0x00, // remaining length 0
		}},
		{"PUBLISH", []byte{
			0x30,            // PUBLISH QoS 0
			0x05,            // remaining length 5
			0x00, 0x01, 'a', // topic "a"
			'h', 'i', // payload "hi"
		}},
		{"SUBSCRIBE", []byte{
			0x82,       // SUBSCRIBE
			0x06,       // remaining length 6
			0x00, 0x01, // packet identifier 1
			0x00, 0x01, '#', // filter "#"
			0x00, // QoS 0
		}},
		{"DISCONNECT", []byte{
			0xE0, // DISCONNECT
			0x00, // remaining length 0
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, addr, v311, "first")
			c.send(tc.bytes)
			c.expectCloseSilently()
		})
	}
}

// [MQTT-3.1.0-2] A second CONNECT is a protocol violation: 3.1.1 closes, 5.0
// closes with DISCONNECT 0x82 Protocol Error.
func TestSecondConnectCloses(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	for _, v := range []byte{v31, v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			c := connectClean(t, addr, v, "twice"+versionName(v))
			c.send(connectPacket(v, "twice"+versionName(v), flagClean))
			c.expectProtocolClose(packet.ProtocolError)
		})
	}
}

// [MQTT-3.1.2-1] A protocol name other than "MQTT" (or "MQIsdp" for 3.1)
// means the client does not speak this protocol: the server closes the
// connection, and must not go on as if it were MQTT.
func TestBadProtocolName(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	c := dial(t, addr, v311, "name")
	c.send([]byte{
		0x10,       // CONNECT
		0x0D,       // remaining length 13
		0x00, 0x04, // protocol name length 4
		'M', 'Q', 'T', 'X', // protocol name "MQTX"
		0x04,       // protocol level 4
		0x02,       // connect flags: clean session
		0x00, 0x00, // keep alive 0
		0x00, 0x01, 'c', // client id "c"
	})
	got := c.expectClosed()
	// The server may say CONNACK 0x01 before closing; it must not accept.
	if len(got) > 0 && !(len(got) == 4 && got[0] == 0x20 && got[3] != 0x00) {
		t.Fatalf("got % X before the close, want nothing or a refusing CONNACK", got)
	}
}

// [MQTT-3.1.2-2] A protocol level the server does not support gets CONNACK
// return code 0x01 (unacceptable protocol version) and a close. 5.0 lets
// the server answer with the 3.1.1-shaped CONNACK 0x01 to a client whose
// level it does not know, which is what a client of any level understands.
func TestUnsupportedProtocolLevel(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	cases := []struct {
		name  string
		bytes []byte
	}{
		{"MQTT level 6", []byte{
			0x10,                           // CONNECT
			0x0D,                           // remaining length 13
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x06,       // protocol level 6: no such version
			0x02,       // connect flags: clean session
			0x00, 0x00, // keep alive 0
			0x00, 0x01, 'c', // client id "c"
		}},
		{"MQTT level 3", []byte{
			0x10,                           // CONNECT
			0x0D,                           // remaining length 13
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x03,       // protocol level 3 goes with "MQIsdp", not "MQTT"
			0x02,       // connect flags: clean session
			0x00, 0x00, // keep alive 0
			0x00, 0x01, 'c', // client id "c"
		}},
		{"MQTT level 0", []byte{
			0x10,                           // CONNECT
			0x0D,                           // remaining length 13
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x00,       // protocol level 0
			0x02,       // connect flags: clean session
			0x00, 0x00, // keep alive 0
			0x00, 0x01, 'c', // client id "c"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, addr, v311, "level")
			c.send(tc.bytes)
			c.expect([]byte{
				0x20, // CONNACK
				0x02, // remaining length 2
				0x00, // session present 0 [MQTT-3.2.2-4]
				0x01, // 0x01 unacceptable protocol version
			}, "CONNACK")
			if got := c.expectClosed(); len(got) > 0 {
				t.Fatalf("got % X after the CONNACK, want the close", got)
			}
		})
	}
}

// [MQTT-3.1.2-3] The reserved connect flag must be 0; if it is not, the
// server closes the connection (5.0: it is a Malformed Packet, which may be
// answered with CONNACK 0x81 [MQTT 5.0 §4.13]).
func TestConnectReservedFlag(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	t.Run("3.1.1", func(t *testing.T) {
		t.Parallel()
		c := dial(t, addr, v311, "reserved")
		c.send([]byte{
			0x10,                           // CONNECT
			0x0D,                           // remaining length 13
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x04,       // protocol level 4
			0x03,       // connect flags: clean session and the reserved bit 0
			0x00, 0x00, // keep alive 0
			0x00, 0x01, 'c', // client id "c"
		})
		c.expectCloseSilently()
	})
	t.Run("5.0", func(t *testing.T) {
		t.Parallel()
		c := dial(t, addr, v5, "reserved5")
		c.send([]byte{
			0x10,                           // CONNECT
			0x0E,                           // remaining length 14
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x05,       // protocol level 5
			0x03,       // connect flags: clean start and the reserved bit 0
			0x00, 0x00, // keep alive 0
			0x00,            // property length 0
			0x00, 0x01, 'c', // client id "c"
		})
		got := c.expectClosed()
		if len(got) > 0 && !(len(got) >= 4 && got[0] == 0x20 && got[3] == packet.MalformedPacket) {
			t.Fatalf("got % X before the close, want nothing or CONNACK 0x81", got)
		}
	})
}

// [MQTT-3.1.3-8] (3.1.1) An empty client id with Clean Session 0 gets
// CONNACK 0x02 (identifier rejected) and a close; [MQTT-3.1.3-6]
// [MQTT-3.1.3-7] with Clean Session 1 the server may accept it and assign
// an id. 3.1 client ids are 1 to 23 characters [MQTT 3.1 §3.1].
func TestEmptyClientID(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	t.Run("3.1.1 clean session 0", func(t *testing.T) {
		t.Parallel()
		c := dial(t, addr, v311, "empty")
		c.send([]byte{
			0x10,                           // CONNECT
			0x0C,                           // remaining length 12
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x04,       // protocol level 4
			0x00,       // connect flags: clean session 0
			0x00, 0x3C, // keep alive 60
			0x00, 0x00, // client id "" (empty)
		})
		c.expect([]byte{
			0x20, // CONNACK
			0x02, // remaining length 2
			0x00, // session present 0
			0x02, // 0x02 identifier rejected
		}, "CONNACK")
		if got := c.expectClosed(); len(got) > 0 {
			t.Fatalf("got % X after CONNACK 0x02, want the close", got)
		}
	})
	t.Run("3.1.1 clean session 1", func(t *testing.T) {
		t.Parallel()
		c := dial(t, addr, v311, "empty-clean")
		c.send([]byte{
			0x10,                           // CONNECT
			0x0C,                           // remaining length 12
			0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
			0x04,       // protocol level 4
			0x02,       // connect flags: clean session 1
			0x00, 0x3C, // keep alive 60
			0x00, 0x00, // client id "" (empty)
		})
		c.expect([]byte{
			0x20, // CONNACK
			0x02, // remaining length 2
			0x00, // session present 0
			0x00, // accepted
		}, "CONNACK")
		c.ping()
	})
	t.Run("3.1", func(t *testing.T) {
		t.Parallel()
		c := dial(t, addr, v31, "empty31")
		c.send([]byte{
			0x10,                                     // CONNECT
			0x0E,                                     // remaining length 14
			0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', // protocol name "MQIsdp"
			0x03,       // protocol level 3
			0x02,       // connect flags: clean session 1
			0x00, 0x3C, // keep alive 60
			0x00, 0x00, // client id "" (empty)
		})
		c.expect([]byte{
			0x20, // CONNACK
			0x02, // remaining length 2
			0x00, // reserved
			0x02, // 0x02 identifier rejected
		}, "CONNACK")
		c.expectClosed()
	})
}

// [MQTT-3.2.2-16] (5.0) A client that connects with an empty client id gets
// an Assigned Client Identifier in CONNACK, not used by any other session.
func TestAssignedClientIdentifier(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	emptyID := []byte{
		0x10,                           // CONNECT
		0x0D,                           // remaining length 13
		0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
		0x05,       // protocol level 5
		0x02,       // connect flags: clean start
		0x00, 0x3C, // keep alive 60
		0x00,       // property length 0
		0x00, 0x00, // client id "" (empty)
	}
	seen := map[string]bool{}
	for i := 0; i < 2; i++ {
		c := dial(t, addr, v5, "anonymous")
		c.send(emptyID)
		ack := c.expectConnack5()
		if ack.ReasonCode != 0 {
			t.Fatalf("CONNACK reason 0x%02X, want 0x00", ack.ReasonCode)
		}
		if !ack.Properties.Has(packet.PropAssignedClientID) || ack.Properties.AssignedClientID == "" {
			t.Fatalf("CONNACK has no Assigned Client Identifier: %+v", ack.Properties)
		}
		id := ack.Properties.AssignedClientID
		if seen[id] {
			t.Fatalf("Assigned Client Identifier %q given twice", id)
		}
		seen[id] = true
	}
	// A client that names itself gets no assigned id.
	_, ack := connect(t, addr, v5, "named", flagClean, false)
	if ack.Properties.Has(packet.PropAssignedClientID) {
		t.Fatalf("CONNACK assigns %q to a client that gave its id", ack.Properties.AssignedClientID)
	}
}

// [MQTT-3.2.2-1] (3.1.1) / [MQTT-3.2.2-2] (5.0) Clean Session / Clean Start
// 1 is answered with session present 0, even when a session existed; and
// [MQTT-3.1.2-6] (3.1.1) / [MQTT-3.1.2-4] (5.0) that session is discarded.
func TestSessionPresentZeroOnCleanStart(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	for _, v := range []byte{v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			id := "sp-" + versionName(v)
			c, _ := connect(t, addr, v, id, 0x00, false, propSessionExpiry(300))
			c.subscribe(1, "sp/"+versionName(v), 0x01)
			c.send(disconnect)
			c.expectClosed()
			// Clean start over the stored session: session present 0.
			c, _ = connect(t, addr, v, id, flagClean, false, propSessionExpiry(300))
			c.send(disconnect)
			c.expectClosed()
			// The old session, and its subscription, are gone. A 5.0
			// client with a Session Expiry Interval left a new, empty
			// session behind [MQTT-3.1.2-23]; 3.1.1 Clean Session 1 did
			// not [MQTT-3.1.2-6].
			c, _ = connect(t, addr, v, id, 0x00, v == v5, propSessionExpiry(300))
			p := connectClean(t, addr, v, "pub-"+id)
			p.publish(1, false, "sp/"+versionName(v), 1, "x")
			c.expectNothing()
		})
	}
}

// A socket that opens and says nothing is closed once the connect timeout
// passes (the 3.1.1 and 5.0 standards suggest a reasonable time, §4.8 and
// §4.2); so is one that stops in the middle of its CONNECT.
func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{ConnectTimeout: 500 * time.Millisecond})
	t.Run("silent", func(t *testing.T) {
		t.Parallel()
		c := dial(t, addr, v311, "silent")
		c.expectCloseSilently()
	})
	t.Run("half a CONNECT", func(t *testing.T) {
		t.Parallel()
		c := dial(t, addr, v311, "half")
		c.send([]byte{
			0x10,                 // CONNECT
			0x0D,                 // remaining length 13
			0x00, 0x04, 'M', 'Q', // protocol name "MQTT", cut short
		})
		c.expectCloseSilently()
	})
}

// [MQTT-3.1.2-24] (3.1.1) / [MQTT-3.1.2-22] (5.0) With a non-zero keep
// alive, the server closes a connection from which nothing arrives for one
// and a half times the keep alive; any packet restarts the clock. A 5.0
// client is told DISCONNECT 0x8D Keep Alive timeout.
func TestKeepAliveTimeout(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	for _, v := range []byte{v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			c := dial(t, addr, v, "keepalive")
			if v == v5 {
				c.send(connect5("ka5", flagClean, 1, nil)) // keep alive 1 s
				if ack := c.expectConnack5(); ack.ReasonCode != 0 {
					t.Fatalf("CONNACK 0x%02X", ack.ReasonCode)
				}
			} else {
				c.send(connect311("ka4", flagClean, 1)) // keep alive 1 s
				c.expect(connack311(false, 0), "CONNACK")
			}
			// Pinging every 0.7 s keeps the connection up past 1.5 s.
			start := time.Now()
			for time.Since(start) < 2100*time.Millisecond {
				time.Sleep(700 * time.Millisecond)
				c.ping()
			}
			silentFrom := time.Now()
			if v == v5 {
				c.expectDisconnect(packet.KeepAliveTimeout)
			} else {
				c.expectCloseSilently()
			}
			if d := time.Since(silentFrom); d < time.Second {
				t.Fatalf("closed %v after the last packet, before the keep alive of 1 s", d)
			}
		})
	}
}

// [MQTT-3.2.2-21] (5.0) A server with a keep alive cap sends Server Keep
// Alive in CONNACK when the client asks for more (or for 0), and then uses
// it [MQTT-3.1.2-22]; [MQTT-3.2.2-22] otherwise it sends none and uses the
// client's.
func TestServerKeepAlive(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{MaxKeepAlive: 1})
	cases := []struct {
		name      string
		keepAlive uint16
		want      bool
	}{
		{"above the cap", 60, true},
		{"zero", 0, true},
		{"at the cap", 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, addr, v5, "ska")
			c.send(connect5("ska-"+tc.name, flagClean, tc.keepAlive, nil))
			ack := c.expectConnack5()
			if got := ack.Properties.Has(packet.PropServerKeepAlive); got != tc.want {
				t.Fatalf("Server Keep Alive present %v, want %v (%+v)", got, tc.want, ack.Properties)
			}
			if tc.want && ack.Properties.ServerKeepAlive != 1 {
				t.Fatalf("Server Keep Alive %d, want 1", ack.Properties.ServerKeepAlive)
			}
			// The server holds the client to 1 s: silence closes it.
			c.expectDisconnect(packet.KeepAliveTimeout)
		})
	}
}

// (5.0 §3.2.2.3) CONNACK tells the client the server's capabilities:
// Receive Maximum, Maximum Packet Size, Topic Alias Maximum, Maximum QoS
// and Retain Available when limited, and the availability of wildcard
// subscriptions, subscription identifiers and shared subscriptions.
func TestConnackCapabilities(t *testing.T) {
	t.Parallel()
	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		addr := startBroker(t, broker.Options{ReceiveMaximum: 10, MaxPacketSize: 4096, TopicAliasMaximum: 5})
		_, ack := connect(t, addr, v5, "caps", flagClean, false)
		p := &ack.Properties
		checks := []struct {
			name string
			id   packet.PropID
			got  uint32
			want uint32
		}{
			{"Receive Maximum", packet.PropReceiveMaximum, uint32(p.ReceiveMaximum), 10},
			{"Maximum Packet Size", packet.PropMaximumPacketSize, p.MaximumPacketSize, 4096},
			{"Topic Alias Maximum", packet.PropTopicAliasMaximum, uint32(p.TopicAliasMaximum), 5},
			{"Wildcard Subscription Available", packet.PropWildcardSubAvailable, uint32(p.WildcardSubAvailable), 1},
			{"Subscription Identifiers Available", packet.PropSubIDAvailable, uint32(p.SubIDAvailable), 1},
			{"Shared Subscription Available", packet.PropSharedSubAvailable, uint32(p.SharedSubAvailable), 1},
		}
		for _, c := range checks {
			if !p.Has(c.id) {
				t.Errorf("%s absent", c.name)
			} else if c.got != c.want {
				t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
			}
		}
		// Absent means QoS 2 and retain are available [MQTT 5.0 §3.2.2.3.4-5].
		if p.Has(packet.PropMaximumQoS) {
			t.Errorf("Maximum QoS %d sent by a server that supports QoS 2", p.MaximumQoS)
		}
		if p.Has(packet.PropRetainAvailable) && p.RetainAvailable != 1 {
			t.Errorf("Retain Available 0 on a server with retain")
		}
	})
	t.Run("limited", func(t *testing.T) {
		t.Parallel()
		addr := startBroker(t, broker.Options{MaxQoS: 1, DisableRetain: true, DisableTopicAlias: true})
		_, ack := connect(t, addr, v5, "caps", flagClean, false)
		p := &ack.Properties
		// [MQTT-3.2.2-9] A server without QoS 2 sends Maximum QoS.
		if !p.Has(packet.PropMaximumQoS) || p.MaximumQoS != 1 {
			t.Errorf("Maximum QoS: present %v value %d, want 1", p.Has(packet.PropMaximumQoS), p.MaximumQoS)
		}
		if !p.Has(packet.PropRetainAvailable) || p.RetainAvailable != 0 {
			t.Errorf("Retain Available: present %v value %d, want 0", p.Has(packet.PropRetainAvailable), p.RetainAvailable)
		}
		if p.Has(packet.PropTopicAliasMaximum) && p.TopicAliasMaximum != 0 {
			t.Errorf("Topic Alias Maximum %d with topic aliases off", p.TopicAliasMaximum)
		}
	})
}

// [MQTT-3.2.2-12] (5.0) A will QoS above the server's Maximum QoS is
// refused with CONNACK 0x9B; [MQTT-3.2.2-13] a retained will on a server
// without retain with 0x9A.
func TestWillBeyondCapabilities(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{MaxQoS: 1, DisableRetain: true})
	cases := []struct {
		name  string
		flags byte
		want  byte
	}{
		{"will QoS 2", flagClean | flagWill | flagWillQoS2, packet.QoSNotSupported},
		{"will retain", flagClean | flagWill | flagWillRet, packet.RetainNotSupported},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, addr, v5, "will")
			c.send(connect5("will", tc.flags, 0, nil,
				props(),           // will property length 0
				str("will/topic"), // will topic
				str("bye")))       // will payload
			c.expect([]byte{
				0x20,    // CONNACK
				0x03,    // remaining length 3
				0x00,    // session present 0 [MQTT-3.2.2-6]
				tc.want, // reason code
				0x00,    // property length 0
			}, "CONNACK")
			c.expectClosed()
		})
	}
}

// MQTT 3.1 (protocol name "MQIsdp", level 3) clients connect and get the
// CONNACK they know, and their packets work: 3.1 sends SUBSCRIBE with QoS
// 1 in the fixed header and sets DUP when it retries [MQTT 3.1 §3.8].
func TestMQTT31(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	c := dial(t, addr, v31, "old")
	c.send([]byte{
		0x10,                                     // CONNECT
		0x11,                                     // remaining length 17
		0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', // protocol name "MQIsdp"
		0x03,       // protocol level 3
		0x02,       // connect flags: clean session
		0x00, 0x3C, // keep alive 60
		0x00, 0x03, 'o', 'l', 'd', // client id "old"
	})
	c.expect([]byte{
		0x20, // CONNACK
		0x02, // remaining length 2
		0x00, // reserved
		0x00, // accepted
	}, "CONNACK")
	c.ping()
	c.send([]byte{
		0x8A,       // SUBSCRIBE, QoS 1 and DUP: a 3.1 retry
		0x08,       // remaining length 8
		0x00, 0x05, // packet identifier 5
		0x00, 0x03, '3', '/', '1', // filter "3/1"
		0x01, // QoS 1
	})
	c.expect([]byte{
		0x90,       // SUBACK
		0x03,       // remaining length 3
		0x00, 0x05, // packet identifier 5
		0x01, // granted QoS 1
	}, "SUBACK")
	c.send([]byte{
		0x32,                      // PUBLISH QoS 1
		0x0A,                      // remaining length 10
		0x00, 0x03, '3', '/', '1', // topic "3/1"
		0x00, 0x06, // packet identifier 6
		'o', 'l', 'd', // payload "old"
	})
	// The PUBACK and the delivery, in either order.
	var ack, msg bool
	for !ack || !msg {
		raw := c.next()
		switch raw[0] >> 4 {
		case 4:
			if string(raw) != string([]byte{0x40, 0x02, 0x00, 0x06}) {
				t.Fatalf("got % X, want PUBACK 40 02 00 06", raw)
			}
			ack = true
		case 3:
			p := c.decode(raw).(*packet.Publish)
			if p.Topic != "3/1" || string(p.Payload) != "old" || p.QoS != 1 {
				t.Fatalf("got %s", c.describe(raw))
			}
			c.send(puback(p.PacketID))
			msg = true
		default:
			t.Fatalf("got % X (%s)", raw, c.describe(raw))
		}
	}
	c.send([]byte{
		0xA2,       // UNSUBSCRIBE
		0x07,       // remaining length 7
		0x00, 0x07, // packet identifier 7
		0x00, 0x03, '3', '/', '1', // filter "3/1"
	})
	c.expect([]byte{0xB0, 0x02, 0x00, 0x07}, "UNSUBACK")
}
