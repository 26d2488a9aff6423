package codec_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/store/internal/codec"
	"github.com/mastmq/mast/store/storetest"
)

// FuzzDecode feeds arbitrary values to the decoders: they must not panic,
// and what they accept must encode back to the same bytes.
func FuzzDecode(f *testing.F) {
	for _, op := range storetest.Sample().Ops {
		switch op.Kind {
		case store.PutSession:
			f.Add(byte(0), []byte(op.Session.ClientID), codec.AppendSession(nil, op.Session))
		case store.PutOutbound:
			f.Add(byte(1), []byte(op.Outbound.ClientID), codec.AppendOutbound(nil, op.Outbound))
		case store.PutRetained:
			f.Add(byte(2), []byte(op.Retained.Topic), codec.AppendRetained(nil, op.Retained))
		}
	}
	f.Fuzz(func(t *testing.T, kind byte, key, val []byte) {
		// What a decoder accepts encodes to bytes that decode to the same
		// record (not always to val: a varint may be spelt long).
		var first, second any
		var err error
		switch kind % 3 {
		case 0:
			var s *store.Session
			if s, err = codec.DecodeSession(key, val); err == nil {
				first = s
				second, err = codec.DecodeSession(key, codec.AppendSession(nil, s))
			}
		case 1:
			var o *store.Outbound
			if o, err = codec.DecodeOutbound(key, 7, val); err == nil {
				first = o
				second, err = codec.DecodeOutbound(key, 7, codec.AppendOutbound(nil, o))
			}
		case 2:
			var m *store.Message
			if m, err = codec.DecodeRetained(key, val); err == nil {
				first = m
				second, err = codec.DecodeRetained(key, codec.AppendRetained(nil, m))
			}
		}
		if first == nil {
			return // rejected
		}
		if err != nil {
			t.Fatalf("re-encoding of an accepted value is rejected: %v", err)
		}
		if !reflect.DeepEqual(first, second) {
			t.Fatalf("decoded, encoded and decoded again:\n got %+v\nwant %+v", second, first)
		}
	})
}

func TestTimes(t *testing.T) {
	for _, tm := range []time.Time{
		time.Unix(0, 1), time.Unix(-1, 999_999_999), time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Now(),
	} {
		s := &store.Session{DisconnectedAt: tm}
		got, err := codec.DecodeSession(nil, codec.AppendSession(nil, s))
		if err != nil {
			t.Fatal(err)
		}
		if !got.DisconnectedAt.Equal(tm) {
			t.Errorf("time %v read back as %v", tm, got.DisconnectedAt)
		}
	}
}
