package pebble

import (
	"encoding/binary"
	"fmt"

	"github.com/mastmq/mast/store"
)

// Key prefixes: the first byte of every key says its kind. Their order is
// the order in which Load visits the kinds.
const (
	prefixMeta     = 0x00
	prefixSession  = 0x01
	prefixOutbound = 0x02
	prefixInbound  = 0x03
	prefixRetained = 0x04
	prefixEnd      = 0x05 // one past the last kind
)

// versionKey holds the format version, a big-endian uint32.
var versionKey = []byte("\x00meta/version")

func kindOf(prefix byte) string {
	switch prefix {
	case prefixSession:
		return store.KindSession
	case prefixOutbound:
		return store.KindOutbound
	case prefixInbound:
		return store.KindInbound
	case prefixRetained:
		return store.KindRetained
	}
	return ""
}

// appendEscaped appends s with each 0x00 written as 0x00 0xFF and ends it
// with 0x00 0x01. MQTT strings exclude U+0000, but the key must not rely
// on the broker having checked: the escape keeps one client's prefix from
// matching another client's keys and keeps byte order (a shorter id sorts
// before any id it prefixes).
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			dst = append(dst, 0x00, 0xff)
		} else {
			dst = append(dst, s[i])
		}
	}
	return append(dst, 0x00, 0x01)
}

// splitEscaped undoes appendEscaped on the front of b, returning the
// string's bytes and the rest of b.
func splitEscaped(b []byte) (s, rest []byte, err error) {
	for i := 0; i < len(b); i++ {
		if b[i] != 0 {
			continue
		}
		if i+1 == len(b) {
			break
		}
		switch b[i+1] {
		case 0x01:
			if s == nil {
				return b[:i:i], b[i+2:], nil
			}
			return append(s, b[:i]...), b[i+2:], nil
		case 0xff:
			s = append(s, b[:i+1]...)
			b = b[i+2:]
			i = -1
		default:
			return nil, nil, fmt.Errorf("bad escape %#x", b[i+1])
		}
	}
	return nil, nil, fmt.Errorf("unterminated client id")
}

func sessionKey(dst []byte, clientID string) []byte {
	return append(append(dst, prefixSession), clientID...)
}

// clientPrefix is the prefix of every outbound (or inbound) key of a
// client; clientPrefixEnd is the first key after them.
func clientPrefix(dst []byte, prefix byte, clientID string) []byte {
	return appendEscaped(append(dst, prefix), clientID)
}

func clientPrefixEnd(dst []byte, prefix byte, clientID string) []byte {
	dst = clientPrefix(dst, prefix, clientID)
	dst[len(dst)-1]++ // 0x00 0x01 -> 0x00 0x02
	return dst
}

func outboundKey(dst []byte, clientID string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(clientPrefix(dst, prefixOutbound, clientID), seq)
}

func inboundKey(dst []byte, clientID string, packetID uint16) []byte {
	return binary.BigEndian.AppendUint16(clientPrefix(dst, prefixInbound, clientID), packetID)
}

func retainedKey(dst []byte, topic string) []byte {
	return append(append(dst, prefixRetained), topic...)
}

// parseOutboundKey and parseInboundKey take a key without its prefix byte.
func parseOutboundKey(k []byte) (client []byte, seq uint64, err error) {
	client, rest, err := splitEscaped(k)
	if err != nil {
		return nil, 0, err
	}
	if len(rest) != 8 {
		return nil, 0, fmt.Errorf("sequence of %d bytes", len(rest))
	}
	return client, binary.BigEndian.Uint64(rest), nil
}

func parseInboundKey(k []byte) (client []byte, packetID uint16, err error) {
	client, rest, err := splitEscaped(k)
	if err != nil {
		return nil, 0, err
	}
	if len(rest) != 2 {
		return nil, 0, fmt.Errorf("packet id of %d bytes", len(rest))
	}
	return client, binary.BigEndian.Uint16(rest), nil
}
