package cluster

import (
	"bytes"
	"testing"

	"github.com/mastmq/mast/broker"
)

func TestEnvelope(t *testing.T) {
	m := broker.RemoteMessage{Payload: []byte("payload"), QoS: 1, Retain: true, Properties: []byte{3, 1, 1, 0}}
	b := appendEnvelope(nil, "node1", 7, 42, m)
	got, epoch, seq, err := decodeEnvelope(b)
	if err != nil || epoch != 7 || seq != 42 || got.Origin != "node1" || got.QoS != 1 || !got.Retain ||
		!bytes.Equal(got.Payload, m.Payload) || !bytes.Equal(got.Properties, m.Properties) {
		t.Fatalf("round trip: %+v %d %d %v", got, epoch, seq, err)
	}
	empty := appendEnvelope(nil, "", 1, 1, broker.RemoteMessage{})
	if got, _, _, err := decodeEnvelope(empty); err != nil || len(got.Payload) != 0 || got.Properties != nil {
		t.Fatalf("empty: %+v %v", got, err)
	}
	for _, bad := range [][]byte{
		nil,
		{1},                      // no flags
		{2, 0, 1, 1, 0, 0},       // unknown version
		{1, 3, 1, 1, 0, 0},       // QoS 3
		{1, 8, 1, 1, 0, 0},       // unknown flag
		{1, 0, 0x80},             // truncated varint
		{1, 0, 1, 1, 5, 'a'},     // origin longer than the rest
		{1, 0, 1, 1, 0, 9, 1, 2}, // properties longer than the rest
	} {
		if _, _, _, err := decodeEnvelope(bad); err == nil {
			t.Errorf("% x: no error", bad)
		}
	}
}

func FuzzEnvelope(f *testing.F) {
	f.Add(appendEnvelope(nil, "n", 1, 2, broker.RemoteMessage{Payload: []byte("x"), QoS: 2}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, epoch, seq, err := decodeEnvelope(b)
		if err != nil {
			return
		}
		again, e2, s2, err := decodeEnvelope(appendEnvelope(nil, m.Origin, epoch, seq, m))
		if err != nil || e2 != epoch || s2 != seq || again.Origin != m.Origin || !bytes.Equal(again.Payload, m.Payload) {
			t.Fatalf("re-encode differs: %v", err)
		}
	})
}
