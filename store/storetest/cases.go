package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mastmq/mast/store"
)

func testRoundTrip(t *testing.T, h *harness) {
	s, _ := h.fresh(t)
	b := Sample()
	commit(t, s, b, true)
	checkEqual(t, Load(t, s), wantContents(b))

	// What Load returned is the caller's: changing it changes nothing
	// stored, and neither does changing what was committed.
	got := Load(t, s)
	for _, m := range got.Retained {
		if len(m.Payload) > 0 {
			m.Payload[0] ^= 0xff
		}
	}
	got.Sessions[0].ClientID = "changed"
	for _, op := range b.Ops {
		if op.Kind == store.PutSession && len(op.Session.Subscriptions) > 0 {
			op.Session.Subscriptions[0].Filter = "changed"
		}
		if op.Kind == store.PutRetained && len(op.Retained.Payload) > 0 {
			op.Retained.Payload[0] = 'X'
		}
	}
	checkEqual(t, Load(t, s), wantContents(Sample()))
}

func testLoadOrder(t *testing.T, h *harness) {
	s, _ := h.fresh(t)
	var b store.Batch
	// Written in an order unlike the one Load must yield.
	b.PutRetained(&store.Message{Topic: "r"})
	b.PutInbound("b", 2)
	clients := []string{"b", "a/b", "ab", "a", "a\x00b"}
	seqs := []uint64{3, 1, 1 << 40, 256, 2, 255}
	for _, c := range clients {
		for _, q := range seqs {
			b.PutOutbound(&store.Outbound{ClientID: c, Seq: q, Msg: store.Message{Topic: fmt.Sprint(c, q)}})
		}
	}
	b.PutSession(&store.Session{ClientID: "z"})
	b.PutInbound("a", 1)
	b.PutSession(&store.Session{ClientID: "a"})
	commit(t, s, &b, false)

	c := Load(t, s)
	// Sessions first, then outbound, then inbound, then retained.
	rank := map[string]int{store.KindSession: 0, store.KindOutbound: 1, store.KindInbound: 2, store.KindRetained: 3}
	if !slices.IsSortedFunc(c.Kinds, func(a, b string) int { return rank[a] - rank[b] }) {
		t.Fatalf("Load visited kinds in order %v, want sessions, outbound, inbound, retained", c.Kinds)
	}
	if len(c.Outbound) != len(clients)*len(seqs) {
		t.Fatalf("Load found %d outbound, want %d", len(c.Outbound), len(clients)*len(seqs))
	}
	// Outbound in (client, sequence) order: by client id byte by byte,
	// then by sequence as a number.
	sorted := slices.IsSortedFunc(c.Outbound, func(a, b *store.Outbound) int {
		if a.ClientID != b.ClientID {
			if a.ClientID < b.ClientID {
				return -1
			}
			return 1
		}
		return cmpUint(a.Seq, b.Seq)
	})
	if !sorted {
		var got []string
		for _, o := range c.Outbound {
			got = append(got, fmt.Sprintf("%q/%d", o.ClientID, o.Seq))
		}
		t.Fatalf("outbound not in (client, seq) order: %v", got)
	}
	// Inbound: within one client the ids come in numeric order.
	var b2 store.Batch
	for _, id := range []uint16{300, 2, 65535, 1} {
		b2.PutInbound("c", id)
	}
	commit(t, s, &b2, false)
	var ids []uint16
	for _, in := range Load(t, s).Inbound {
		if in.ClientID == "c" {
			ids = append(ids, in.PacketID)
		}
	}
	if !slices.Equal(ids, []uint16{1, 2, 300, 65535}) {
		t.Fatalf("inbound ids of one client in order %v, want [1 2 300 65535]", ids)
	}
}

