package pebble

import (
	"bytes"
	"slices"
	"testing"
)

// The key encoding of client ids: round trip, no prefix collisions, and
// byte order kept.
func TestClientKeys(t *testing.T) {
	ids := []string{"", "a", "a\x00", "a\x00\x00", "a\x00b", "a\x01", "a/b", "ab", "b", "\x00", "\xff", "sensör"}
	for _, id := range ids {
		k := outboundKey(nil, id, 258)
		c, seq, err := parseOutboundKey(k[1:])
		if err != nil || string(c) != id || seq != 258 {
			t.Errorf("outbound key of %q: parsed %q %d %v", id, c, seq, err)
		}
		k = inboundKey(nil, id, 513)
		c, pid, err := parseInboundKey(k[1:])
		if err != nil || string(c) != id || pid != 513 {
			t.Errorf("inbound key of %q: parsed %q %d %v", id, c, pid, err)
		}
		lo, hi := clientPrefix(nil, prefixOutbound, id), clientPrefixEnd(nil, prefixOutbound, id)
		for _, other := range ids {
			k := outboundKey(nil, other, 1)
			in := bytes.Compare(k, lo) >= 0 && bytes.Compare(k, hi) < 0
			if in != (other == id) {
				t.Errorf("range of %q contains key of %q: %v", id, other, in)
			}
		}
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	keys := make([][]byte, len(sorted))
	for i, id := range sorted {
		keys[i] = outboundKey(nil, id, 1)
	}
	if !slices.IsSortedFunc(keys, bytes.Compare) {
		t.Errorf("keys not in the byte order of client ids")
	}
	for _, bad := range [][]byte{{'a'}, {'a', 0}, {'a', 0, 7, 1}, {0, 1, 1}} {
		if _, _, err := parseOutboundKey(bad); err == nil {
			t.Errorf("parseOutboundKey(%q) accepted", bad)
		}
	}
}
