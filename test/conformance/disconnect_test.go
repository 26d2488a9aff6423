package conformance_test

import (
	"testing"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

// willConnect is a CONNECT with clean session / clean start, keep alive 0,
// the client id and a will: QoS from flags, topic and payload, and for v5
// the CONNECT and will properties.
func willConnect(version byte, id string, flags byte, topic, payload string, connProps, willProps []byte) []byte {
	flags |= flagClean | flagWill
	if version == v5 {
		return connect5(id, flags, 0, connProps,
			props(willProps), // will properties
			str(topic),       // will topic
			str(payload))     // will payload
	}
	return connect311(id, flags, 0,
		str(topic),   // will topic
		str(payload)) // will message
}

// connectWithWill connects a client that has a will and checks the
// CONNACK.
func connectWithWill(t *testing.T, addr string, version byte, id string, flags byte, topic, payload string, connProps, willProps []byte) *client {
	t.Helper()
	c := dial(t, addr, version, id)
	c.send(willConnect(version, id, flags, topic, payload, connProps, willProps))
	if version == v5 {
		if ack := c.expectConnack5(); ack.ReasonCode != 0 {
			t.Fatalf("CONNACK 0x%02X", ack.ReasonCode)
		}
	} else {
		c.expect(connack311(false, 0), "CONNACK")
	}
	return c
}

// [MQTT-3.14.4-3] On a DISCONNECT (5.0: with reason 0x00) the server
// discards the will without publishing it [MQTT-3.1.2-10]; and the
// connection ends (§3.14.4).
func TestNormalDisconnectDiscardsWill(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	for _, v := range []byte{v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			vn := versionName(v)
			watcher := connectClean(t, addr, v, "watch-"+vn)
			watcher.subscribe(1, "nwill/"+vn, 0x01)
			c := connectWithWill(t, addr, v, "nwill-"+vn, flagWillQoS1, "nwill/"+vn, "bye", nil, nil)
			c.send([]byte{
				0xE0, // DISCONNECT
				0x00, // remaining length 0: 0x00 Normal disconnection in 5.0
			})
			c.expectCloseSilently()
			watcher.expectNothing()
		})
	}
	t.Run("5.0 reason 0x00 written out", func(t *testing.T) {
		t.Parallel()
		watcher := connectClean(t, addr, v5, "watch-rc0")
		watcher.subscribe(1, "nwill/rc0", 0x01)
		c := connectWithWill(t, addr, v5, "nwill-rc0", 0, "nwill/rc0", "bye", nil, nil)
		c.send([]byte{
			0xE0, // DISCONNECT
			0x02, // remaining length 2
			0x00, // reason 0x00 Normal disconnection
			0x00, // property length 0
		})
		c.expectCloseSilently()
		watcher.expectNothing()
	})
}

// [MQTT-3.1.2-8] The will is published when the connection closes without
// DISCONNECT: dropped by the client, or closed by the server for a
// protocol error. [MQTT-3.1.2-16] [MQTT-3.1.2-17] (3.1.1; 5.0 the same
// numbers) A will without Will Retain is published non-retained, one with
// it retained; at the will QoS.
func TestWillPublished(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	for _, v := range []byte{v311, v5} {
		vn := versionName(v)
		t.Run(vn+"/dropped", func(t *testing.T) {
			t.Parallel()
			watcher := connectClean(t, addr, v, "wd-watch-"+vn)
			watcher.subscribe(1, "will/d/"+vn, 0x02)
			c := connectWithWill(t, addr, v, "wd-"+vn, flagWillQoS1, "will/d/"+vn, "gone", nil, nil)
			c.drop()
			p := watcher.expectMessage("will/d/"+vn, "gone", 1, false)
			watcher.send(puback(p.PacketID))
		})
		t.Run(vn+"/protocol error", func(t *testing.T) {
			t.Parallel()
			watcher := connectClean(t, addr, v, "wp-watch-"+vn)
			watcher.subscribe(1, "will/p/"+vn, 0x00)
			c := connectWithWill(t, addr, v, "wp-"+vn, 0, "will/p/"+vn, "broken", nil, nil)
			c.send([]byte{
				0x36, // PUBLISH with QoS 3 [MQTT-3.3.1-4]
				0x00, // remaining length 0
			})
			c.expectClosed()
			watcher.expectMessage("will/p/"+vn, "broken", 0, false)
		})
		t.Run(vn+"/retained", func(t *testing.T) {
			t.Parallel()
			watcher := connectClean(t, addr, v, "wr-watch-"+vn)
			watcher.subscribe(1, "will/r/"+vn, 0x00)
			c := connectWithWill(t, addr, v, "wr-"+vn, flagWillRet, "will/r/"+vn, "kept", nil, nil)
			c.drop()
			// Live subscribers see it with RETAIN 0 [MQTT-3.3.1-9] ...
			watcher.expectMessage("will/r/"+vn, "kept", 0, false)
			// ... and it is stored for later ones.
			late := connectClean(t, addr, v, "wr-late-"+vn)
			late.subscribe(1, "will/r/"+vn, 0x00)
			late.expectMessage("will/r/"+vn, "kept", 0, true)
		})
	}
}