func testDeleteSessionCascades(t *testing.T, h *harness) {
	s, _ := h.fresh(t)
	// Client ids that are prefixes of one another, or contain what a key
	// encoding might use as a separator, must not be caught by the delete.
	clients := []string{"a", "a/b", "ab", "a\x00b", "a\x00", "b"}
	var b store.Batch
	for _, c := range clients {
		b.PutSession(&store.Session{ClientID: c, Expiry: 60})
		for q := uint64(1); q <= 3; q++ {
			b.PutOutbound(&store.Outbound{ClientID: c, Seq: q, Msg: store.Message{Topic: "t"}})
		}
		b.PutInbound(c, 1)
		b.PutInbound(c, 2)
	}
	b.PutRetained(&store.Message{Topic: "a"})
	// Orphan messages (no session record) go with DeleteSession too.
	b.PutOutbound(&store.Outbound{ClientID: "orphan", Seq: 1})
	b.PutInbound("orphan", 9)
	commit(t, s, &b, true)

	var d store.Batch
	d.DeleteSession("a")
	d.DeleteSession("orphan")
	d.DeleteSession("never-existed")
	commit(t, s, &d, true)

	c := Load(t, s)
	for _, x := range c.Sessions {
		if x.ClientID == "a" {
			t.Errorf("session %q still there", x.ClientID)
		}
	}
	count := map[string]int{}
	for _, o := range c.Outbound {
		count[o.ClientID]++
	}
	for _, in := range c.Inbound {
		count[in.ClientID] += 10
	}
	for _, cl := range clients {
		want := 3 + 20
		if cl == "a" {
			want = 0
		}
		if count[cl] != want {
			t.Errorf("client %q: %d outbound and %d inbound after DeleteSession(\"a\"), want %d and %d",
				cl, count[cl]%10, count[cl]/10, want%10, want/10)
		}
	}
	if count["orphan"] != 0 {
		t.Errorf("orphan records survive DeleteSession")
	}
	if len(c.Sessions) != len(clients)-1 || len(c.Retained) != 1 {
		t.Errorf("%d sessions and %d retained after delete, want %d and 1", len(c.Sessions), len(c.Retained), len(clients)-1)
	}

	// A session put again after its delete starts with no messages.
	var p store.Batch
	p.PutSession(&store.Session{ClientID: "a"})
	commit(t, s, &p, false)
	for _, o := range Load(t, s).Outbound {
		if o.ClientID == "a" {
			t.Fatalf("outbound %d of a deleted session came back", o.Seq)
		}
	}
}

func testOverwrite(t *testing.T, h *harness) {
	s, _ := h.fresh(t)
	var b store.Batch
	b.PutSession(&store.Session{ClientID: "c", Expiry: 10, Subscriptions: []store.Subscription{{Filter: "x"}, {Filter: "y"}},
		Will: &store.Message{Topic: "w"}})
	b.PutOutbound(&store.Outbound{ClientID: "c", Seq: 1, QoS: 2, Msg: store.Message{Topic: "t", Payload: []byte("p")}})
	b.PutInbound("c", 5)
	b.PutRetained(&store.Message{Topic: "r", Payload: []byte("old"), Publisher: "x"})
	commit(t, s, &b, true)

	// Each put replaces the whole record, fields left zero included.
	var o store.Batch
	sess := &store.Session{ClientID: "c", Expiry: 20}
	o.PutSession(sess)
	out := &store.Outbound{ClientID: "c", Seq: 1, PacketID: 9, QoS: 2, PubRel: true}
	o.PutOutbound(out)
	o.PutInbound("c", 5) // twice is once
	ret := &store.Message{Topic: "r", Payload: []byte("new")}
	o.PutRetained(ret)
	commit(t, s, &o, true)

	want := &Contents{Sessions: []*store.Session{sess}, Outbound: []*store.Outbound{out},
		Inbound: []Inbound{{"c", 5}}, Retained: []*store.Message{ret}}
	checkEqual(t, Load(t, s), want)

	// Deleting what is not there is no error.
	var d store.Batch
	d.DeleteOutbound("c", 2)
	d.DeleteOutbound("nobody", 1)
	d.DeleteInbound("c", 6)
	d.DeleteRetained("nothing")
	commit(t, s, &d, false)
	checkEqual(t, Load(t, s), want)

	d.Reset()
	d.DeleteOutbound("c", 1)
	d.DeleteInbound("c", 5)
	d.DeleteRetained("r")
	commit(t, s, &d, false)
	checkEqual(t, Load(t, s), &Contents{Sessions: []*store.Session{sess}})
}

