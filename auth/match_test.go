package auth

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// refMatch is the MQTT matching rule written the obvious way, to check the
// fast matchers against. Unlike them it takes "" as a topic of one empty
// level, which no client can publish: overlaps and covers are exact over
// that larger set of topics, and so err on the safe side over real ones
// (overlaps may say yes, covers no, because of the empty topic alone).
func refMatch(filter, topic string) bool {
	if filter == "" {
		return false
	}
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	if strings.HasPrefix(topic, "$") && wildcard(f[0]) {
		return false
	}
	for i, l := range f {
		if l == "#" {
			return true
		}
		if i >= len(t) {
			return false
		}
		if l != "+" && l != t[i] {
			return false
		}
	}
	return len(f) == len(t)
}

func TestMatchFilter(t *testing.T) {
	for _, c := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"a/+", "a/b", true},
		{"a/+", "a/", true},
		{"a/+", "a", false},
		{"a/+", "a/b/c", false},
		{"+/+", "/", true},
		{"+", "/a", false},
		{"a/#", "a", true},
		{"a/#", "a/", true},
		{"a/#", "a/b/c", true},
		{"a/#", "ab", false},
		{"#", "a/b", true},
		{"#", "/", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"$SYS/#", "$SYS", true},
		{"a/+/#", "a/b", true},
		{"a/+/#", "a", false},
		{"a//b", "a//b", true},
		{"a/+/b", "a//b", true},
		{"", "a", false},
		{"a", "", false},
	} {
		if got := matchFilter(c.filter, c.topic); got != c.want {
			t.Errorf("matchFilter(%q, %q) = %v, want %v", c.filter, c.topic, got, c.want)
		}
		if got := matchFilter([]byte(c.filter), c.topic); got != c.want {
			t.Errorf("matchFilter([]byte(%q), %q) = %v, want %v", c.filter, c.topic, got, c.want)
		}
		if got := refMatch(c.filter, c.topic); c.topic != "" && got != c.want {
			t.Errorf("refMatch(%q, %q) = %v, want %v (the reference is wrong)", c.filter, c.topic, got, c.want)
		}
	}
}

func TestCheckFilter(t *testing.T) {
	for _, ok := range []string{"a", "a/b", "+", "#", "a/+/b", "a/#", "/", "+/+", "$SYS/#", "p/%u/#", "a b/c"} {
		if err := checkFilter(ok); err != nil {
			t.Errorf("checkFilter(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "a#", "a/#/b", "+a", "a/b+", "a/+b/c", "#/a", "a\x00b", "\xff", strings.Repeat("a", 65536)} {
		if err := checkFilter(bad); err == nil {
			t.Errorf("checkFilter(%q) = nil, want an error", bad)
		}
	}
}

// Small universes of filters and topics, built from the levels that make
// a difference: two literals, a $-literal, an empty level, a literal no
// filter names (standing for every other), and the wildcards.
func filters(maxLevels int) []string {
	levels := []string{"a", "b", "$s", "", "+", "#"}
	var out []string
	var gen func(prefix []string)
	gen = func(prefix []string) {
		if f := strings.Join(prefix, "/"); f != "" {
			out = append(out, f)
		}
		if len(prefix) == maxLevels || len(prefix) > 0 && prefix[len(prefix)-1] == "#" {
			return
		}
		for _, l := range levels {
			if l == "$s" && len(prefix) > 0 {
				continue
			}
			gen(append(prefix[:len(prefix):len(prefix)], l))
		}
	}
	gen(nil)
	return out
}

func topics(maxLevels int) []string {
	levels := []string{"a", "b", "c", "$s", ""}
	var out []string
	var gen func(prefix []string)
	gen = func(prefix []string) {
		if len(prefix) > 0 {
			out = append(out, strings.Join(prefix, "/"))
		}
		if len(prefix) == maxLevels {
			return
		}
		for _, l := range levels {
			gen(append(prefix[:len(prefix):len(prefix)], l))
		}
	}
	gen(nil)
	return out
}

func TestMatchAgainstReference(t *testing.T) {
	fs, ts := filters(3), topics(4)
	for _, f := range fs {
		for _, tp := range ts {
			if tp == "" {
				continue
			}
			if got, want := matchFilter(f, tp), refMatch(f, tp); got != want {
				t.Fatalf("matchFilter(%q, %q) = %v, reference says %v", f, tp, got, want)
			}
		}
	}
}

// TestOverlapsCovers checks overlaps and covers against their definitions
// over every pair of small filters.
func TestOverlapsCovers(t *testing.T) {
	fs, ts := filters(3), topics(4)
	matches := make(map[string][]bool, len(fs))
	for _, f := range fs {
		m := make([]bool, len(ts))
		for i, tp := range ts {
			m[i] = refMatch(f, tp)
		}
		matches[f] = m
	}
	for _, a := range fs {
		for _, b := range fs {
			ma, mb := matches[a], matches[b]
			overlap, cover := false, true
			for i := range ts {
				overlap = overlap || ma[i] && mb[i]
				cover = cover && (!mb[i] || ma[i])
			}
			if got := overlaps(a, b); got != overlap {
				t.Errorf("overlaps(%q, %q) = %v, want %v", a, b, got, overlap)
			}
			if got := covers(a, b); got != cover {
				t.Errorf("covers(%q, %q) = %v, want %v", a, b, got, cover)
			}
		}
	}
}

// TestTrieAgainstLinear checks the rule trie against a plain scan of the
// same rules.
func TestTrieAgainstLinear(t *testing.T) {
	fs, ts := filters(3), topics(4)
	rng := rand.New(rand.NewPCG(1, 2))
	type rule struct {
		filter string
		allow  Access
		deny   bool
	}
	for range 300 {
		var root node
		rules := make([]rule, 1+rng.IntN(12))
		for i := range rules {
			r := rule{filter: fs[rng.IntN(len(fs))]}
			switch rng.IntN(4) {
			case 0:
				r.deny = true
			case 1:
				r.allow = Read
			case 2:
				r.allow = Write
			default:
				r.allow = Read | Write
			}
			rules[i] = r
			root.insert(r.filter, r.allow, r.deny)
		}
		for _, tp := range ts {
			if tp == "" {
				continue
			}
			var deny bool
			var allow Access
			for _, r := range rules {
				if refMatch(r.filter, tp) {
					deny = deny || r.deny
					allow |= r.allow
				}
			}
			gd, ga := root.lookup(tp)
			if gd != deny || ga != allow {
				t.Fatalf("rules %v, topic %q: trie says deny=%v allow=%v, scan says deny=%v allow=%v", rules, tp, gd, ga, deny, allow)
			}
		}
	}
}
