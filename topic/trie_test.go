package topic_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mastmq/mast/topic"
)

// subs returns the matched non-shared subscriptions as sorted "owner filter=value".
func subs(tr *topic.Trie[int], name string) []string {
	var r topic.Result[int]
	tr.Match(name, &r)
	var out []string
	for _, e := range r.Subs {
		out = append(out, fmt.Sprintf("%s %s=%d", e.Owner, e.Filter, e.Value))
	}
	slices.Sort(out)
	return out
}

func TestTrieSubscribeMatch(t *testing.T) {
	tr := topic.NewTrie[int]()
	for i, f := range []string{"house/+/temp", "house/#", "house/kitchen/temp", "#", "+/+/+", "$SYS/#"} {
		if tr.Subscribe("c1", f, i) {
			t.Fatalf("new subscription %q reported as replaced", f)
		}
	}
	tr.Subscribe("c2", "house/kitchen/temp", 9)
	want := []string{
		"c1 #=3",
		"c1 +/+/+=4",
		"c1 house/#=1",
		"c1 house/+/temp=0",
		"c1 house/kitchen/temp=2",
		"c2 house/kitchen/temp=9",
	}
	if got := subs(tr, "house/kitchen/temp"); !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	// [MQTT-4.7.2-1]: only $SYS/# sees $SYS topics.
	if got := subs(tr, "$SYS/broker/clients"); !slices.Equal(got, []string{"c1 $SYS/#=5"}) {
		t.Fatalf("$SYS: got %q", got)
	}
	if got := subs(tr, "house"); !slices.Equal(got, []string{"c1 #=3", "c1 house/#=1"}) {
		t.Fatalf("house: got %q", got)
	}
	if tr.Count() != 7 {
		t.Fatalf("Count = %d, want 7", tr.Count())
	}
}

// A SUBSCRIBE for a filter the session already has replaces the
// subscription [MQTT-3.8.4-3]: one entry, the new value.
func TestTrieReplace(t *testing.T) {
	tr := topic.NewTrie[int]()
	if tr.Subscribe("c", "a/+", 1) {
		t.Fatal("first subscribe reported replaced")
	}
	if !tr.Subscribe("c", "a/+", 2) {
		t.Fatal("second subscribe not reported replaced [MQTT-3.8.4-3]")
	}
	if got := subs(tr, "a/b"); !slices.Equal(got, []string{"c a/+=2"}) {
		t.Fatalf("got %q", got)
	}
	if v, ok := tr.Get("c", "a/+"); !ok || v != 2 {
		t.Fatalf("Get = %d, %v", v, ok)
	}
	if tr.Count() != 1 {
		t.Fatalf("Count = %d", tr.Count())
	}
	// Many owners on one filter go through the owner index.
	for i := range 100 {
		tr.Subscribe(fmt.Sprint("o", i), "x", i)
	}
	for i := range 100 {
		if !tr.Subscribe(fmt.Sprint("o", i), "x", i+1000) {
			t.Fatalf("o%d not replaced", i)
		}
	}
	for i := 0; i < 100; i += 2 {
		if !tr.Unsubscribe(fmt.Sprint("o", i), "x") {
			t.Fatalf("o%d not removed", i)
		}
	}
	got := subs(tr, "x")
	if len(got) != 50 {
		t.Fatalf("%d subscribers left, want 50", len(got))
	}
	for i := 1; i < 100; i += 2 {
		if v, ok := tr.Get(fmt.Sprint("o", i), "x"); !ok || v != i+1000 {
			t.Fatalf("o%d: %d, %v", i, v, ok)
		}
	}
}

func TestTrieUnsubscribe(t *testing.T) {
	tr := topic.NewTrie[int]()
	tr.Subscribe("c", "a/b", 1)
	tr.Subscribe("d", "a/b", 2)
	if tr.Unsubscribe("c", "a/c") || tr.Unsubscribe("c", "a") || tr.Unsubscribe("e", "a/b") || tr.Unsubscribe("c", "$share/g/a/b") {
		t.Fatal("removed a subscription that does not exist")
	}
	if !tr.Unsubscribe("c", "a/b") {
		t.Fatal("Unsubscribe = false")
	}
	if tr.Unsubscribe("c", "a/b") {
		t.Fatal("second Unsubscribe = true")
	}
	if got := subs(tr, "a/b"); !slices.Equal(got, []string{"d a/b=2"}) {
		t.Fatalf("got %q", got)
	}
	if _, ok := tr.Get("c", "a/b"); ok {
		t.Fatal("Get found a removed subscription")
	}
}

