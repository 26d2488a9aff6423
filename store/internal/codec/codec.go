// Package codec is the compact binary encoding of store records shared by
// store/pebble (it is the value format of the data directory, format
// version 1) and store/memory (which keeps records encoded, so both stores
// copy, normalise and reject records alike).
//
// Any change to what this package writes is a new format version of
// store/pebble: bump pebble.FormatVersion and add golden files for it.
//
// Encoding (uvarint and varint are encoding/binary's; "bytes" is a uvarint
// length followed by that many bytes; a time is a varint of Unix seconds
// followed by a uvarint of nanoseconds):
//
//	message  = flags:byte [topic:bytes] [expiry:time] publisher:bytes
//	           [properties:bytes] [payload:bytes]
//	           flags: bits 0-1 QoS, 2 Retain, 3 Payload non-nil,
//	           4 Properties non-nil, 5 Expiry non-zero; topic is absent in
//	           retained values, where the key holds it
//	session  = flags:byte version:byte expiry:uvarint [disconnectedAt:time]
//	           willDelay:uvarint [count:uvarint subscription*] [will:message]
//	           flags: bit 0 DisconnectedAt non-zero, 1 Will non-nil,
//	           2 Subscriptions non-nil
//	subscription = filter:bytes options:byte id:uvarint
//	           options: bits 0-1 QoS, 2 NoLocal, 3 RetainAsPublished,
//	           4-5 RetainHandling
//	outbound = flags:byte packetID:uvarint [count:uvarint subID:uvarint*]
//	           shared:bytes msg:message
//	           flags: bits 0-1 QoS, 2 Retain, 3 PubRel, 4 SubIDs non-nil
//
// nil and empty slices are told apart (a flag says which), so a record
// reads back exactly as written; times read back in the local zone with
// no monotonic reading. Unknown flag bits and trailing bytes are
// corruption.
//
// Decoding copies every variable-length field of a record into one
// allocation (strings point into it), so a decoded retained message costs
// two allocations: the Message and its bytes.
package codec

import (
	"encoding/binary"
	"fmt"
	"time"
	"unsafe"

	"github.com/mastmq/mast/store"
)

// Message flags.
const (
	mQoS        = 0x03
	mRetain     = 0x04
	mPayload    = 0x08
	mProperties = 0x10
	mExpiry     = 0x20
	mKnown      = 0x3f
)

// Session flags.
const (
	sDisconnected = 0x01
	sWill         = 0x02
	sSubs         = 0x04
	sKnown        = 0x07
)

// Outbound flags.
const (
	oQoS    = 0x03
	oRetain = 0x04
	oPubRel = 0x08
	oSubIDs = 0x10
	oKnown  = 0x1f
)

// Check reports whether op can be stored: the record it names is present
// and its small fields are in range. Stores check every op of a batch
// before writing any, so a bad op rejects the whole batch.
func Check(op *store.Op) error {
	switch op.Kind {
	case store.PutSession:
		if op.Session == nil {
			return fmt.Errorf("PutSession without a Session")
		}
		for i, sub := range op.Session.Subscriptions {
			if sub.QoS > 2 || sub.RetainHandling > 2 {
				return fmt.Errorf("session %q: subscription %d: QoS %d, retain handling %d out of range", op.Session.ClientID, i, sub.QoS, sub.RetainHandling)
			}
		}
		if w := op.Session.Will; w != nil && w.QoS > 2 {
			return fmt.Errorf("session %q: will QoS %d out of range", op.Session.ClientID, w.QoS)
		}
	case store.PutOutbound:
		o := op.Outbound
		if o == nil {
			return fmt.Errorf("PutOutbound without an Outbound")
		}
		if o.QoS > 2 || o.Msg.QoS > 2 {
			return fmt.Errorf("outbound %q/%d: QoS %d (message %d) out of range", o.ClientID, o.Seq, o.QoS, o.Msg.QoS)
		}
	case store.PutRetained:
		if op.Retained == nil {
			return fmt.Errorf("PutRetained without a Message")
		}
		if op.Retained.QoS > 2 {
			return fmt.Errorf("retained %q: QoS %d out of range", op.Retained.Topic, op.Retained.QoS)
		}
	case store.DeleteSession, store.DeleteOutbound, store.PutInbound, store.DeleteInbound, store.DeleteRetained:
	default:
		return fmt.Errorf("unknown op kind %d", op.Kind)
	}
	return nil
}

