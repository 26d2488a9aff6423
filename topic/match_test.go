package topic_test

import (
	"testing"

	"github.com/mastmq/mast/topic"
)

// matchCases are filter/name pairs with the expected answer. Every matcher
// in the package (Match, Trie, Retained) is checked against them.
var matchCases = []struct {
	filter, name string
	want         bool
}{
	// Literal levels.
	{"a", "a", true},
	{"a", "b", false},
	{"a/b", "a/b", true},
	{"a/b", "a", false},
	{"a", "a/b", false},
	{"A", "a", false}, // case sensitive §4.7.3
	// '+' matches exactly one level [MQTT-4.7.1-3].
	{"+", "a", true},
	{"+", "a/b", false},
	{"a/+", "a/b", true},
	{"a/+", "a", false},
	{"a/+", "a/b/c", false},
	{"a/+/c", "a/b/c", true},
	{"a/+/c", "a/b/d", false},
	{"+/+", "a/b", true},
	{"+/b", "a/b", true},
	// '+' matches an empty level.
	{"+", "", true}, // not a valid name, but the rule holds
	{"a/+", "a/", true},
	{"+/a", "/a", true},
	{"a/+/b", "a//b", true},
	{"+/+", "/", true},
	{"+", "/", false},
	// '#' matches the rest, including the parent level [MQTT-4.7.1-2].
	{"#", "a", true},
	{"#", "a/b/c", true},
	{"#", "/", true},
	{"a/#", "a", true},
	{"a/#", "a/", true},
	{"a/#", "a/b", true},
	{"a/#", "a/b/c", true},
	{"a/#", "ab", false},
	{"a/#", "b/a", false},
	{"a/b/#", "a", false},
	{"+/#", "a", true},
	{"+/#", "a/b", true},
	{"/#", "/a", true},
	{"/#", "a", false},
	{"a/+/#", "a", false},
	{"a/+/#", "a/b", true},
	// Empty levels are distinct levels.
	{"a//b", "a//b", true},
	{"a//b", "a/b", false},
	{"/a", "a", false},
	{"a/", "a", false},
	{"a", "a/", false},
	{"/", "/", true},
	// '$' topics and leading wildcards [MQTT-4.7.2-1].
	{"#", "$SYS/broker/uptime", false},
	{"+/broker/uptime", "$SYS/broker/uptime", false},
	{"+", "$SYS", false},
	{"+/#", "$SYS", false},
	{"$SYS/#", "$SYS/broker/uptime", true},
	{"$SYS/#", "$SYS", true},
	{"$SYS/+/uptime", "$SYS/broker/uptime", true},
	{"$SYS", "$SYS", true},
	{"a/+", "a/$b", true}, // the rule is about the first character of the name
	{"a/#", "a/$b", true},
	{"#", "a$", true},
	{"$x/+", "$x/y", true},
}

func TestMatch(t *testing.T) {
	for _, c := range matchCases {
		if got := topic.Match(c.filter, c.name); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.filter, c.name, got, c.want)
		}
	}
}

func TestMatchCasesTrie(t *testing.T) {
	for _, c := range matchCases {
		tr := topic.NewTrie[int]()
		tr.Subscribe("c", c.filter, 1)
		tr.Subscribe("s", "$share/g/"+c.filter, 2)
		var r topic.Result[int]
		tr.Match(c.name, &r)
		if got := len(r.Subs) == 1; got != c.want {
			t.Errorf("Trie with %q matching %q: %d subs, want match=%v", c.filter, c.name, len(r.Subs), c.want)
		}
		if got := len(r.Shared) == 1; got != c.want {
			t.Errorf("Trie with $share/g/%q matching %q: %d shared, want match=%v", c.filter, c.name, len(r.Shared), c.want)
		}
	}
}

func TestMatchCasesRetained(t *testing.T) {
	for _, c := range matchCases {
		if c.name == "" {
			continue // not a valid name to retain
		}
		rt := topic.NewRetained[int]()
		rt.Set(c.name, 1)
		got := false
		rt.Match(c.filter, func(name string, m int) bool {
			if name != c.name || m != 1 {
				t.Errorf("Retained.Match gave %q, %d", name, m)
			}
			got = true
			return true
		})
		if got != c.want {
			t.Errorf("Retained with %q matching %q: got %v, want %v", c.name, c.filter, got, c.want)
		}
	}
}
