package store

import (
	"errors"
	"time"
)

// Errors an implementation returns, wrapped with detail.
var (
	// ErrCorrupt: the data cannot be read as this format. Never
	// silently discarded: start-up stops and says how to recover.
	ErrCorrupt = errors.New("store: corrupt data")
	// ErrLocked: another process has the data directory open.
	ErrLocked = errors.New("store: data directory in use by another process")
	// ErrFull: the disk is full; nothing of the batch was written.
	ErrFull = errors.New("store: no space left on device")
	// ErrVersion: the data was written by an incompatible format version.
	ErrVersion = errors.New("store: unsupported format version")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("store: closed")
)

// Store persists broker state. Implementations are safe for concurrent
// use; concurrent Commits with sync set are grouped into one sync of the
// underlying log (group commit).
type Store interface {
	// Commit applies b atomically. With sync, the batch is durable (it
	// survives power loss, and certainly a killed process) when Commit
	// returns nil; without, it survives a killed process but maybe not a
	// power loss.
	Commit(b *Batch, sync bool) error
	// Load calls v's functions for every stored record, sessions first,
	// then outbound messages in (client, sequence) order, inbound ids and
	// retained messages. It is used once, at start-up.
	Load(v Visitor) error
	// Close flushes and releases the store.
	Close() error
}

// Visitor receives the records Load finds. A nil func skips that kind. An
// error returned by a func stops Load and is returned by it.
type Visitor struct {
	Session  func(*Session) error
	Outbound func(*Outbound) error
	Inbound  func(clientID string, packetID uint16) error
	Retained func(*Message) error
}

// Session is a persistent session (session expiry > 0 or 3.1.1 clean
// session 0) without its messages.
type Session struct {
	ClientID string
	Username string // of the last connection, for authorization after a restart
	Version  byte   // protocol level of the last connection
	Expiry   uint32 // seconds after disconnection; 0xFFFFFFFF never
	// DisconnectedAt is when the session last lost its connection; zero
	// while connected (a restart counts as a disconnection then).
	DisconnectedAt time.Time
	Subscriptions  []Subscription
	Will           *Message // nil when none
	WillDelay      uint32   // seconds
}

// Subscription is one subscription of a session with its options.
type Subscription struct {
	Filter            string // as subscribed, $share/group/ prefix kept
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	ID                uint32 // v5 subscription identifier, 0 when none
}

// Message is an application message as stored.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// Properties is the encoded v5 property block to forward (payload
	// format, content type, response topic, correlation data, user
	// properties), in the wire format of package packet, or nil.
	Properties []byte
	Expiry     time.Time // zero: never expires
	Publisher  string    // client id of the publisher
}

// Outbound is a QoS 1/2 message on its way to one persistent session,
// queued (PacketID 0) or in flight.
type Outbound struct {
	ClientID string
	Seq      uint64 // order of arrival for this session, from 1
	PacketID uint16 // 0 while queued
	QoS      byte
	Retain   bool
	SubIDs   []uint32
	Shared   string // $share/group/filter it came through, if any
	// PubRel: PUBREC received, PUBREL sent; the message is no longer
	// needed, only the packet id.
	PubRel bool
	Msg    Message
}

// Batch is a set of writes committed together.
type Batch struct {
	Ops []Op
}

// OpKind says what an Op does.
type OpKind byte

// The operations of a batch.
const (
	PutSession     OpKind = iota + 1 // Session
	DeleteSession                    // ClientID: the session and all its outbound and inbound records
	PutOutbound                      // Outbound
	DeleteOutbound                   // ClientID, Seq
	PutInbound                       // ClientID, PacketID
	DeleteInbound                    // ClientID, PacketID
	PutRetained                      // Retained
	DeleteRetained                   // Topic
)

// Op is one write of a batch.
type Op struct {
	Kind     OpKind
	Session  *Session
	Outbound *Outbound
	Retained *Message
	ClientID string
	Seq      uint64
	PacketID uint16
	Topic    string
}

// Len is the number of operations in b.
func (b *Batch) Len() int { return len(b.Ops) }

// Reset empties b for reuse.
func (b *Batch) Reset() { clear(b.Ops); b.Ops = b.Ops[:0] }

func (b *Batch) PutSession(s *Session) { b.Ops = append(b.Ops, Op{Kind: PutSession, Session: s}) }
func (b *Batch) DeleteSession(id string) {
	b.Ops = append(b.Ops, Op{Kind: DeleteSession, ClientID: id})
}
func (b *Batch) PutOutbound(o *Outbound) { b.Ops = append(b.Ops, Op{Kind: PutOutbound, Outbound: o}) }
func (b *Batch) DeleteOutbound(id string, seq uint64) {
	b.Ops = append(b.Ops, Op{Kind: DeleteOutbound, ClientID: id, Seq: seq})
}
func (b *Batch) PutInbound(id string, pid uint16) {
	b.Ops = append(b.Ops, Op{Kind: PutInbound, ClientID: id, PacketID: pid})
}
func (b *Batch) DeleteInbound(id string, pid uint16) {
	b.Ops = append(b.Ops, Op{Kind: DeleteInbound, ClientID: id, PacketID: pid})
}
func (b *Batch) PutRetained(m *Message)  { b.Ops = append(b.Ops, Op{Kind: PutRetained, Retained: m}) }
func (b *Batch) DeleteRetained(t string) { b.Ops = append(b.Ops, Op{Kind: DeleteRetained, Topic: t}) }

// Stats is implemented by stores that can report counts and sizes by kind
// (mast store inspect).
type Stats interface {
	Stats() (map[string]KindStats, error)
}

// KindStats counts the records of one kind.
type KindStats struct {
	Count int64
	Bytes int64
}

// Compacter is implemented by stores that can compact on demand.
type Compacter interface {
	Compact() error
}

// Syncer is implemented by stores that can make every earlier Commit
// durable at once; the broker's "batch" durability calls it every few
// milliseconds.
type Syncer interface {
	Sync() error
}