// AppendSession appends the encoding of s (without its client id, which
// is the key) to dst.
func AppendSession(dst []byte, s *store.Session) []byte {
	var flags byte
	if !s.DisconnectedAt.IsZero() {
		flags |= sDisconnected
	}
	if s.Will != nil {
		flags |= sWill
	}
	if s.Subscriptions != nil {
		flags |= sSubs
	}
	dst = append(dst, flags, s.Version)
	dst = binary.AppendUvarint(dst, uint64(s.Expiry))
	if flags&sDisconnected != 0 {
		dst = appendTime(dst, s.DisconnectedAt)
	}
	dst = binary.AppendUvarint(dst, uint64(s.WillDelay))
	if flags&sSubs != 0 {
		dst = binary.AppendUvarint(dst, uint64(len(s.Subscriptions)))
		for _, sub := range s.Subscriptions {
			dst = appendString(dst, sub.Filter)
			opts := sub.QoS&0x03 | (sub.RetainHandling&0x03)<<4
			if sub.NoLocal {
				opts |= 0x04
			}
			if sub.RetainAsPublished {
				opts |= 0x08
			}
			dst = append(dst, opts)
			dst = binary.AppendUvarint(dst, uint64(sub.ID))
		}
	}
	if s.Will != nil {
		dst = appendMessage(dst, s.Will, true)
	}
	return dst
}

// DecodeSession decodes a session value stored under clientID.
func DecodeSession(clientID, b []byte) (*store.Session, error) {
	r := reader{b: b, arena: make([]byte, 0, len(clientID)+len(b))}
	s := &store.Session{ClientID: r.keep(clientID)}
	flags := r.byte()
	if flags&^sKnown != 0 {
		return nil, corrupt(store.KindSession, clientID, "unknown flags %#x", flags)
	}
	s.Version = r.byte()
	s.Expiry = r.uint32()
	if flags&sDisconnected != 0 {
		s.DisconnectedAt = r.time()
	}
	s.WillDelay = r.uint32()
	if flags&sSubs != 0 {
		n := r.count(3) // a subscription takes at least 3 bytes
		s.Subscriptions = make([]store.Subscription, n)
		for i := range s.Subscriptions {
			sub := &s.Subscriptions[i]
			sub.Filter = r.string()
			opts := r.byte()
			if opts&0xc0 != 0 {
				r.fail("unknown subscription options %#x", opts)
			}
			sub.QoS = opts & 0x03
			sub.NoLocal = opts&0x04 != 0
			sub.RetainAsPublished = opts&0x08 != 0
			sub.RetainHandling = opts >> 4 & 0x03
			sub.ID = r.uint32()
		}
	}
	if flags&sWill != 0 {
		s.Will = r.message(nil)
	}
	if err := r.done(); err != nil {
		return nil, corrupt(store.KindSession, clientID, "%v", err)
	}
	return s, nil
}

// AppendOutbound appends the encoding of o (without its client id and
// sequence, which are the key) to dst.
func AppendOutbound(dst []byte, o *store.Outbound) []byte {
	flags := o.QoS & oQoS
	if o.Retain {
		flags |= oRetain
	}
	if o.PubRel {
		flags |= oPubRel
	}
	if o.SubIDs != nil {
		flags |= oSubIDs
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(o.PacketID))
	if o.SubIDs != nil {
		dst = binary.AppendUvarint(dst, uint64(len(o.SubIDs)))
		for _, id := range o.SubIDs {
			dst = binary.AppendUvarint(dst, uint64(id))
		}
	}
	dst = appendString(dst, o.Shared)
	return appendMessage(dst, &o.Msg, true)
}

// DecodeOutbound decodes an outbound value stored under (clientID, seq).
func DecodeOutbound(clientID []byte, seq uint64, b []byte) (*store.Outbound, error) {
	r := reader{b: b, arena: make([]byte, 0, len(clientID)+len(b))}
	o := &store.Outbound{ClientID: r.keep(clientID), Seq: seq}
	flags := r.byte()
	if flags&^oKnown != 0 {
		return nil, corrupt(store.KindOutbound, clientID, "unknown flags %#x", flags)
	}
	o.QoS = flags & oQoS
	o.Retain = flags&oRetain != 0
	o.PubRel = flags&oPubRel != 0
	o.PacketID = r.uint16()
	if flags&oSubIDs != 0 {
		n := r.count(1)
		o.SubIDs = make([]uint32, n)
		for i := range o.SubIDs {
			o.SubIDs[i] = r.uint32()
		}
	}
	o.Shared = r.string()
	r.message(&o.Msg)
	if err := r.done(); err != nil {
		return nil, corrupt(store.KindOutbound, clientID, "seq %d: %v", seq, err)
	}
	return o, nil
}

