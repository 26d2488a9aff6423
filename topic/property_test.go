package topic_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mastmq/mast/topic"
)

// A small alphabet of levels so random filters and names collide often;
// it includes the empty level and '$' levels.
var levels = []string{"a", "b", "c", "", "$SYS", "$x", "ab"}

// wideLevels gives nodes enough children to use the indexes of wide nodes.
var wideLevels = func() []string {
	l := append([]string(nil), levels...)
	for i := range 60 {
		l = append(l, fmt.Sprint(i))
	}
	return l
}()

func randName(rng *rand.Rand) string { return randNameOf(rng, levels) }

func randNameOf(rng *rand.Rand, levels []string) string {
	n := 1 + rng.IntN(4)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = levels[rng.IntN(len(levels))]
	}
	if s := strings.Join(parts, "/"); s != "" {
		return s
	}
	return randNameOf(rng, levels) // an empty name is not valid [MQTT-4.7.3-1]
}

func randFilter(rng *rand.Rand) string { return randFilterOf(rng, levels) }

func randFilterOf(rng *rand.Rand, levels []string) string {
	n := 1 + rng.IntN(4)
	parts := make([]string, n)
	for i := range parts {
		switch r := rng.IntN(10); {
		case r < 3:
			parts[i] = "+"
		case r < 4 && i == n-1:
			parts[i] = "#"
		default:
			parts[i] = levels[rng.IntN(len(levels))]
		}
	}
	if s := strings.Join(parts, "/"); s != "" {
		return s
	}
	return randFilterOf(rng, levels)
}

type sub struct{ owner, filter string }

// TestTrieProperty checks Trie.Match against Match over random filters,
// names and churn.
func TestTrieProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tr := topic.NewTrie[int]()
	live := map[sub]int{} // the model: every subscription and its value
	owners := []string{"o1", "o2", "o3"}
	groups := []string{"g1", "g2"}
	var r topic.Result[int]
	for round := range 3000 {
		f := randFilter(rng)
		if err := topic.ValidateFilter(f); err != nil {
			t.Fatalf("generated invalid filter %q: %v", f, err)
		}
		if rng.IntN(4) == 0 {
			f = "$share/" + groups[rng.IntN(len(groups))] + "/" + f
		}
		s := sub{owners[rng.IntN(len(owners))], f}
		if rng.IntN(3) == 0 {
			_, had := live[s]
			if got := tr.Unsubscribe(s.owner, s.filter); got != had {
				t.Fatalf("Unsubscribe(%v) = %v, want %v", s, got, had)
			}
			delete(live, s)
		} else {
			_, had := live[s]
			if got := tr.Subscribe(s.owner, s.filter, round); got != had {
				t.Fatalf("Subscribe(%v) = %v, want %v", s, got, had)
			}
			live[s] = round
		}
		if tr.Count() != len(live) {
			t.Fatalf("Count = %d, want %d", tr.Count(), len(live))
		}

		name := randName(rng)
		var want, got []string
		wantShared := map[string][]string{}
		for s, v := range live {
			g, inner, shared := topic.ParseShared(s.filter)
			if !topic.Match(inner, name) {
				continue
			}
			if shared {
				k := g + " " + inner
				wantShared[k] = append(wantShared[k], fmt.Sprintf("%s=%d", s.owner, v))
			} else {
				want = append(want, fmt.Sprintf("%s %s=%d", s.owner, inner, v))
			}
		}
		tr.Match(name, &r)
		for _, e := range r.Subs {
			got = append(got, fmt.Sprintf("%s %s=%d", e.Owner, e.Filter, e.Value))
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: Match(%q)\n got %q\nwant %q", round, name, got, want)
		}
		if len(r.Shared) != len(wantShared) {
			t.Fatalf("round %d: Match(%q) shared %d groups, want %d", round, name, len(r.Shared), len(wantShared))
		}
		for _, sm := range r.Shared {
			var members []string
			for _, m := range sm.Members {
				if m.Filter != sm.Filter {
					t.Fatalf("member filter %q in group filter %q", m.Filter, sm.Filter)
				}
				members = append(members, fmt.Sprintf("%s=%d", m.Owner, m.Value))
			}
			w := wantShared[sm.Group+" "+sm.Filter]
			slices.Sort(members)
			slices.Sort(w)
			if !slices.Equal(members, w) {
				t.Fatalf("round %d: group %s %s members %q, want %q", round, sm.Group, sm.Filter, members, w)
			}
		}
	}
	for s := range live {
		tr.Unsubscribe(s.owner, s.filter)
	}
	if tr.Count() != 0 || tr.NodeCount() != 0 {
		t.Fatalf("Count %d NodeCount %d after removing all", tr.Count(), tr.NodeCount())
	}
}

// TestRetainedProperty checks Retained.Match against Match over random
// names, filters and churn.
func TestRetainedProperty(t *testing.T) {
	t.Run("narrow", func(t *testing.T) { retainedProperty(t, levels, 3000, 1) })
	t.Run("wide", func(t *testing.T) { retainedProperty(t, wideLevels, 20000, 25) })
}

// retainedProperty sets and deletes random names for rounds, and compares
// Match with the model every checkEvery rounds.
func retainedProperty(t *testing.T, levels []string, rounds, checkEvery int) {
	rng := rand.New(rand.NewPCG(3, 4))
	rt := topic.NewRetained[int]()
	live := map[string]int{}
	for round := range rounds {
		// Grow for a while, then mostly delete, so wide nodes shrink too.
		name := randNameOf(rng, levels)
		if round > rounds*2/3 {
			for n := range live {
				name = n
				break
			}
		}
		if err := topic.ValidateName(name); err != nil {
			t.Fatalf("generated invalid name %q: %v", name, err)
		}
		if rng.IntN(3) == 0 || round > rounds*2/3 {
			_, had := live[name]
			if got := rt.Delete(name); got != had {
				t.Fatalf("Delete(%q) = %v, want %v", name, got, had)
			}
			delete(live, name)
		} else {
			rt.Set(name, round)
			live[name] = round
		}
		if rt.Len() != len(live) {
			t.Fatalf("Len = %d, want %d", rt.Len(), len(live))
		}
		if round%checkEvery != 0 {
			continue
		}
		filter := randFilterOf(rng, levels)
		var want, got []string
		for n, v := range live {
			if topic.Match(filter, n) {
				want = append(want, fmt.Sprintf("%s=%d", n, v))
			}
		}
		rt.Match(filter, func(n string, v int) bool {
			got = append(got, fmt.Sprintf("%s=%d", n, v))
			return true
		})
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: Match(%q)\n got %q\nwant %q", round, filter, got, want)
		}
		probe := randNameOf(rng, levels)
		v, ok := rt.Get(probe)
		if wv, wok := live[probe]; ok != wok || v != wv {
			t.Fatalf("Get(%q) = %d, %v; want %d, %v", probe, v, ok, wv, wok)
		}
	}
	for n := range live {
		rt.Delete(n)
	}
	if rt.Len() != 0 || rt.NodeCount() != 0 {
		t.Fatalf("Len %d NodeCount %d after deleting all", rt.Len(), rt.NodeCount())
	}
}
