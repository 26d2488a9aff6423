package memory

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/store/internal/codec"
)

// Store is a store.Store held in memory. The zero value is not usable;
// call New.
type Store struct {
	mu       sync.RWMutex
	closed   bool
	sessions map[string][]byte
	outbound map[string]map[uint64][]byte
	inbound  map[string]map[uint16]struct{}
	retained map[string][]byte
}

var (
	_ store.Store     = (*Store)(nil)
	_ store.Stats     = (*Store)(nil)
	_ store.Syncer    = (*Store)(nil)
	_ store.Compacter = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{
		sessions: map[string][]byte{},
		outbound: map[string]map[uint64][]byte{},
		inbound:  map[string]map[uint16]struct{}{},
		retained: map[string][]byte{},
	}
}

// encoded is one op of a batch, checked and encoded outside the lock.
type encoded struct {
	op  *store.Op
	val []byte
}

// Commit applies b atomically: every op is checked and encoded first, and
// a bad op rejects the whole batch. sync has no meaning in memory.
func (s *Store) Commit(b *store.Batch, sync bool) error {
	ops := make([]encoded, len(b.Ops))
	for i := range b.Ops {
		op := &b.Ops[i]
		if err := codec.Check(op); err != nil {
			return fmt.Errorf("store/memory: op %d: %w", i, err)
		}
		ops[i].op = op
		switch op.Kind {
		case store.PutSession:
			ops[i].val = codec.AppendSession(nil, op.Session)
		case store.PutOutbound:
			ops[i].val = codec.AppendOutbound(nil, op.Outbound)
		case store.PutRetained:
			ops[i].val = codec.AppendRetained(nil, op.Retained)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	for _, e := range ops {
		op := e.op
		switch op.Kind {
		case store.PutSession:
			s.sessions[op.Session.ClientID] = e.val
		case store.DeleteSession:
			// The session takes its messages with it (store.DeleteSession).
			delete(s.sessions, op.ClientID)
			delete(s.outbound, op.ClientID)
			delete(s.inbound, op.ClientID)
		case store.PutOutbound:
			q := s.outbound[op.Outbound.ClientID]
			if q == nil {
				q = map[uint64][]byte{}
				s.outbound[op.Outbound.ClientID] = q
			}
			q[op.Outbound.Seq] = e.val
		case store.DeleteOutbound:
			if q := s.outbound[op.ClientID]; q != nil {
				delete(q, op.Seq)
				if len(q) == 0 {
					delete(s.outbound, op.ClientID)
				}
			}
		case store.PutInbound:
			ids := s.inbound[op.ClientID]
			if ids == nil {
				ids = map[uint16]struct{}{}
				s.inbound[op.ClientID] = ids
			}
			ids[op.PacketID] = struct{}{}
		case store.DeleteInbound:
			if ids := s.inbound[op.ClientID]; ids != nil {
				delete(ids, op.PacketID)
				if len(ids) == 0 {
					delete(s.inbound, op.ClientID)
				}
			}
		case store.PutRetained:
			s.retained[op.Retained.Topic] = e.val
		case store.DeleteRetained:
			delete(s.retained, op.Topic)
		}
	}
	return nil
}

type outKey struct {
	client string
	seq    uint64
	val    []byte
}

type inKey struct {
	client string
	id     uint16
}

// snapshot is a consistent copy of the store's indexes; the values are
// shared, which is safe because they are never modified, only replaced.
type snapshot struct {
	sessions map[string][]byte
	outbound []outKey
	inbound  []inKey
	retained map[string][]byte
}

func (s *Store) snapshot() (*snapshot, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	snap := &snapshot{sessions: maps.Clone(s.sessions), retained: maps.Clone(s.retained)}
	for c, q := range s.outbound {
		for seq, v := range q {
			snap.outbound = append(snap.outbound, outKey{c, seq, v})
		}
	}
	for c, ids := range s.inbound {
		for id := range ids {
			snap.inbound = append(snap.inbound, inKey{c, id})
		}
	}
	return snap, nil
}

// Load visits a snapshot taken when it is called, in the order of
// store.Store.Load; within a kind, records come in byte order of client
// id (then sequence or packet id) or topic, as store/pebble yields them.
// The visitor may call Commit.
func (s *Store) Load(v store.Visitor) error {
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	if v.Session != nil {
		for _, id := range slices.Sorted(maps.Keys(snap.sessions)) {
			sess, err := codec.DecodeSession([]byte(id), snap.sessions[id])
			if err != nil {
				return err
			}
			if err := v.Session(sess); err != nil {
				return err
			}
		}
	}
	if v.Outbound != nil {
		slices.SortFunc(snap.outbound, func(a, b outKey) int {
			return cmp.Or(cmp.Compare(a.client, b.client), cmp.Compare(a.seq, b.seq))
		})
		for _, k := range snap.outbound {
			o, err := codec.DecodeOutbound([]byte(k.client), k.seq, k.val)
			if err != nil {
				return err
			}
			if err := v.Outbound(o); err != nil {
				return err
			}
		}
	}
	if v.Inbound != nil {
		slices.SortFunc(snap.inbound, func(a, b inKey) int {
			return cmp.Or(cmp.Compare(a.client, b.client), cmp.Compare(a.id, b.id))
		})
		for _, k := range snap.inbound {
			if err := v.Inbound(k.client, k.id); err != nil {
				return err
			}
		}
	}
	if v.Retained != nil {
		for _, t := range slices.Sorted(maps.Keys(snap.retained)) {
			m, err := codec.DecodeRetained([]byte(t), snap.retained[t])
			if err != nil {
				return err
			}
			if err := v.Retained(m); err != nil {
				return err
			}
		}
	}
	return nil
}

// Stats counts the records of each kind; Bytes is the size of their keys
// (client id, topic, sequence, packet id) and encoded values.
func (s *Store) Stats() (map[string]store.KindStats, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	st := map[string]store.KindStats{}
	add := func(kind string, n int) {
		k := st[kind]
		k.Count++
		k.Bytes += int64(n)
		st[kind] = k
	}
	for id, v := range s.sessions {
		add(store.KindSession, len(id)+len(v))
	}
	for id, q := range s.outbound {
		for _, v := range q {
			add(store.KindOutbound, len(id)+8+len(v))
		}
	}
	for id, ids := range s.inbound {
		for range ids {
			add(store.KindInbound, len(id)+2)
		}
	}
	for t, v := range s.retained {
		add(store.KindRetained, len(t)+len(v))
	}
	for _, k := range store.Kinds() {
		if _, ok := st[k]; !ok {
			st[k] = store.KindStats{}
		}
	}
	return st, nil
}

// Sync does nothing: memory has nothing to sync.
func (s *Store) Sync() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return nil
}

// Compact does nothing but report ErrClosed after Close.
func (s *Store) Compact() error { return s.Sync() }

// Close releases the records; later calls return store.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	s.closed = true
	s.sessions, s.outbound, s.inbound, s.retained = nil, nil, nil, nil
	return nil
}
