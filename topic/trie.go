package topic

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Entry is one subscription: who subscribed, to which filter, and the
// broker's value for it.
type Entry[V any] struct {
	Owner  string // the subscriber, a client identifier
	Filter string // the filter as subscribed, without any $share/{group}/ prefix
	Value  V
}

// SharedMatch is one shared subscription ($share/{Group}/{Filter}) whose
// filter matched a name. The broker delivers the message to one of Members.
type SharedMatch[V any] struct {
	Group  string
	Filter string
	// Members is an immutable snapshot: the trie never writes to the part of
	// a members array it has handed out (it appends past its length, and
	// replaces or removes by copying), so Members may be read after Match
	// returns while others Subscribe and Unsubscribe. Do not modify it.
	Members []Entry[V]
	// Cursor is the group's counter for round-robin selection, e.g.
	// Members[(Cursor.Add(1)-1)%len(Members)]. It is the same pointer for as
	// long as the group has members.
	Cursor *atomic.Uint32
}

// Result receives the subscriptions Trie.Match finds. Reuse one per
// goroutine: once its slices have grown, Match does not allocate.
type Result[V any] struct {
	Subs   []Entry[V]       // non-shared subscriptions, one per matching (owner, filter)
	Shared []SharedMatch[V] // one per matching (group, filter)
}

// Reset empties r, keeping its capacity. It zeroes the old entries so that a
// pooled Result does not keep unsubscribed sessions reachable.
func (r *Result[V]) Reset() {
	clear(r.Subs)
	clear(r.Shared)
	r.Subs = r.Subs[:0]
	r.Shared = r.Shared[:0]
}

// Trie is the subscription index: it maps topic filters to subscriptions.
// It is safe for concurrent use: one sync.RWMutex over the tree, held shared
// by Match. The zero value is not ready; use NewTrie.
type Trie[V any] struct {
	mu    sync.RWMutex
	root  tnode[V]
	count int // subscriptions, shared members included
	nodes int // nodes below the root
}

// tnode is one level of a filter. Literal children are in a map; the '+' and
// '#' children have their own pointers so Match reaches them without a map
// lookup (the NATS sublist layout).
type tnode[V any] struct {
	parent *tnode[V]
	key    string // this node's level in parent.lits; "+" or "#" for those children
	filter string // the whole (inner) filter this node stands for, once it has subscriptions
	lits   map[string]*tnode[V]
	plus   *tnode[V]
	hash   *tnode[V]
	subs   []Entry[V]       // non-shared subscriptions, any order; Match copies them under the lock
	index  map[string]int32 // owner → position in subs, only when subs is long
	groups []*sgroup[V]     // shared subscriptions on this filter
}

type sgroup[V any] struct {
	name    string
	members []Entry[V] // copy-on-write, see SharedMatch.Members
	cursor  atomic.Uint32
}

// Past indexAt subscribers on one filter, finding an owner's entry goes
// through a map instead of a scan, so that a popular filter (every device on
// "broadcast/all") does not make each Subscribe linear.
const indexAt = 16

// NewTrie returns an empty subscription index.
func NewTrie[V any]() *Trie[V] { return &Trie[V]{} }

// Subscribe adds owner's subscription to filter with value v, or replaces
// the value if owner already has this exact filter, in which case it returns
// true [MQTT-3.8.4-3]. A "$share/{group}/{filter}" filter makes owner a
// member of that group. The filter must be valid (see ValidateFilter).
func (t *Trie[V]) Subscribe(owner, filter string, v V) (replaced bool) {
	group, inner, shared := ParseShared(filter)
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.insert(inner)
	if !shared {
		if i := n.find(owner); i >= 0 {
			n.subs[i].Value = v
			return true
		}
		n.subs = append(n.subs, Entry[V]{Owner: owner, Filter: n.filter, Value: v})
		if n.index != nil {
			n.index[owner] = int32(len(n.subs) - 1)
		} else if len(n.subs) > indexAt {
			n.index = make(map[string]int32, len(n.subs))
			for i, e := range n.subs {
				n.index[e.Owner] = int32(i)
			}
		}
		t.count++
		return false
	}
	g := n.group(group)
	if g == nil {
		g = &sgroup[V]{name: strings.Clone(group)}
		n.groups = append(n.groups, g)
	}
	for i, e := range g.members {
		if e.Owner == owner {
			// Copy so that snapshots handed out keep the old value.
			m := make([]Entry[V], len(g.members))
			copy(m, g.members)
			m[i].Value = v
			g.members = m
			return true
		}
	}
	// Appending writes past the length of every snapshot already handed
	// out, so it needs no copy.
	g.members = append(g.members, Entry[V]{Owner: owner, Filter: n.filter, Value: v})
	t.count++
	return false
}

