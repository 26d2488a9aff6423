package topic_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/mastmq/mast/topic"
)

// The value the broker stores per subscription is a small struct holding a
// session pointer and options; this stands in for it.
type subValue struct {
	session *int
	qos     byte
	noLocal bool
}

const benchFilters = 100_000

// literalFilters returns n filters "t{i}/d{j}/s{k}" spread over 100 tenants
// and 10 sensors.
func literalFilters(n int) []string {
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, fmt.Sprintf("t%d/d%d/s%d", i%100, i/1000, (i/100)%10))
	}
	return out
}

func buildTrie(b *testing.B, filters []string) *topic.Trie[subValue] {
	b.Helper()
	tr := topic.NewTrie[subValue]()
	for i, f := range filters {
		tr.Subscribe(fmt.Sprint("client", i), f, subValue{qos: 1})
	}
	return tr
}

func benchMatch(b *testing.B, tr *topic.Trie[subValue], name string, wantSubs, wantShared int) {
	var r topic.Result[subValue]
	tr.Match(name, &r)
	if len(r.Subs) != wantSubs || len(r.Shared) != wantShared {
		b.Fatalf("Match(%q): %d subs %d shared, want %d, %d", name, len(r.Subs), len(r.Shared), wantSubs, wantShared)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tr.Match(name, &r)
	}
}

// BenchmarkTrieMatch matches one name against a trie of 100k filters.
func BenchmarkTrieMatch(b *testing.B) {
	base := literalFilters(benchFilters)

	b.Run("literal", func(b *testing.B) {
		tr := buildTrie(b, base)
		benchMatch(b, tr, "t42/d17/s4", 1, 0)
	})
	b.Run("miss", func(b *testing.B) {
		tr := buildTrie(b, base)
		benchMatch(b, tr, "t42/d17/nothing", 0, 0)
	})
	b.Run("plus", func(b *testing.B) {
		// 99k literal filters and 1k with '+' in the middle level.
		fs := append([]string(nil), base[:benchFilters-1000]...)
		for i := range 1000 {
			fs = append(fs, fmt.Sprintf("t%d/+/s%d", i%100, i/100))
		}
		tr := buildTrie(b, fs)
		benchMatch(b, tr, "t42/d17/s4", 2, 0)
	})
	b.Run("hash", func(b *testing.B) {
		// 99k literal filters and 1k ending in '#', plus one "#".
		fs := append([]string(nil), base[:benchFilters-1000]...)
		for i := range 999 {
			fs = append(fs, fmt.Sprintf("t%d/d%d/#", i%100, i/100))
		}
		fs = append(fs, "#")
		tr := buildTrie(b, fs)
		benchMatch(b, tr, "t42/d7/s4", 3, 0)
	})
	b.Run("shared", func(b *testing.B) {
		// 100k shared subscriptions: 25k filters, 4 members in one group each.
		tr := topic.NewTrie[subValue]()
		for i, f := range base[:benchFilters/4] {
			for m := range 4 {
				tr.Subscribe(fmt.Sprint("worker", m, "-", i), "$share/workers/"+f, subValue{})
			}
		}
		if tr.Count() != benchFilters {
			b.Fatal(tr.Count())
		}
		benchMatch(b, tr, "t42/d2/s4", 0, 1)
	})
	b.Run("mixed", func(b *testing.B) {
		// 100k filters of every kind; the name matches 1 literal, 1 '+',
		// 2 '#' and 1 shared group.
		fs := append([]string(nil), base[:benchFilters-3000]...)
		for i := range 1000 {
			fs = append(fs, fmt.Sprintf("t%d/+/s%d", i%100, i/100))
			fs = append(fs, fmt.Sprintf("t%d/d%d/#", i%100, i/100))
			fs = append(fs, fmt.Sprintf("$share/g/t%d/d%d/s%d", i%100, i/100, i%10))
		}
		fs = append(fs, "#", "$SYS/#")
		tr := buildTrie(b, fs)
		benchMatch(b, tr, "t42/d2/s2", 4, 1)
	})
}

// BenchmarkTrieMatchParallel is the literal case from every core at once,
// to see what the shared read lock costs.
func BenchmarkTrieMatchParallel(b *testing.B) {
	tr := buildTrie(b, literalFilters(benchFilters))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var r topic.Result[subValue]
		for pb.Next() {
			tr.Match("t42/d17/s4", &r)
		}
	})
}