func TestTriePrune(t *testing.T) {
	tr := topic.NewTrie[int]()
	var filters []string
	for i := range 200 {
		filters = append(filters,
			fmt.Sprintf("a/%d/b", i), fmt.Sprintf("a/+/%d/#", i), fmt.Sprintf("$share/g%d/a/%d", i%3, i),
			fmt.Sprintf("/%d//", i), "#", "+", "a/b/c/d/e/f/g/h")
	}
	for i, f := range filters {
		tr.Subscribe(fmt.Sprint("o", i%7), f, i)
	}
	if tr.Count() == 0 || tr.NodeCount() == 0 {
		t.Fatal("nothing subscribed")
	}
	for i, f := range filters {
		tr.Unsubscribe(fmt.Sprint("o", i%7), f)
	}
	if tr.Count() != 0 || tr.NodeCount() != 0 {
		t.Fatalf("after unsubscribing all: Count %d, NodeCount %d; want 0, 0", tr.Count(), tr.NodeCount())
	}
	var r topic.Result[int]
	tr.Match("a/1/b", &r)
	if len(r.Subs)+len(r.Shared) != 0 {
		t.Fatalf("empty trie matched %v", r)
	}
}

func TestTrieShared(t *testing.T) {
	tr := topic.NewTrie[string]()
	tr.Subscribe("c1", "$share/workers/jobs/+", "c1")
	tr.Subscribe("c2", "$share/workers/jobs/+", "c2")
	tr.Subscribe("c3", "$share/audit/jobs/#", "c3")
	tr.Subscribe("c1", "jobs/+", "plain") // the same owner, non-shared, is separate
	if tr.Count() != 4 {
		t.Fatalf("Count = %d", tr.Count())
	}

	var r topic.Result[string]
	tr.Match("jobs/42", &r)
	if len(r.Subs) != 1 || r.Subs[0].Filter != "jobs/+" || r.Subs[0].Value != "plain" {
		t.Fatalf("Subs = %v", r.Subs)
	}
	groups := map[string]topic.SharedMatch[string]{}
	for _, s := range r.Shared {
		groups[s.Group] = s
	}
	w, a := groups["workers"], groups["audit"]
	if len(groups) != 2 || w.Filter != "jobs/+" || a.Filter != "jobs/#" {
		t.Fatalf("Shared = %+v", r.Shared)
	}
	var owners []string
	for _, m := range w.Members {
		if m.Filter != "jobs/+" || m.Value != m.Owner {
			t.Fatalf("member %+v", m)
		}
		owners = append(owners, m.Owner)
	}
	slices.Sort(owners)
	if !slices.Equal(owners, []string{"c1", "c2"}) || len(a.Members) != 1 {
		t.Fatalf("members %v, audit %v", owners, a.Members)
	}

	// The cursor is the group's: stable across matches and membership
	// changes, and shared by every matcher.
	cursor := w.Cursor
	cursor.Add(5)
	snapshot := w.Members
	if !tr.Subscribe("c2", "$share/workers/jobs/+", "c2-new") {
		t.Fatal("rejoining the group not reported as replaced [MQTT-3.8.4-3]")
	}
	tr.Subscribe("c4", "$share/workers/jobs/+", "c4")
	tr.Match("jobs/43", &r)
	for _, s := range r.Shared {
		if s.Group == "workers" {
			if s.Cursor != cursor || s.Cursor.Load() != 5 {
				t.Fatal("cursor changed while the group lived")
			}
			if len(s.Members) != 3 {
				t.Fatalf("members %v", s.Members)
			}
		}
	}
	// A snapshot taken before is not changed by later writes.
	if len(snapshot) != 2 || snapshot[0].Value != snapshot[0].Owner || snapshot[1].Value != snapshot[1].Owner {
		t.Fatalf("snapshot changed: %v", snapshot)
	}

	// The group goes when its last member leaves.
	for _, o := range []string{"c1", "c2", "c4"} {
		if !tr.Unsubscribe(o, "$share/workers/jobs/+") {
			t.Fatalf("Unsubscribe %s = false", o)
		}
	}
	tr.Match("jobs/44", &r)
	if len(r.Shared) != 1 || r.Shared[0].Group != "audit" {
		t.Fatalf("after the workers left: %+v", r.Shared)
	}
	tr.Subscribe("c5", "$share/workers/jobs/+", "c5")
	tr.Match("jobs/45", &r)
	for _, s := range r.Shared {
		if s.Group == "workers" && (s.Cursor == cursor || s.Cursor.Load() != 0) {
			t.Fatal("a new group reused the old cursor")
		}
	}
}

// Shared filters are matched on their inner filter, with the '$' rule
// applying to it [MQTT-4.7.2-1].
func TestTrieSharedDollar(t *testing.T) {
	tr := topic.NewTrie[int]()
	tr.Subscribe("c", "$share/g/#", 1)
	tr.Subscribe("c", "$share/g/$SYS/#", 2)
	var r topic.Result[int]
	tr.Match("$SYS/x", &r)
	if len(r.Shared) != 1 || r.Shared[0].Filter != "$SYS/#" {
		t.Fatalf("%+v", r.Shared)
	}
}