// (5.0) [MQTT-3.14.4-3] DISCONNECT with reason 0x04 Disconnect with Will
// Message has the will published.
func TestDisconnectWithWillMessage(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	watcher := connectClean(t, addr, v5, "watch")
	watcher.subscribe(1, "will/04", 0x00)
	c := connectWithWill(t, addr, v5, "dww", 0, "will/04", "asked for", nil, nil)
	c.send([]byte{
		0xE0, // DISCONNECT
		0x01, // remaining length 1
		0x04, // reason 0x04 Disconnect with Will Message
	})
	c.expectCloseSilently()
	watcher.expectMessage("will/04", "asked for", 0, false)
}

// (5.0 §3.14.2.2.2) A client that connected with Session Expiry Interval 0
// may not set a non-zero one at DISCONNECT: that is a Protocol Error, the
// server answers DISCONNECT 0x82, and since the DISCONNECT was not valid
// the will is published [MQTT-3.1.2-8]. (Its companion [MQTT-3.14.2-2]
// forbids the server from sending a Session Expiry Interval in DISCONNECT.)
func TestDisconnectSessionExpiryFromZero(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	watcher := connectClean(t, addr, v5, "watch")
	watcher.subscribe(1, "will/sei", 0x00)
	c := connectWithWill(t, addr, v5, "sei", 0, "will/sei", "invalid disconnect", nil, nil)
	c.send([]byte{
		0xE0,                         // DISCONNECT
		0x07,                         // remaining length 7
		0x00,                         // reason 0x00 Normal disconnection
		0x05,                         // property length 5
		0x11, 0x00, 0x00, 0x00, 0x0A, // Session Expiry Interval 10
	})
	got := c.expectClosed()
	if len(got) < 3 || got[0] != 0xE0 || got[2] != packet.ProtocolError {
		t.Fatalf("got % X (%s), want DISCONNECT 0x82", got, c.describe(got))
	}
	if d, ok := c.decode(got).(*packet.Disconnect); ok && d.Properties.Has(packet.PropSessionExpiry) {
		t.Fatalf("server DISCONNECT carries a Session Expiry Interval [MQTT-3.14.2-2]")
	}
	watcher.expectMessage("will/sei", "invalid disconnect", 0, false)

	// Without a session expiry at DISCONNECT all is well.
	c2, _ := connect(t, addr, v5, "sei2", flagClean, false)
	c2.send([]byte{
		0xE0,                         // DISCONNECT
		0x07,                         // remaining length 7
		0x00,                         // reason 0x00 Normal disconnection
		0x05,                         // property length 5
		0x11, 0x00, 0x00, 0x00, 0x00, // Session Expiry Interval 0: unchanged
	})
	c2.expectCloseSilently()
}

// (5.0 §3.14.2.2.2) A DISCONNECT may lower the session expiry: 0 ends the
// session at once, so the next Clean Start 0 finds none [MQTT-3.2.2-3].
func TestDisconnectEndsSession(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	c, _ := connect(t, addr, v5, "short", flagClean, false, propSessionExpiry(300))
	c.subscribe(1, "des/t", 0x01)
	c.send([]byte{
		0xE0,                         // DISCONNECT
		0x07,                         // remaining length 7
		0x00,                         // reason 0x00 Normal disconnection
		0x05,                         // property length 5
		0x11, 0x00, 0x00, 0x00, 0x00, // Session Expiry Interval 0
	})
	c.expectCloseSilently()
	connect(t, addr, v5, "short", 0x00, false, propSessionExpiry(300))
}