// BenchmarkTrieSubscribe inserts filters into tries of 100k filters each.
func BenchmarkTrieSubscribe(b *testing.B) {
	fs := literalFilters(benchFilters)
	owners := make([]string, len(fs))
	for i := range owners {
		owners[i] = fmt.Sprint("client", i)
	}
	tr := topic.NewTrie[subValue]()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(fs) {
			b.StopTimer()
			tr, i = topic.NewTrie[subValue](), 0
			b.StartTimer()
		}
		tr.Subscribe(owners[i], fs[i], subValue{})
		i++
	}
}

// BenchmarkTrieChurn subscribes and unsubscribes one filter on a trie of
// 100k filters: a client connecting and leaving.
func BenchmarkTrieChurn(b *testing.B) {
	tr := buildTrie(b, literalFilters(benchFilters))
	b.ReportAllocs()
	for b.Loop() {
		tr.Subscribe("churn", "t1/new/level/x", subValue{})
		tr.Unsubscribe("churn", "t1/new/level/x")
	}
}

func BenchmarkValidate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = topic.ValidateName("house/kitchen/sensor/temperature")
		_ = topic.ValidateFilter("house/+/sensor/#")
	}
}

const retainedN = 1_000_000

// Retained names shaped like a fleet: 1000 sites of 1000 devices.
func retainedNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("site%d/device%d/status", i%1000, i/1000)
	}
	return out
}

var retainedOnce = sync.OnceValues(func() (*topic.Retained[*int], []string) {
	names := retainedNames(retainedN)
	rt := topic.NewRetained[*int]()
	m := new(int)
	for _, n := range names {
		rt.Set(n, m)
	}
	return rt, names
})

// BenchmarkRetainedSet sets names into an index that grows to 1M entries,
// then starts again.
func BenchmarkRetainedSet(b *testing.B) {
	names := retainedNames(retainedN)
	rt := topic.NewRetained[*int]()
	m := new(int)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if i == len(names) {
			b.StopTimer()
			rt, i = topic.NewRetained[*int](), 0
			b.StartTimer()
		}
		rt.Set(names[i], m)
		i++
	}
}

// BenchmarkRetainedReplace sets names that are already in a 1M index.
func BenchmarkRetainedReplace(b *testing.B) {
	rt, names := retainedOnce()
	m := new(int)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		rt.Set(names[i%len(names)], m)
		i += 7919
	}
}

// BenchmarkRetainedMatchAll walks all 1M entries with "#".
func BenchmarkRetainedMatchAll(b *testing.B) {
	rt, _ := retainedOnce()
	n := 0
	fn := func(string, *int) bool { n++; return true }
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rt.Match("#", fn)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkRetainedMatchPlus answers "site7/+/status" (1000 entries) over 1M.
func BenchmarkRetainedMatchPlus(b *testing.B) {
	rt, _ := retainedOnce()
	n := 0
	fn := func(string, *int) bool { n++; return true }
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rt.Match("site7/+/status", fn)
	}
	b.ReportMetric(float64(n)/float64(b.N), "matches/op")
}

// BenchmarkRetainedMemory reports the heap bytes per entry of a 1M-entry
// index for two shapes of name; the names' own bytes are counted once, as
// the index copies them. Values all point to one message.
func BenchmarkRetainedMemory(b *testing.B) {
	for _, shape := range []struct {
		name string
		gen  func(i int) string
	}{
		{"fleet", func(i int) string { return fmt.Sprintf("site%d/device%d/status", i%1000, i/1000) }},
		{"flat", func(i int) string { return fmt.Sprintf("devices/%07d", i) }},
	} {
		b.Run(shape.name, func(b *testing.B) {
			names := make([]string, retainedN)
			for i := range names {
				names[i] = shape.gen(i)
			}
			var per float64
			for b.Loop() {
				before := heapInUse()
				rt := topic.NewRetained[*int]()
				m := new(int)
				for _, n := range names {
					rt.Set(n, m)
				}
				per = float64(heapInUse()-before) / retainedN
				runtime.KeepAlive(rt)
			}
			b.ReportMetric(per, "bytes/entry")
			runtime.KeepAlive(names)
		})
	}
}

func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