func testOpsApplyInOrder(t *testing.T, h *harness) {
	s, _ := h.fresh(t)
	var b store.Batch
	b.PutRetained(&store.Message{Topic: "gone", Payload: []byte("1")})
	b.DeleteRetained("gone")
	b.DeleteRetained("back")
	b.PutRetained(&store.Message{Topic: "back", Payload: []byte("2")})
	b.PutOutbound(&store.Outbound{ClientID: "c", Seq: 1})
	b.DeleteSession("c")
	b.PutOutbound(&store.Outbound{ClientID: "c", Seq: 2})
	b.PutInbound("c", 1)
	b.DeleteInbound("c", 1)
	b.PutRetained(&store.Message{Topic: "twice", Payload: []byte("a")})
	b.PutRetained(&store.Message{Topic: "twice", Payload: []byte("b")})
	commit(t, s, &b, true)
	checkEqual(t, Load(t, s), &Contents{
		Outbound: []*store.Outbound{{ClientID: "c", Seq: 2}},
		Retained: []*store.Message{{Topic: "back", Payload: []byte("2")}, {Topic: "twice", Payload: []byte("b")}},
	})
}

func testLargeBatch(t *testing.T, h *harness) {
	s, _ := h.fresh(t)
	var b store.Batch
	for i := range 5000 {
		b.PutRetained(&store.Message{Topic: fmt.Sprintf("big/%d", i), Payload: []byte(fmt.Sprint(i))})
		if i%10 == 0 {
			b.PutSession(&store.Session{ClientID: fmt.Sprintf("c%d", i)})
			b.PutOutbound(&store.Outbound{ClientID: fmt.Sprintf("c%d", i), Seq: uint64(i + 1)})
			b.PutInbound(fmt.Sprintf("c%d", i), uint16(i))
		}
	}
	commit(t, s, &b, true)
	checkEqual(t, Load(t, s), wantContents(&b))
}

func testBadOpRejectsBatch(t *testing.T, h *harness) {
	s, _ := h.fresh(t)
	bad := []struct {
		name string
		op   store.Op
	}{
		{"unknown kind", store.Op{Kind: 0}},
		{"unknown kind 99", store.Op{Kind: 99}},
		{"PutSession without session", store.Op{Kind: store.PutSession}},
		{"PutOutbound without outbound", store.Op{Kind: store.PutOutbound}},
		{"PutRetained without message", store.Op{Kind: store.PutRetained}},
		{"QoS 3", store.Op{Kind: store.PutRetained, Retained: &store.Message{Topic: "q", QoS: 3}}},
		{"subscription QoS 3", store.Op{Kind: store.PutSession, Session: &store.Session{ClientID: "q",
			Subscriptions: []store.Subscription{{Filter: "f", QoS: 3}}}}},
		{"retain handling 3", store.Op{Kind: store.PutSession, Session: &store.Session{ClientID: "q",
			Subscriptions: []store.Subscription{{Filter: "f", RetainHandling: 3}}}}},
		{"outbound QoS 3", store.Op{Kind: store.PutOutbound, Outbound: &store.Outbound{ClientID: "q", QoS: 3}}},
	}
	for _, tc := range bad {
		var b store.Batch
		b.PutRetained(&store.Message{Topic: "before"})
		b.Ops = append(b.Ops, tc.op)
		b.PutSession(&store.Session{ClientID: "after"})
		if err := s.Commit(&b, true); err == nil {
			t.Errorf("%s: Commit accepted the batch", tc.name)
		}
	}
	checkEqual(t, Load(t, s), &Contents{})
	// The store is still usable.
	var b store.Batch
	b.PutRetained(&store.Message{Topic: "ok"})
	commit(t, s, &b, true)
	checkEqual(t, Load(t, s), wantContents(&b))
}

