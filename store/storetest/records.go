package storetest

import (
	"bytes"
	"time"

	"github.com/mastmq/mast/store"
)

// Sample is a batch of put ops covering every field of every record kind:
// nil and empty payloads and properties, subscription identifiers and
// options, shared subscriptions, wills, zero and non-zero times (with
// nanoseconds, before and after 1970), the largest packet id, sequence
// and expiry, and client ids and topics with "/", multi-byte UTF-8 and
// prefixes of one another. It is the same on every call; golden data
// files are written from it.
func Sample() *store.Batch {
	t1 := time.Date(2025, 11, 24, 21, 2, 3, 456789012, time.UTC)
	t2 := time.Date(1969, 7, 20, 20, 17, 40, 1, time.FixedZone("X", -5*3600))
	props := []byte{0x01, 0x01, 0x03, 0x00, 0x04, 't', 'e', 'x', 't'} // payload format 1, content type "text"
	var b store.Batch
	b.PutSession(&store.Session{
		ClientID:       "sensor/1",
		Version:        5,
		Expiry:         3600,
		DisconnectedAt: t1,
		Subscriptions: []store.Subscription{
			{Filter: "house/+/temp", QoS: 1, ID: 7},
			{Filter: "$share/g1/house/#", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2, ID: 268435455},
			{Filter: "", QoS: 0},
		},
		Will: &store.Message{
			Topic: "house/sensor1/status", Payload: []byte("offline"), QoS: 1, Retain: true,
			Properties: props, Expiry: t2, Publisher: "sensor/1",
		},
		WillDelay: 30,
	})
	b.PutSession(&store.Session{ClientID: "sensor", Version: 4, Expiry: 0xFFFFFFFF})
	b.PutSession(&store.Session{
		ClientID: "sensör-ü", Version: 3, Subscriptions: []store.Subscription{},
		Will: &store.Message{Topic: "w", Payload: []byte{}, Properties: []byte{}},
	})
	b.PutSession(&store.Session{ClientID: "", Version: 5, Expiry: 1,
		Will: &store.Message{Topic: "w/nil"}})

	b.PutOutbound(&store.Outbound{
		ClientID: "sensor/1", Seq: 1, QoS: 1,
		Msg: store.Message{Topic: "house/kitchen/temp", Payload: []byte("21.5"), QoS: 1, Publisher: "p1"},
	})
	b.PutOutbound(&store.Outbound{
		ClientID: "sensor/1", Seq: 2, PacketID: 65535, QoS: 2, Retain: true,
		SubIDs: []uint32{7, 268435455}, Shared: "$share/g1/house/#", PubRel: true,
		Msg: store.Message{Topic: "house/hall/temp", Payload: bytes.Repeat([]byte{0, 0xff}, 40000),
			QoS: 2, Retain: true, Properties: props, Expiry: t1, Publisher: "p2"},
	})
	b.PutOutbound(&store.Outbound{
		ClientID: "sensor", Seq: 1<<64 - 1, PacketID: 1, SubIDs: []uint32{},
		Msg: store.Message{Topic: "t", Payload: []byte{}, Properties: []byte{}},
	})
	b.PutOutbound(&store.Outbound{ClientID: "sensör-ü", Seq: 256, Msg: store.Message{Topic: "nil/payload"}})

	b.PutInbound("sensor/1", 1)
	b.PutInbound("sensor/1", 65535)
	b.PutInbound("sensor", 256)
	b.PutInbound("", 7)

	b.PutRetained(&store.Message{Topic: "house/main-light", Payload: []byte("on"), QoS: 1, Retain: true, Publisher: "switch"})
	b.PutRetained(&store.Message{Topic: "house", Payload: []byte("root"), Retain: true})
	b.PutRetained(&store.Message{Topic: "$SYS/broker/x", Payload: []byte{}, Properties: props, Expiry: t1, QoS: 2, Retain: true})
	b.PutRetained(&store.Message{Topic: "дом/свет", Payload: bytes.Repeat([]byte("x"), 1000), Properties: []byte{}})
	b.PutRetained(&store.Message{Topic: "/", Retain: true})
	return &b
}