// AppendRetained appends the encoding of m without its topic (the key) to
// dst.
func AppendRetained(dst []byte, m *store.Message) []byte {
	return appendMessage(dst, m, false)
}

// DecodeRetained decodes a retained value stored under topic.
func DecodeRetained(topic, b []byte) (*store.Message, error) {
	r := reader{b: b, arena: make([]byte, 0, len(topic)+len(b))}
	m := &store.Message{Topic: r.keep(topic)}
	r.messageBody(m)
	if err := r.done(); err != nil {
		return nil, corrupt(store.KindRetained, topic, "%v", err)
	}
	return m, nil
}

func appendMessage(dst []byte, m *store.Message, withTopic bool) []byte {
	flags := m.QoS & mQoS
	if m.Retain {
		flags |= mRetain
	}
	if m.Payload != nil {
		flags |= mPayload
	}
	if m.Properties != nil {
		flags |= mProperties
	}
	if !m.Expiry.IsZero() {
		flags |= mExpiry
	}
	dst = append(dst, flags)
	if withTopic {
		dst = appendString(dst, m.Topic)
	}
	if flags&mExpiry != 0 {
		dst = appendTime(dst, m.Expiry)
	}
	dst = appendString(dst, m.Publisher)
	if m.Properties != nil {
		dst = appendBytes(dst, m.Properties)
	}
	if m.Payload != nil {
		dst = appendBytes(dst, m.Payload)
	}
	return dst
}

func appendTime(dst []byte, t time.Time) []byte {
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst []byte, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func corrupt(kind string, key []byte, format string, args ...any) error {
	return fmt.Errorf("%w: %s record %q: %s", store.ErrCorrupt, kind, key, fmt.Sprintf(format, args...))
}

// reader decodes one value. The first error sticks; later reads return
// zero values. Variable-length fields are copied into arena, whose
// capacity is fixed up front so that it never moves.
type reader struct {
	b     []byte
	arena []byte
	err   error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
	r.b = nil
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b))
	}
	return r.err
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uint32() uint32 {
	v := r.uvarint()
	if v > 1<<32-1 {
		r.fail("value %d out of range", v)
		return 0
	}
	return uint32(v)
}

func (r *reader) uint16() uint16 {
	v := r.uvarint()
	if v > 1<<16-1 {
		r.fail("value %d out of range", v)
		return 0
	}
	return uint16(v)
}

// count reads an element count; each element takes at least min bytes,
// which bounds what a corrupt count can make us allocate.
func (r *reader) count(min int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/min) {
		r.fail("count %d exceeds the %d bytes left", n, len(r.b))
		return 0
	}
	return int(n)
}

func (r *reader) time() time.Time {
	sec := r.varint()
	nsec := r.uvarint()
	if nsec >= 1e9 {
		r.fail("bad nanoseconds %d", nsec)
		return time.Time{}
	}
	if r.err != nil {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec))
}

// raw reads a length-prefixed field and copies it into the arena.
func (r *reader) raw() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("length %d exceeds the %d bytes left", n, len(r.b))
		return nil
	}
	start := len(r.arena)
	r.arena = append(r.arena, r.b[:n]...)
	r.b = r.b[n:]
	return r.arena[start:len(r.arena):len(r.arena)]
}

func (r *reader) string() string {
	b := r.raw()
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (r *reader) bytes() []byte {
	b := r.raw()
	if b == nil && r.err == nil {
		return []byte{}
	}
	return b
}

// keep copies a key field into the arena.
func (r *reader) keep(k []byte) string {
	if len(k) == 0 {
		return ""
	}
	start := len(r.arena)
	r.arena = append(r.arena, k...)
	return unsafe.String(&r.arena[start], len(k))
}

// message decodes a message with its topic into m, or a new one when m is
// nil.
func (r *reader) message(m *store.Message) *store.Message {
	if m == nil {
		m = new(store.Message)
	}
	r.messageFields(m, true)
	return m
}

func (r *reader) messageBody(m *store.Message) { r.messageFields(m, false) }

func (r *reader) messageFields(m *store.Message, withTopic bool) {
	flags := r.byte()
	if flags&^mKnown != 0 {
		r.fail("unknown message flags %#x", flags)
		return
	}
	m.QoS = flags & mQoS
	m.Retain = flags&mRetain != 0
	if withTopic {
		m.Topic = r.string()
	}
	if flags&mExpiry != 0 {
		m.Expiry = r.time()
	}
	m.Publisher = r.string()
	if flags&mProperties != 0 {
		m.Properties = r.bytes()
	}
	if flags&mPayload != 0 {
		m.Payload = r.bytes()
	}
}
