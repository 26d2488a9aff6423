package conformance_test

import (
	"testing"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

// (5.0) [MQTT-3.3.4-9] The server has at most the client's Receive Maximum
// QoS 1 and 2 PUBLISH packets unacknowledged; the next one waits for a
// PUBACK. [MQTT-3.3.4-10] QoS 0 messages are not held back.
func TestReceiveMaximumQoS1(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	sub := connectClean(t, addr, v5, "rm-sub", propReceiveMaximum(2))
	sub.subscribe(1, "rm/t", 0x01)
	pub := connectClean(t, addr, v5, "rm-pub")
	for i, payload := range []string{"1", "2", "3"} {
		pub.publish(1, false, "rm/t", uint16(i+1), payload)
	}
	p1 := sub.expectMessage("rm/t", "1", 1, false)
	p2 := sub.expectMessage("rm/t", "2", 1, false)
	sub.expectNothing()
	pub.publish(0, false, "rm/t", 0, "qos0")
	sub.expectMessage("rm/t", "qos0", 0, false)
	sub.send(puback(p1.PacketID))
	p3 := sub.expectMessage("rm/t", "3", 1, false)
	if p3.PacketID == p2.PacketID {
		t.Fatalf("packet id %d in use twice [MQTT-2.2.1-4]", p3.PacketID)
	}
	sub.send(puback(p2.PacketID), puback(p3.PacketID))
	sub.expectNothing()
}

// (5.0) [MQTT-3.3.4-9] For QoS 2 the slot is taken until PUBCOMP: PUBREC
// does not free it.
func TestReceiveMaximumQoS2(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	sub := connectClean(t, addr, v5, "rm2-sub", propReceiveMaximum(1))
	sub.subscribe(1, "rm2/t", 0x02)
	pub := connectClean(t, addr, v5, "rm2-pub")
	pub.publish(2, false, "rm2/t", 1, "a")
	pub.publish(2, false, "rm2/t", 2, "b")
	p := sub.expectMessage("rm2/t", "a", 2, false)
	sub.send(pubrec(p.PacketID))
	sub.expect(pubrel(p.PacketID), "PUBREL")
	sub.expectNothing()
	sub.send(pubcomp(p.PacketID))
	p = sub.expectMessage("rm2/t", "b", 2, false)
	sub.send(pubrec(p.PacketID))
	sub.expect(pubrel(p.PacketID), "PUBREL")
	sub.send(pubcomp(p.PacketID))
}

// (5.0 §3.3.4) A client that sends more QoS 2 PUBLISH packets than the
// server's Receive Maximum without completing them is disconnected with
// 0x93 Receive Maximum exceeded.
func TestReceiveMaximumExceededByClient(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{ReceiveMaximum: 2})
	c := connectClean(t, addr, v5, "greedy")
	for pid := uint16(1); pid <= 2; pid++ {
		c.send(publishPacket(v5, 2, false, "greedy/t", pid, "x"))
		c.expectAck(0x50, pid, "PUBREC")
	}
	c.send(publishPacket(v5, 2, false, "greedy/t", 3, "x"))
	c.expectDisconnect(packet.ReceiveMaximumExceeded)
}
