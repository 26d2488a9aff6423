// Package storetest is the conformance suite of the store contract: every
// store.Store implementation runs it from its tests, so the broker can
// count on the same behaviour from each.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, dir string) store.Store {
//			s, err := mystore.Open(dir)
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// What it holds a store to: every field of every record reads back as
// written (nil and empty slices told apart, times equal to the
// nanosecond); Load visits sessions, then outbound messages in (client,
// sequence) order, then inbound ids, then retained messages; DeleteSession
// removes the session's outbound and inbound records and no other
// client's; a later write to the same key replaces the earlier; a batch is
// applied whole or, when an op is bad, not at all; concurrent Commits are
// safe; every method returns store.ErrClosed after Close; and, for stores
// on disk, all of it survives Close and Open.
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/store"
)

// OpenFunc opens the store kept in dir (a directory of the test's), the
// same one again when called again with the same dir after Close. It
// fails the test when it cannot.
type OpenFunc func(t *testing.T, dir string) store.Store

// Option changes what Run checks.
type Option func(*config)

type config struct{ ephemeral bool }

// Ephemeral is for stores that forget everything on Close (store/memory):
// Run skips the tests that reopen a store.
func Ephemeral() Option { return func(c *config) { c.ephemeral = true } }

// Run runs the conformance suite against the stores open returns.
func Run(t *testing.T, open OpenFunc, opts ...Option) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	h := &harness{open: open, cfg: c}
	tests := []struct {
		name string
		fn   func(*testing.T, *harness)
	}{
		{"RoundTrip", testRoundTrip},
		{"LoadOrder", testLoadOrder},
		{"DeleteSessionCascades", testDeleteSessionCascades},
		{"Overwrite", testOverwrite},
		{"OpsApplyInOrder", testOpsApplyInOrder},
		{"LargeBatch", testLargeBatch},
		{"BadOpRejectsBatch", testBadOpRejectsBatch},
		{"EmptyBatch", testEmptyBatch},
		{"VisitorControl", testVisitorControl},
		{"ConcurrentCommits", testConcurrentCommits},
		{"Capabilities", testCapabilities},
		{"Closed", testClosed},
		{"Reopen", testReopen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

type harness struct {
	open OpenFunc
	cfg  config
}

// fresh opens a new store in a new directory, closed at the end of the
// test unless the test closed it.
func (h *harness) fresh(t *testing.T) (store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	s := h.open(t, dir)
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func (h *harness) needsDisk(t *testing.T) {
	if h.cfg.ephemeral {
		t.Skip("ephemeral store: nothing survives Close")
	}
}

// Contents is everything a Load found, in the order it found it.
type Contents struct {
	Sessions []*store.Session
	Outbound []*store.Outbound
	Inbound  []Inbound
	Retained []*store.Message
	// Kinds is the kind of each record visited, in order.
	Kinds []string
}

// Inbound is one inbound packet id.
type Inbound struct {
	ClientID string
	PacketID uint16
}

// Load reads every record of s, failing the test on error.
func Load(t testing.TB, s store.Store) *Contents {
	t.Helper()
	var c Contents
	err := s.Load(store.Visitor{
		Session: func(x *store.Session) error {
			c.Sessions = append(c.Sessions, x)
			c.Kinds = append(c.Kinds, store.KindSession)
			return nil
		},
		Outbound: func(x *store.Outbound) error {
			c.Outbound = append(c.Outbound, x)
			c.Kinds = append(c.Kinds, store.KindOutbound)
			return nil
		},
		Inbound: func(id string, pid uint16) error {
			c.Inbound = append(c.Inbound, Inbound{id, pid})
			c.Kinds = append(c.Kinds, store.KindInbound)
			return nil
		},
		Retained: func(x *store.Message) error {
			c.Retained = append(c.Retained, x)
			c.Kinds = append(c.Kinds, store.KindRetained)
			return nil
		},
	})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return &c
}

func commit(t testing.TB, s store.Store, b *store.Batch, sync bool) {
	t.Helper()
	if err := s.Commit(b, sync); err != nil {
		t.Fatalf("Commit(%d ops, sync %v): %v", b.Len(), sync, err)
	}
}

// Equal reports whether two contents hold the same records, order
// ignored, with times compared by instant. It returns a description of
// the first difference.
func Equal(got, want *Contents) (string, bool) {
	g, w := canonical(got), canonical(want)
	for _, f := range []struct {
		name string
		a, b any
	}{
		{"sessions", g.Sessions, w.Sessions},
		{"outbound", g.Outbound, w.Outbound},
		{"inbound", g.Inbound, w.Inbound},
		{"retained", g.Retained, w.Retained},
	} {
		if !reflect.DeepEqual(f.a, f.b) {
			return fmt.Sprintf("%s differ:\n got %s\nwant %s", f.name, dump(f.a), dump(f.b)), false
		}
	}
	return "", true
}

func checkEqual(t testing.TB, got, want *Contents) {
	t.Helper()
	if diff, ok := Equal(got, want); !ok {
		t.Fatal(diff)
	}
}

// canonical copies c sorted by key with every time in UTC without a
// monotonic reading, so DeepEqual compares what a store must keep.
func canonical(c *Contents) *Contents {
	var n Contents
	for _, s := range c.Sessions {
		x := *s
		x.DisconnectedAt = normTime(x.DisconnectedAt)
		if x.Will != nil {
			w := normMessage(*x.Will)
			x.Will = &w
		}
		n.Sessions = append(n.Sessions, &x)
	}
	for _, o := range c.Outbound {
		x := *o
		x.Msg = normMessage(x.Msg)
		n.Outbound = append(n.Outbound, &x)
	}
	n.Inbound = slices.Clone(c.Inbound)
	for _, m := range c.Retained {
		x := normMessage(*m)
		n.Retained = append(n.Retained, &x)
	}
	slices.SortFunc(n.Sessions, func(a, b *store.Session) int { return strings.Compare(a.ClientID, b.ClientID) })
	slices.SortFunc(n.Outbound, func(a, b *store.Outbound) int {
		if c := strings.Compare(a.ClientID, b.ClientID); c != 0 {
			return c
		}
		return cmpUint(a.Seq, b.Seq)
	})
	slices.SortFunc(n.Inbound, func(a, b Inbound) int {
		if c := strings.Compare(a.ClientID, b.ClientID); c != 0 {
			return c
		}
		return cmpUint(a.PacketID, b.PacketID)
	})
	slices.SortFunc(n.Retained, func(a, b *store.Message) int { return strings.Compare(a.Topic, b.Topic) })
	return &n
}

func cmpUint[T uint16 | uint64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Round(0).UTC()
}

func normMessage(m store.Message) store.Message {
	m.Expiry = normTime(m.Expiry)
	return m
}

func dump(v any) string {
	var b bytes.Buffer
	rv := reflect.ValueOf(v)
	b.WriteString("[")
	for i := 0; i < rv.Len(); i++ {
		e := rv.Index(i)
		if e.Kind() == reflect.Pointer {
			e = e.Elem()
		}
		s := fmt.Sprintf("%+v", e.Interface())
		if len(s) > 400 {
			s = s[:400] + "..."
		}
		fmt.Fprintf(&b, "\n  %s", s)
	}
	b.WriteString("]")
	return b.String()
}

// wantContents is what a store holding exactly the ops of b (puts only)
// must load.
func wantContents(b *store.Batch) *Contents {
	var c Contents
	for _, op := range b.Ops {
		switch op.Kind {
		case store.PutSession:
			c.Sessions = append(c.Sessions, op.Session)
		case store.PutOutbound:
			c.Outbound = append(c.Outbound, op.Outbound)
		case store.PutInbound:
			c.Inbound = append(c.Inbound, Inbound{op.ClientID, op.PacketID})
		case store.PutRetained:
			c.Retained = append(c.Retained, op.Retained)
		}
	}
	return &c
}

var errStop = errors.New("storetest: stop")
