package loadgen

import "encoding/binary"

// Payload layout, big-endian, padded with zeros to the configured size:
//
//	0..2    magic "mb", so that other traffic on the same topics is ignored
//	2..4    run id, random per mast bench run
//	4..8    publisher id, dense from 0 within a run
//	8..16   sequence number, from 0 per publisher
//	16..24  send time, Unix nanoseconds
//
// Unix time rather than a monotonic clock so that a `pub` and a `sub` run as
// two processes on one machine still measure latency.
const (
	// MinSize is the smallest payload that carries the fields above.
	MinSize = 24

	magic0, magic1 = 'm', 'b'
)

type stamp struct {
	run   uint16
	pub   uint32
	seq   uint64
	nanos int64
}

// newPayload returns a payload of size bytes with the constant fields set.
func newPayload(size int, run uint16, pub uint32) []byte {
	b := make([]byte, max(size, MinSize))
	b[0], b[1] = magic0, magic1
	binary.BigEndian.PutUint16(b[2:], run)
	binary.BigEndian.PutUint32(b[4:], pub)
	return b
}

// putSeqTime writes the per-message fields of a payload made by newPayload.
func putSeqTime(b []byte, seq uint64, nanos int64) {
	binary.BigEndian.PutUint64(b[8:], seq)
	binary.BigEndian.PutUint64(b[16:], uint64(nanos))
}

// readStamp decodes a payload; ok is false for payloads not made here.
func readStamp(b []byte) (s stamp, ok bool) {
	if len(b) < MinSize || b[0] != magic0 || b[1] != magic1 {
		return s, false
	}
	return stamp{
		run:   binary.BigEndian.Uint16(b[2:]),
		pub:   binary.BigEndian.Uint32(b[4:]),
		seq:   binary.BigEndian.Uint64(b[8:]),
		nanos: int64(binary.BigEndian.Uint64(b[16:])),
	}, true
}
