package topic_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mastmq/mast/topic"
)

func retainedMatch(rt *topic.Retained[int], filter string) []string {
	var out []string
	rt.Match(filter, func(name string, m int) bool {
		out = append(out, fmt.Sprintf("%s=%d", name, m))
		return true
	})
	slices.Sort(out)
	return out
}

func TestRetained(t *testing.T) {
	rt := topic.NewRetained[int]()
	names := []string{"house/kitchen/temp", "house/kitchen", "house/hall/temp", "house", "$SYS/uptime", "/x", "x/", "a//b"}
	for i, n := range names {
		rt.Set(n, i)
	}
	rt.Set("house", 30) // replace
	if rt.Len() != len(names) {
		t.Fatalf("Len = %d", rt.Len())
	}
	if m, ok := rt.Get("house"); !ok || m != 30 {
		t.Fatalf("Get(house) = %d, %v", m, ok)
	}
	if _, ok := rt.Get("house/hall"); ok {
		t.Fatal("Get found an interior node")
	}
	for _, c := range []struct {
		filter string
		want   []string
	}{
		{"house/#", []string{"house/hall/temp=2", "house/kitchen/temp=0", "house/kitchen=1", "house=30"}},
		{"house/+/temp", []string{"house/hall/temp=2", "house/kitchen/temp=0"}},
		{"house/+", []string{"house/kitchen=1"}},
		{"house", []string{"house=30"}},
		{"#", []string{"/x=5", "a//b=7", "house/hall/temp=2", "house/kitchen/temp=0", "house/kitchen=1", "house=30", "x/=6"}},
		{"+", []string{"house=30"}},
		{"+/+", []string{"/x=5", "house/kitchen=1", "x/=6"}},
		{"$SYS/#", []string{"$SYS/uptime=4"}},
		{"+/uptime", nil}, // [MQTT-4.7.2-1]
		{"a/+/b", []string{"a//b=7"}},
		{"nothing/#", nil},
	} {
		if got := retainedMatch(rt, c.filter); !slices.Equal(got, c.want) {
			t.Errorf("Match(%q) = %q, want %q", c.filter, got, c.want)
		}
	}
}

func TestRetainedStop(t *testing.T) {
	rt := topic.NewRetained[int]()
	for i := range 100 {
		rt.Set(fmt.Sprintf("a/%d", i), i)
		rt.Set(fmt.Sprintf("a/%d/b", i), i)
	}
	for _, f := range []string{"#", "a/#", "a/+", "a/+/b", "+/+/+"} {
		calls := 0
		rt.Match(f, func(string, int) bool { calls++; return calls < 3 })
		if calls != 3 {
			t.Errorf("Match(%q) went on after fn returned false: %d calls", f, calls)
		}
	}
}

func TestRetainedDeletePrune(t *testing.T) {
	rt := topic.NewRetained[int]()
	var names []string
	for i := range 3000 {
		// Wide (a/N: a node with thousands of children) and deep names.
		names = append(names, fmt.Sprintf("a/%d", i), fmt.Sprintf("b/%d/c/d/%d", i%10, i), fmt.Sprintf("/%d//", i%5))
	}
	for i, n := range names {
		rt.Set(n, i)
	}
	if rt.Delete("a/nothing") || rt.Delete("b/1/c") || rt.Delete("b") {
		t.Fatal("deleted a name that has no value")
	}
	for i, n := range names {
		ok := rt.Delete(n)
		if first := slices.Index(names, n) == i; ok != first {
			t.Fatalf("Delete(%q) = %v", n, ok)
		}
		if _, ok := rt.Get(n); ok {
			t.Fatalf("Get(%q) after Delete", n)
		}
		if i == len(names)/2 {
			// Halfway, what is left still matches.
			want := 0
			for _, m := range names[i+1:] {
				if topic.Match("a/+", m) {
					want++
				}
			}
			if got := len(retainedMatch(rt, "a/+")); got != want {
				t.Fatalf("halfway a/+ matched %d, want %d", got, want)
			}
		}
	}
	if rt.Len() != 0 || rt.NodeCount() != 0 {
		t.Fatalf("Len %d NodeCount %d; want 0, 0", rt.Len(), rt.NodeCount())
	}
}

// Deleting a name leaves its ancestors that still hold values or children.
func TestRetainedDeleteKeepsAncestors(t *testing.T) {
	rt := topic.NewRetained[int]()
	rt.Set("a", 1)
	rt.Set("a/b/c", 2)
	rt.Set("a/b/d", 3)
	rt.Delete("a/b/c")
	if got := retainedMatch(rt, "#"); !slices.Equal(got, []string{"a/b/d=3", "a=1"}) {
		t.Fatalf("%q", got)
	}
	rt.Delete("a/b/d")
	if rt.NodeCount() != 1 {
		t.Fatalf("NodeCount %d, want 1", rt.NodeCount())
	}
}

// Names do not pin the caller's buffer: the index copies what it keeps.
func TestRetainedCopiesName(t *testing.T) {
	rt := topic.NewRetained[int]()
	buf := []byte("a/b")
	rt.Set(string(buf), 1)
	name := unsafeString(buf)
	rt.Set(name, 2) // existing node: nothing kept from name
	rt.Set(name+"/c", 3)
	copy(buf, "x/y")
	if got := retainedMatch(rt, "#"); !slices.Equal(got, []string{"a/b/c=3", "a/b=2"}) {
		t.Fatalf("%q", got)
	}
}

func TestRetainedDeep(t *testing.T) {
	name := strings.Repeat("a/", 32767) + "a"
	rt := topic.NewRetained[int]()
	rt.Set(name, 1)
	rt.Set("a", 2)
	for _, f := range []string{"#", "a/#", strings.Repeat("+/", 32767) + "+", name} {
		n := 0
		rt.Match(f, func(got string, m int) bool {
			if m == 1 && got != name {
				t.Fatalf("wrong name for %q", f[:10])
			}
			n++
			return true
		})
		if n == 0 {
			t.Fatalf("deep name not matched by %.10q...", f)
		}
	}
	rt.Delete(name)
	rt.Delete("a")
	if rt.NodeCount() != 0 {
		t.Fatalf("NodeCount %d", rt.NodeCount())
	}
}

func TestRetainedMatchAllocs(t *testing.T) {
	rt := topic.NewRetained[int]()
	for i := range 1000 {
		rt.Set(fmt.Sprintf("s/%d/t", i), i)
	}
	n := 0
	fn := func(string, int) bool { n++; return true }
	for _, f := range []string{"#", "s/+/t", "s/7/t", "s/#"} {
		if a := testing.AllocsPerRun(20, func() { rt.Match(f, fn) }); a != 0 {
			t.Errorf("Match(%q) allocates %v times", f, a)
		}
	}
}

func TestRetainedConcurrent(t *testing.T) {
	rt := topic.NewRetained[int]()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 500 {
				n := fmt.Sprintf("w%d/%d/x", w, i%20)
				rt.Set(n, i)
				rt.Get(n)
				if i%3 == 0 {
					rt.Delete(n)
				}
			}
			for i := range 20 {
				rt.Delete(fmt.Sprintf("w%d/%d/x", w, i))
			}
		}()
		go func() {
			defer wg.Done()
			for range 200 {
				rt.Match("#", func(n string, m int) bool { return len(n) > 0 })
				rt.Match("+/+/x", func(string, int) bool { return true })
			}
		}()
	}
	wg.Wait()
	if rt.Len() != 0 || rt.NodeCount() != 0 {
		t.Fatalf("Len %d NodeCount %d", rt.Len(), rt.NodeCount())
	}
}
