package packet_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/mastmq/mast/packet"
)

// TestAppendInvalid lists packets Append must refuse, leaving dst as it was.
func TestAppendInvalid(t *testing.T) {
	long := strings.Repeat("x", 65536)
	alias := with(packet.Properties{TopicAlias: 1}, packet.PropTopicAlias)
	for _, tc := range []struct {
		name string
		v    byte
		p    packet.Packet
	}{
		{"level 2", 2, &packet.Pingreq{}},
		{"level 6", 6, &packet.Pingreq{}},
		{"nil interface", 4, nil},
		{"nil pointer", 4, (*packet.Publish)(nil)},
		{"nil Ack", 4, (*packet.Ack)(nil)},
		{"AUTH at 3.1.1", 4, &packet.Auth{}},
		{"CONNECT Version unlike level", 4, &packet.Connect{Version: 5}},
		{"CONNECT protocol name unlike level", 3, &packet.Connect{ProtocolName: "MQTT"}},
		{"CONNECT will QoS 3", 4, &packet.Connect{WillFlag: true, WillQoS: 3}},
		{"CONNECT will QoS without will", 4, &packet.Connect{WillQoS: 1}},
		{"CONNECT will retain without will", 5, &packet.Connect{WillRetain: true}},
		{"CONNECT password without user name", 4, &packet.Connect{PasswordFlag: true}},
		{"CONNECT client identifier too long", 4, &packet.Connect{ClientID: long}},
		{"CONNECT will payload too long", 4, &packet.Connect{WillFlag: true, WillPayload: []byte(long)}},
		{"CONNECT topic alias property", 5, &packet.Connect{Properties: alias}},
		{"CONNECT receive maximum 0", 5, &packet.Connect{Properties: with(packet.Properties{}, packet.PropReceiveMaximum)}},
		{"CONNECT will delay outside will", 5, &packet.Connect{Properties: with(packet.Properties{}, packet.PropWillDelay)}},
		{"CONNECT authentication data without method", 5, &packet.Connect{Properties: with(packet.Properties{}, packet.PropAuthData)}},
		{"CONNACK return code 0x87 at 3.1.1", 4, &packet.Connack{ReasonCode: packet.NotAuthorized}},
		{"CONNACK reason code 0x10", 5, &packet.Connack{ReasonCode: packet.NoMatchingSubscribers}},
		{"CONNACK session present with refusal", 4, &packet.Connack{SessionPresent: true, ReasonCode: 5}},
		{"CONNACK maximum QoS 2", 5, &packet.Connack{Properties: with(packet.Properties{MaximumQoS: 2}, packet.PropMaximumQoS)}},
		{"PUBLISH QoS 3", 4, &packet.Publish{QoS: 3, Topic: "t", PacketID: 1}},
		{"PUBLISH DUP with QoS 0", 4, &packet.Publish{Dup: true, Topic: "t"}},
		{"PUBLISH packet identifier 0", 4, &packet.Publish{QoS: 1, Topic: "t"}},
		{"PUBLISH topic too long", 4, &packet.Publish{Topic: long}},
		{"PUBLISH 5.0 empty topic without alias", 5, &packet.Publish{}},
		{"PUBLISH 5.0 empty topic with other properties", 5, &packet.Publish{Properties: with(packet.Properties{}, packet.PropMessageExpiry)}},
		{"PUBLISH topic alias 0", 5, &packet.Publish{Topic: "t", Properties: with(packet.Properties{}, packet.PropTopicAlias)}},
		{"PUBLISH subscription identifier 0", 5, &packet.Publish{Topic: "t", Properties: packet.Properties{SubscriptionIDs: []uint32{0}}}},
		{"PUBLISH subscription identifier too large", 5, &packet.Publish{Topic: "t", Properties: packet.Properties{SubscriptionIDs: []uint32{1 << 28}}}},
		{"PUBLISH reason string", 5, &packet.Publish{Topic: "t", Properties: with(packet.Properties{}, packet.PropReasonString)}},
		{"PUBLISH user property too long", 5, &packet.Publish{Topic: "t", Properties: packet.Properties{User: []packet.UserProperty{{Key: long}}}}},
		// 4097 filters of 65535 bytes, sharing one string: over MaxRemainingLength.
		{"UNSUBSCRIBE too large", 4, &packet.Unsubscribe{PacketID: 1, Filters: repeat(long[1:], 4097)}},
		{"Ack of kind PUBLISH", 4, &packet.Ack{Kind: packet.PUBLISH, PacketID: 1}},
		{"Ack packet identifier 0", 4, &packet.Ack{Kind: packet.PUBACK}},
		{"PUBREL reason code 0x10", 5, &packet.Ack{Kind: packet.PUBREL, PacketID: 1, ReasonCode: 0x10}},
		{"SUBSCRIBE without a filter", 4, &packet.Subscribe{PacketID: 1}},
		{"SUBSCRIBE packet identifier 0", 4, &packet.Subscribe{Subscriptions: []packet.Subscription{{Filter: "a"}}}},
		{"SUBSCRIBE QoS 3", 4, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a", QoS: 3}}}},
		{"SUBSCRIBE retain handling 3", 5, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a", RetainHandling: 3}}}},
		{"SUBSCRIBE two subscription identifiers", 5, &packet.Subscribe{PacketID: 1,
			Properties: packet.Properties{SubscriptionIDs: []uint32{1, 2}}, Subscriptions: []packet.Subscription{{Filter: "a"}}}},
		{"SUBACK without a code", 4, &packet.Suback{PacketID: 1}},
		{"SUBACK return code 3", 4, &packet.Suback{PacketID: 1, ReasonCodes: []byte{3}}},
		{"SUBACK reason code 0x11", 5, &packet.Suback{PacketID: 1, ReasonCodes: []byte{0x11}}},
		{"UNSUBSCRIBE without a filter", 4, &packet.Unsubscribe{PacketID: 1}},
		{"UNSUBACK 5.0 without a code", 5, &packet.Unsuback{PacketID: 1}},
		{"UNSUBACK reason code 0x01", 5, &packet.Unsuback{PacketID: 1, ReasonCodes: []byte{1}}},
		{"DISCONNECT reason code 0x01", 5, &packet.Disconnect{ReasonCode: 1}},
		{"AUTH reason code 0x04", 5, &packet.Auth{ReasonCode: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := packet.Append(dst, tc.v, tc.p)
			if !errors.Is(err, packet.ErrInvalid) {
				t.Fatalf("Append = % X, %v; want ErrInvalid", got, err)
			}
			if string(got) != "keep" {
				t.Fatalf("Append changed dst to %q", got)
			}
			if _, err := packet.Size(tc.v, tc.p); !errors.Is(err, packet.ErrInvalid) {
				t.Fatalf("Size error %v", err)
			}
		})
	}
}

// TestAppendDropsNewerFields checks that levels 3 and 4 write no
// properties or other 5.0-only fields.
func TestAppendDropsNewerFields(t *testing.T) {
	props := with(packet.Properties{ReasonString: "r", User: []packet.UserProperty{{Key: "k"}}}, packet.PropReasonString)
	for _, tc := range []struct {
		p    packet.Packet
		want []byte
	}{
		{&packet.Ack{Kind: packet.PUBACK, PacketID: 1, ReasonCode: packet.QuotaExceeded, Properties: props},
			[]byte{0x40, 0x02, 0x00, 0x01}},
		{&packet.Unsuback{PacketID: 1, ReasonCodes: []byte{0x11}, Properties: props},
			[]byte{0xB0, 0x02, 0x00, 0x01}},
		{&packet.Disconnect{ReasonCode: packet.ServerShuttingDown, Properties: props},
			[]byte{0xE0, 0x00}},
		{&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2}}},
			[]byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x01}},
		// A 5.0 failure code becomes the 3.1.1 failure code.
		{&packet.Suback{PacketID: 1, ReasonCodes: []byte{0x00, 0x87, 0xA2, 0x02}, Properties: props},
			[]byte{0x90, 0x06, 0x00, 0x01, 0x00, 0x80, 0x80, 0x02}},
		{&packet.Publish{Topic: "t", Properties: props}, []byte{0x30, 0x03, 0x00, 0x01, 't'}},
	} {
		got, err := packet.Append(nil, 4, tc.p)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%T: % X, %v; want % X", tc.p, got, err, tc.want)
		}
	}
}