func testEmptyBatch(t *testing.T, h *harness) {
	s, _ := h.fresh(t)
	commit(t, s, &store.Batch{}, true)
	commit(t, s, &store.Batch{}, false)
	checkEqual(t, Load(t, s), &Contents{})
}

func testVisitorControl(t *testing.T, h *harness) {
	s, _ := h.fresh(t)
	commit(t, s, Sample(), true)

	// A nil func skips its kind.
	n := 0
	if err := s.Load(store.Visitor{Retained: func(*store.Message) error { n++; return nil }}); err != nil {
		t.Fatalf("Load with only Retained: %v", err)
	}
	if want := len(wantContents(Sample()).Retained); n != want {
		t.Fatalf("Load with only Retained visited %d, want %d", n, want)
	}
	if err := s.Load(store.Visitor{}); err != nil {
		t.Fatalf("Load with no funcs: %v", err)
	}

	// An error from a func stops Load and is returned by it.
	for _, kind := range []string{store.KindSession, store.KindOutbound, store.KindInbound, store.KindRetained} {
		calls := 0
		stop := func() error { calls++; return fmt.Errorf("visiting %s: %w", kind, errStop) }
		ok := func() error { return nil }
		v := store.Visitor{
			Session:  func(*store.Session) error { return ok() },
			Outbound: func(*store.Outbound) error { return ok() },
			Inbound:  func(string, uint16) error { return ok() },
			Retained: func(*store.Message) error { return ok() },
		}
		switch kind {
		case store.KindSession:
			v.Session = func(*store.Session) error { return stop() }
		case store.KindOutbound:
			v.Outbound = func(*store.Outbound) error { return stop() }
		case store.KindInbound:
			v.Inbound = func(string, uint16) error { return stop() }
		case store.KindRetained:
			v.Retained = func(*store.Message) error { return stop() }
		}
		if err := s.Load(v); !errors.Is(err, errStop) {
			t.Errorf("Load with a %s func failing returned %v, want its error", kind, err)
		}
		if calls != 1 {
			t.Errorf("Load went on after the %s func failed: %d calls", kind, calls)
		}
	}
}

