package conformance_test

import (
	"testing"

	"github.com/mastmq/mast/broker"
)

// [MQTT-3.10.4-4] UNSUBSCRIBE is answered with UNSUBACK carrying its
// packet identifier [MQTT-3.10.4-5 in 3.1.1: even when nothing was
// subscribed]; [MQTT-3.10.4-2] nothing more is delivered for the removed
// subscription. 5.0 adds a reason code per filter: 0x00 Success, or 0x11
// No subscription existed [MQTT-3.11.3-1] [MQTT-3.11.3-2].
func TestUnsubscribe(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	t.Run("3.1.1", func(t *testing.T) {
		t.Parallel()
		c := connectClean(t, addr, v311, "unsub4")
		c.subscribe(1, "u4/a", 0x01)
		c.send([]byte{
			0xA2,       // UNSUBSCRIBE, reserved flags 0010
			0x0E,       // remaining length 14
			0x12, 0x34, // packet identifier 0x1234
			0x00, 0x04, 'u', '4', '/', 'a', // filter "u4/a"
			0x00, 0x04, 'u', '4', '/', 'z', // filter "u4/z": never subscribed
		})
		c.expect([]byte{
			0xB0,       // UNSUBACK
			0x02,       // remaining length 2
			0x12, 0x34, // packet identifier 0x1234
		}, "UNSUBACK")
		c.publish(1, false, "u4/a", 1, "gone")
		c.expectNothing()
	})
	t.Run("5.0", func(t *testing.T) {
		t.Parallel()
		c := connectClean(t, addr, v5, "unsub5")
		c.subscribe(1, "u5/a", 0x01)
		c.subscribe(2, "u5/+", 0x00)
		c.send([]byte{
			0xA2,       // UNSUBSCRIBE, reserved flags 0010
			0x15,       // remaining length 21
			0x43, 0x21, // packet identifier 0x4321
			0x00,                           // property length 0
			0x00, 0x04, 'u', '5', '/', 'a', // filter "u5/a"
			0x00, 0x04, 'u', '5', '/', 'z', // filter "u5/z": never subscribed
			0x00, 0x04, 'u', '5', '/', '+', // filter "u5/+"
		})
		c.expect([]byte{
			0xB0,       // UNSUBACK
			0x06,       // remaining length 6
			0x43, 0x21, // packet identifier 0x4321
			0x00, // property length 0
			0x00, // "u5/a": Success
			0x11, // "u5/z": No subscription existed
			0x00, // "u5/+": Success
		}, "UNSUBACK")
		c.publish(1, false, "u5/a", 1, "gone")
		c.expectNothing()
		// Unsubscribing again: nothing exists any more.
		c.send([]byte{
			0xA2,       // UNSUBSCRIBE
			0x09,       // remaining length 9
			0x43, 0x22, // packet identifier 0x4322
			0x00,                           // property length 0
			0x00, 0x04, 'u', '5', '/', 'a', // filter "u5/a"
		})
		c.expect([]byte{
			0xB0,       // UNSUBACK
			0x04,       // remaining length 4
			0x43, 0x22, // packet identifier 0x4322
			0x00, // property length 0
			0x11, // No subscription existed
		}, "UNSUBACK")
	})
}

// Unsubscribing a shared subscription removes that client from the group
// only (5.0 §4.8.2): the remaining member gets every message.
func TestUnsubscribeShared(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	m1 := connectClean(t, addr, v5, "us-m1")
	m1.subscribe(1, "$share/g/us/t", 0x00)
	m2 := connectClean(t, addr, v5, "us-m2")
	m2.subscribe(1, "$share/g/us/t", 0x00)
	m1.send([]byte{
		0xA2,       // UNSUBSCRIBE
		0x12,       // remaining length 18
		0x00, 0x02, // packet identifier 2
		0x00,                                                                        // property length 0
		0x00, 0x0D, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'u', 's', '/', 't', // "$share/g/us/t"
	})
	m1.expect([]byte{0xB0, 0x04, 0x00, 0x02, 0x00, 0x00}, "UNSUBACK")
	pub := connectClean(t, addr, v5, "us-pub")
	for i := range 4 {
		pub.publish(0, false, "us/t", 0, string(rune('a'+i)))
	}
	pub.ping() // all routed
	if n := len(m2.drain()); n != 4 {
		t.Fatalf("remaining member got %d of 4 messages", n)
	}
	m1.expectNothing()
}