// insert returns the node for filter, creating the missing ones. The caller
// holds the write lock.
func (t *Trie[V]) insert(filter string) *tnode[V] {
	n := &t.root
	var own string // filter cloned, once, for the keys of new nodes
	for pos := 0; pos <= len(filter); {
		e := levelEnd(filter, pos)
		level := filter[pos:e]
		var c *tnode[V]
		switch level {
		case "+":
			if n.plus == nil {
				n.plus = &tnode[V]{parent: n, key: "+"}
				t.nodes++
			}
			c = n.plus
		case "#":
			if n.hash == nil {
				n.hash = &tnode[V]{parent: n, key: "#"}
				t.nodes++
			}
			c = n.hash
		default:
			c = n.lits[level]
			if c == nil {
				if own == "" {
					own = strings.Clone(filter)
				}
				key := own[pos:e]
				c = &tnode[V]{parent: n, key: key}
				if n.lits == nil {
					n.lits = make(map[string]*tnode[V])
				}
				n.lits[key] = c
				t.nodes++
			}
		}
		n = c
		pos = e + 1
	}
	if n.filter == "" {
		if own == "" {
			own = strings.Clone(filter)
		}
		n.filter = own
	}
	return n
}

// lookup returns the node for filter, or nil. The caller holds a lock.
func (t *Trie[V]) lookup(filter string) *tnode[V] {
	n := &t.root
	for pos := 0; pos <= len(filter) && n != nil; {
		e := levelEnd(filter, pos)
		switch level := filter[pos:e]; level {
		case "+":
			n = n.plus
		case "#":
			n = n.hash
		default:
			n = n.lits[level]
		}
		pos = e + 1
	}
	return n
}

func (n *tnode[V]) find(owner string) int {
	if n.index != nil {
		if i, ok := n.index[owner]; ok {
			return int(i)
		}
		return -1
	}
	for i := range n.subs {
		if n.subs[i].Owner == owner {
			return i
		}
	}
	return -1
}

func (n *tnode[V]) group(name string) *sgroup[V] {
	for _, g := range n.groups {
		if g.name == name {
			return g
		}
	}
	return nil
}

// Unsubscribe removes owner's subscription to filter (plain or shared) and
// reports whether there was one. Nodes left empty are removed.
func (t *Trie[V]) Unsubscribe(owner, filter string) bool {
	group, inner, shared := ParseShared(filter)
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.lookup(inner)
	if n == nil {
		return false
	}
	if !shared {
		i := n.find(owner)
		if i < 0 {
			return false
		}
		last := len(n.subs) - 1
		if i != last {
			n.subs[i] = n.subs[last]
			if n.index != nil {
				n.index[n.subs[i].Owner] = int32(i)
			}
		}
		n.subs[last] = Entry[V]{}
		n.subs = n.subs[:last]
		if n.index != nil {
			delete(n.index, owner)
			if len(n.subs) <= indexAt/2 {
				n.index = nil // maps never shrink; drop it and scan again
			}
		}
		if len(n.subs) == 0 {
			n.subs = nil
		} else if cap(n.subs) > 32 && len(n.subs) < cap(n.subs)/4 {
			n.subs = append([]Entry[V](nil), n.subs...)
		}
	} else {
		gi := -1
		for i, g := range n.groups {
			if g.name == group {
				gi = i
				break
			}
		}
		if gi < 0 {
			return false
		}
		g := n.groups[gi]
		mi := -1
		for i, e := range g.members {
			if e.Owner == owner {
				mi = i
				break
			}
		}
		if mi < 0 {
			return false
		}
		if len(g.members) == 1 {
			// The group ends with its last member; a later subscriber
			// starts a new group with a new cursor.
			last := len(n.groups) - 1
			n.groups[gi] = n.groups[last]
			n.groups[last] = nil
			n.groups = n.groups[:last]
			if last == 0 {
				n.groups = nil
			}
		} else {
			// Copy: snapshots handed out must not change under readers.
			m := make([]Entry[V], 0, len(g.members)-1)
			m = append(m, g.members[:mi]...)
			g.members = append(m, g.members[mi+1:]...)
		}
	}
	t.count--
	t.prune(n)
	return true
}