func testConcurrentCommits(t *testing.T, h *harness) {
	s, _ := h.fresh(t)
	const writers, commits = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := fmt.Sprintf("w%02d", w)
			for i := range commits {
				var b store.Batch
				seq := uint64(i + 1)
				b.PutOutbound(&store.Outbound{ClientID: client, Seq: seq, QoS: 1,
					Msg: store.Message{Topic: "t/" + client, Payload: []byte(fmt.Sprint(i))}})
				b.PutRetained(&store.Message{Topic: "last/" + client, Payload: []byte(fmt.Sprint(i))})
				if i > 0 && i%2 == 0 {
					b.DeleteOutbound(client, seq-1)
				}
				if err := s.Commit(&b, i%3 != 0); err != nil {
					errs <- fmt.Errorf("%s commit %d: %w", client, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var want Contents
	for w := range writers {
		client := fmt.Sprintf("w%02d", w)
		for i := range commits {
			deleted := i+1 < commits && (i+1)%2 == 0
			if !deleted {
				want.Outbound = append(want.Outbound, &store.Outbound{ClientID: client, Seq: uint64(i + 1), QoS: 1,
					Msg: store.Message{Topic: "t/" + client, Payload: []byte(fmt.Sprint(i))}})
			}
		}
		want.Retained = append(want.Retained, &store.Message{Topic: "last/" + client, Payload: []byte(fmt.Sprint(commits - 1))})
	}
	checkEqual(t, Load(t, s), &want)
}

func testCapabilities(t *testing.T, h *harness) {
	s, _ := h.fresh(t)
	b := Sample()
	commit(t, s, b, false)
	if sy, ok := s.(store.Syncer); ok {
		if err := sy.Sync(); err != nil {
			t.Fatalf("Sync: %v", err)
		}
	}
	if st, ok := s.(store.Stats); ok {
		stats, err := st.Stats()
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		w := wantContents(b)
		for kind, n := range map[string]int{store.KindSession: len(w.Sessions), store.KindOutbound: len(w.Outbound),
			store.KindInbound: len(w.Inbound), store.KindRetained: len(w.Retained)} {
			k, ok := stats[kind]
			if !ok || k.Count != int64(n) || k.Bytes < k.Count {
				t.Errorf("Stats()[%q] = %+v (present %v), want count %d and bytes >= count", kind, k, ok, n)
			}
		}
	}
	if c, ok := s.(store.Compacter); ok {
		var d store.Batch
		d.DeleteSession("sensor/1")
		d.DeleteRetained("house")
		commit(t, s, &d, false)
		if err := c.Compact(); err != nil {
			t.Fatalf("Compact: %v", err)
		}
		w := wantContents(b)
		w.Sessions = slices.DeleteFunc(w.Sessions, func(x *store.Session) bool { return x.ClientID == "sensor/1" })
		w.Outbound = slices.DeleteFunc(w.Outbound, func(x *store.Outbound) bool { return x.ClientID == "sensor/1" })
		w.Inbound = slices.DeleteFunc(w.Inbound, func(x Inbound) bool { return x.ClientID == "sensor/1" })
		w.Retained = slices.DeleteFunc(w.Retained, func(x *store.Message) bool { return x.Topic == "house" })
		checkEqual(t, Load(t, s), w)
	}
}

func testClosed(t *testing.T, h *harness) {
	s, _ := h.fresh(t)
	commit(t, s, Sample(), true)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var b store.Batch
	b.PutRetained(&store.Message{Topic: "late"})
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want store.ErrClosed", what, err)
		}
	}
	check("Commit", s.Commit(&b, true))
	check("Commit without sync", s.Commit(&b, false))
	check("Commit of an empty batch", s.Commit(&store.Batch{}, true))
	check("Load", s.Load(store.Visitor{}))
	check("second Close", s.Close())
	if sy, ok := s.(store.Syncer); ok {
		check("Sync", sy.Sync())
	}
	if st, ok := s.(store.Stats); ok {
		_, err := st.Stats()
		check("Stats", err)
	}
	if c, ok := s.(store.Compacter); ok {
		check("Compact", c.Compact())
	}
}

func testReopen(t *testing.T, h *harness) {
	h.needsDisk(t)
	dir := t.TempDir()
	s := h.open(t, dir)
	b := Sample()
	commit(t, s, b, true)
	// Without sync a batch survives a killed process, and so certainly a
	// Close.
	var nb store.Batch
	nb.PutRetained(&store.Message{Topic: "nosync", Payload: []byte("x")})
	commit(t, s, &nb, false)
	var del store.Batch
	del.DeleteRetained("house")
	del.DeleteInbound("sensor", 256)
	commit(t, s, &del, false)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	want := wantContents(b)
	want.Retained = append(slices.DeleteFunc(want.Retained, func(m *store.Message) bool { return m.Topic == "house" }),
		nb.Ops[0].Retained)
	want.Inbound = slices.DeleteFunc(want.Inbound, func(x Inbound) bool { return x.ClientID == "sensor" })

	s = h.open(t, dir)
	checkEqual(t, Load(t, s), want)
	// And it goes on: write, close, open, read again.
	var more store.Batch
	more.PutSession(&store.Session{ClientID: "later", DisconnectedAt: time.Unix(1, 2)})
	more.DeleteSession("sensor/1")
	commit(t, s, &more, true)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	want.Sessions = append(slices.DeleteFunc(want.Sessions, func(x *store.Session) bool { return x.ClientID == "sensor/1" }),
		more.Ops[0].Session)
	want.Outbound = slices.DeleteFunc(want.Outbound, func(x *store.Outbound) bool { return x.ClientID == "sensor/1" })
	want.Inbound = slices.DeleteFunc(want.Inbound, func(x Inbound) bool { return x.ClientID == "sensor/1" })
	s = h.open(t, dir)
	defer s.Close()
	checkEqual(t, Load(t, s), want)
}