// Names and filters at the length limit have up to 32768 levels; matching
// must work and must not recurse per level.
func TestTrieDeep(t *testing.T) {
	name := strings.Repeat("a/", 32767) + "a" // 65535 bytes
	plus := strings.Repeat("+/", 32767) + "+"
	tr := topic.NewTrie[int]()
	tr.Subscribe("c", name, 1)
	tr.Subscribe("c", plus, 2)
	tr.Subscribe("c", strings.Repeat("a/", 30000)+"#", 3)
	tr.Subscribe("c", "$share/g/"+name[:len(name)-10], 4)
	var r topic.Result[int]
	tr.Match(name, &r)
	if len(r.Subs) != 3 || len(r.Shared) != 0 {
		t.Fatalf("matched %d subs, %d shared; want 3, 0", len(r.Subs), len(r.Shared))
	}
	tr.Unsubscribe("c", name)
	tr.Unsubscribe("c", plus)
	tr.Unsubscribe("c", strings.Repeat("a/", 30000)+"#")
	tr.Unsubscribe("c", "$share/g/"+name[:len(name)-10])
	if tr.Count() != 0 || tr.NodeCount() != 0 {
		t.Fatalf("Count %d NodeCount %d", tr.Count(), tr.NodeCount())
	}
}

func TestTrieMatchAllocs(t *testing.T) {
	tr := topic.NewTrie[int]()
	for i := range 1000 {
		tr.Subscribe(fmt.Sprint("c", i), fmt.Sprintf("a/%d/c", i%50), i)
	}
	tr.Subscribe("x", "a/+/c", 1)
	tr.Subscribe("x", "a/#", 1)
	tr.Subscribe("x", "$share/g/a/7/c", 1)
	tr.Subscribe("y", "$share/g/a/7/c", 1)
	var r topic.Result[int]
	tr.Match("a/7/c", &r) // grow r
	if len(r.Subs) != 22 || len(r.Shared) != 1 {
		t.Fatalf("%d subs, %d shared", len(r.Subs), len(r.Shared))
	}
	if n := testing.AllocsPerRun(100, func() { tr.Match("a/7/c", &r) }); n != 0 {
		t.Fatalf("Match allocates %v times with a grown Result", n)
	}
}

// Run with -race: writers and matchers in parallel, and readers of shared
// member snapshots after Match has returned.
func TestTrieConcurrent(t *testing.T) {
	tr := topic.NewTrie[int]()
	const workers, rounds = 4, 300
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			owner := fmt.Sprint("w", w)
			for i := range rounds {
				filters := []string{
					fmt.Sprintf("a/%d/c", i%10), "a/+/c", "a/#", "$share/g/a/+/c", fmt.Sprintf("$share/g%d/#", i%3),
				}
				for _, f := range filters {
					tr.Subscribe(owner, f, i)
				}
				for _, f := range filters {
					tr.Unsubscribe(owner, f)
				}
			}
		}()
		go func() {
			defer wg.Done()
			var r topic.Result[int]
			sum := 0
			for i := range rounds * 2 {
				tr.Match(fmt.Sprintf("a/%d/c", i%10), &r)
				for _, e := range r.Subs {
					sum += e.Value
				}
				for _, s := range r.Shared {
					for _, m := range s.Members {
						sum += m.Value + len(m.Owner)
					}
					s.Cursor.Add(1)
				}
			}
			_ = sum
		}()
	}
	wg.Wait()
	if tr.Count() != 0 || tr.NodeCount() != 0 {
		t.Fatalf("Count %d NodeCount %d", tr.Count(), tr.NodeCount())
	}
}

// Filters do not pin the caller's buffer: the trie copies what it keeps.
func TestTrieCopiesFilter(t *testing.T) {
	tr := topic.NewTrie[int]()
	buf := []byte("a/b")
	tr.Subscribe("c", unsafeString(buf), 1)
	sbuf := []byte("$share/grp/a/+")
	tr.Subscribe("c", unsafeString(sbuf), 2)
	copy(buf, "x/y")
	copy(sbuf, "$share/xyz/x/+")
	var r topic.Result[int]
	tr.Match("a/b", &r)
	if len(r.Subs) != 1 || r.Subs[0].Filter != "a/b" || len(r.Shared) != 1 ||
		r.Shared[0].Group != "grp" || r.Shared[0].Filter != "a/+" || r.Shared[0].Members[0].Filter != "a/+" {
		t.Fatalf("%+v", r)
	}
}