// TestAppendAllocs checks that Append allocates nothing when dst has room.
func TestAppendAllocs(t *testing.T) {
	dst := make([]byte, 0, 1024)
	for _, f := range fixtures {
		if f.decodeOnly {
			continue
		}
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := packet.Append(dst, f.v, f.pkt); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations", f.name, allocs)
		}
	}
}

// TestPublishAppend checks the Publish methods the broker's fan-out uses:
// the same bytes as Append, without allocating even for a Publish built on
// the stack.
func TestPublishAppend(t *testing.T) {
	for _, f := range fixtures {
		p, ok := f.pkt.(*packet.Publish)
		if !ok || f.decodeOnly {
			continue
		}
		got, err := p.Append(nil, f.v)
		if err != nil || !bytes.Equal(got, f.raw) {
			t.Fatalf("%s: Append % X, %v", f.name, got, err)
		}
		hdr, err := p.AppendHeader(nil, f.v)
		if err != nil || !bytes.Equal(append(hdr, p.Payload...), f.raw) {
			t.Fatalf("%s: AppendHeader % X, %v", f.name, hdr, err)
		}
	}
	dst := make([]byte, 0, 256)
	payload := []byte("payload")
	allocs := testing.AllocsPerRun(100, func() {
		p := packet.Publish{QoS: 1, Topic: "a/b", PacketID: 9, Payload: payload}
		p.Properties.SubscriptionIDs = []uint32{3}
		if _, err := p.Append(dst, 5); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Publish.Append: %v allocations", allocs)
	}
	if _, err := (&packet.Publish{QoS: 3}).AppendHeader(nil, 4); !errors.Is(err, packet.ErrInvalid) {
		t.Errorf("AppendHeader of QoS 3: %v", err)
	}
}

func repeat(s string, n int) []string {
	ss := make([]string, n)
	for i := range ss {
		ss[i] = s
	}
	return ss
}