// prune removes n and its ancestors while they hold nothing.
func (t *Trie[V]) prune(n *tnode[V]) {
	for n != &t.root && len(n.subs) == 0 && len(n.groups) == 0 &&
		len(n.lits) == 0 && n.plus == nil && n.hash == nil {
		p := n.parent
		switch {
		case p.plus == n:
			p.plus = nil
		case p.hash == n:
			p.hash = nil
		default:
			delete(p.lits, n.key)
			if len(p.lits) == 0 {
				p.lits = nil
			}
		}
		n.parent = nil
		t.nodes--
		n = p
	}
}

// Get returns owner's value for filter (plain or shared), if subscribed.
func (t *Trie[V]) Get(owner, filter string) (V, bool) {
	group, inner, shared := ParseShared(filter)
	t.mu.RLock()
	defer t.mu.RUnlock()
	var zero V
	n := t.lookup(inner)
	if n == nil {
		return zero, false
	}
	if !shared {
		if i := n.find(owner); i >= 0 {
			return n.subs[i].Value, true
		}
		return zero, false
	}
	if g := n.group(group); g != nil {
		for _, e := range g.members {
			if e.Owner == owner {
				return e.Value, true
			}
		}
	}
	return zero, false
}

// Count returns the number of subscriptions, each shared-group member
// counted once.
func (t *Trie[V]) Count() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.count
}

// NodeCount returns the number of tree nodes, for tests and metrics: it is 0
// once every subscription is gone.
func (t *Trie[V]) NodeCount() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.nodes
}

// tframe is a node still to visit in Match, with the position in the name of
// the next level to match below it (past len(name) when all are matched).
type tframe[V any] struct {
	n   *tnode[V]
	pos int
}

// Match resets r and fills it with every subscription whose filter matches
// the topic name: r.Subs gets one Entry per matching non-shared (owner,
// filter) pair, so an owner with overlapping filters appears once per filter;
// r.Shared gets one SharedMatch per matching shared (group, filter). The order
// is unspecified. Match does not allocate when r has the capacity, and does
// not recurse, so names with any number of levels are safe.
func (t *Trie[V]) Match(name string, r *Result[V]) {
	r.Reset()
	dollar := name != "" && name[0] == '$'
	// A depth-first walk with an explicit stack: each node is reached by one
	// path, so each is visited at most once, and the stack grows by at most
	// one per level. 32 frames cover ordinary topics without touching the
	// heap.
	var buf [32]tframe[V]
	stack := buf[:0]
	t.mu.RLock()
	stack = append(stack, tframe[V]{&t.root, 0})
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n, pos := f.n, f.pos
		if pos > len(name) {
			r.collect(n)
			if n.hash != nil {
				r.collect(n.hash) // "a/#" matches "a" [MQTT-4.7.1-2]
			}
			continue
		}
		e := levelEnd(name, pos)
		// Only the root is visited at position 0; its wildcard children
		// do not match names starting with '$' [MQTT-4.7.2-1].
		if !dollar || pos != 0 {
			if n.hash != nil {
				r.collect(n.hash)
			}
			if n.plus != nil {
				stack = append(stack, tframe[V]{n.plus, e + 1})
			}
		}
		if c := n.lits[name[pos:e]]; c != nil {
			stack = append(stack, tframe[V]{c, e + 1})
		}
	}
	t.mu.RUnlock()
}

func (r *Result[V]) collect(n *tnode[V]) {
	r.Subs = append(r.Subs, n.subs...)
	for _, g := range n.groups {
		r.Shared = append(r.Shared, SharedMatch[V]{
			Group:   g.name,
			Filter:  n.filter,
			Members: g.members,
			Cursor:  &g.cursor,
		})
	}
}
