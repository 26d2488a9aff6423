package topic

import (
	"hash/maphash"
	"strings"
	"sync"
)

// Retained maps topic names to their retained message and answers wildcard
// filters. It is safe for concurrent use: one sync.RWMutex over the tree,
// held shared by Get and Match. The zero value is not ready; use
// NewRetained.
//
// It is a tree of levels. Each node keeps the full name up to its level as a
// substring of one clone of the name that created it, so a topic's bytes are
// stored once (shared with the ancestors created with it), Match hands out
// names without building them, and the level is the substring after off.
type Retained[M any] struct {
	mu    sync.RWMutex
	root  rnode[M]
	count int // nodes holding a value
	nodes int // nodes below the root
	seed  maphash.Seed
}

type rnode[M any] struct {
	path  string // the topic name up to and including this level
	kids  []*rnode[M]
	index *kidIndex // level → position in kids, once kids is long
	off   uint32    // this node's level is path[off:]
	has   bool
	val   M
}

// Past kidsIndexAt children, a node finds a child through a kidIndex hash
// table; below, a scan of a short slice is as fast and saves the table (most
// nodes have one or two children). Children stay in a slice either way so Match
// can iterate them with an index held on an explicit stack.
const kidsIndexAt = 8

func (n *rnode[M]) level() string { return n.path[n.off:] }

func (n *rnode[M]) child(seed maphash.Seed, level string) *rnode[M] {
	if n.index != nil {
		if i := slot(n.index, seed, n.kids, level); i >= 0 {
			return n.kids[n.index.slots[i]-1]
		}
		return nil
	}
	for _, c := range n.kids {
		if c.level() == level {
			return c
		}
	}
	return nil
}

func (n *rnode[M]) addChild(seed maphash.Seed, c *rnode[M]) {
	n.kids = append(n.kids, c)
	switch {
	case n.index == nil:
		if len(n.kids) > kidsIndexAt {
			n.index = newKidIndex(seed, n.kids)
		}
	case 4*len(n.kids) > 3*len(n.index.slots):
		n.index = newKidIndex(seed, n.kids)
	default:
		n.index.put(seed, c.level(), int32(len(n.kids)-1))
	}
}

func (n *rnode[M]) removeChild(seed maphash.Seed, c *rnode[M]) {
	i := -1
	if n.index != nil {
		s := slot(n.index, seed, n.kids, c.level())
		i = int(n.index.slots[s] - 1)
		remove(n.index, seed, n.kids, s)
	} else {
		for j, k := range n.kids {
			if k == c {
				i = j
				break
			}
		}
	}
	last := len(n.kids) - 1
	if i != last {
		moved := n.kids[last]
		n.kids[i] = moved
		if n.index != nil {
			n.index.slots[slot(n.index, seed, n.kids[:last+1], moved.level())] = int32(i + 1)
		}
	}
	n.kids[last] = nil
	n.kids = n.kids[:last]
	switch {
	case last == 0:
		n.kids, n.index = nil, nil
	case cap(n.kids) > 32 && last < cap(n.kids)/4:
		// Slices do not shrink by themselves: copy, and size the index
		// to match, so a node that once had a million children gives
		// the memory back.
		n.kids = append([]*rnode[M](nil), n.kids...)
		n.index = nil
		if last > kidsIndexAt {
			n.index = newKidIndex(seed, n.kids)
		}
	case n.index != nil && last <= kidsIndexAt/2:
		n.index = nil
	}
}

// NewRetained returns an empty retained-message index.
func NewRetained[M any]() *Retained[M] { return &Retained[M]{seed: maphash.MakeSeed()} }

// Set stores m as the retained message of the topic name, replacing any
// previous one. The name must be valid (see ValidateName).
func (r *Retained[M]) Set(name string, m M) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := &r.root
	var own string // name cloned, once, for the paths of new nodes
	for pos := 0; pos <= len(name); {
		e := levelEnd(name, pos)
		c := n.child(r.seed, name[pos:e])
		if c == nil {
			if own == "" {
				own = strings.Clone(name)
			}
			c = &rnode[M]{path: own[:e], off: uint32(pos)}
			n.addChild(r.seed, c)
			r.nodes++
		}
		n = c
		pos = e + 1
	}
	if !n.has {
		n.has = true
		r.count++
	}
	n.val = m
}

// Get returns the retained message of the topic name, if any.
func (r *Retained[M]) Get(name string) (M, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := r.find(name)
	if n == nil || !n.has {
		var zero M
		return zero, false
	}
	return n.val, true
}

func (r *Retained[M]) find(name string) *rnode[M] {
	n := &r.root
	for pos := 0; pos <= len(name) && n != nil; {
		e := levelEnd(name, pos)
		n = n.child(r.seed, name[pos:e])
		pos = e + 1
	}
	return n
}

// Delete removes the retained message of the topic name and reports whether
// there was one. Nodes left empty are removed.
func (r *Retained[M]) Delete(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Remember the path down so pruning needs no parent pointers (8 bytes
	// a node saved on a million entries).
	var buf [32]*rnode[M]
	path := append(buf[:0], &r.root)
	n := &r.root
	for pos := 0; pos <= len(name); {
		e := levelEnd(name, pos)
		n = n.child(r.seed, name[pos:e])
		if n == nil {
			return false
		}
		path = append(path, n)
		pos = e + 1
	}
	if !n.has {
		return false
	}
	var zero M
	n.has, n.val = false, zero
	r.count--
	for i := len(path) - 1; i > 0; i-- {
		c := path[i]
		if c.has || len(c.kids) > 0 {
			break
		}
		path[i-1].removeChild(r.seed, c)
		r.nodes--
	}
	return true
}

// Len returns the number of retained messages.
func (r *Retained[M]) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.count
}

// NodeCount returns the number of tree nodes, for tests and metrics: it is 0
// once every retained message is deleted.
func (r *Retained[M]) NodeCount() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.nodes
}

// rframe is a node still to visit in Match: the position in the filter of
// the next level to match below it, and for a '+' level the next child to
// try.
type rframe[M any] struct {
	n   *rnode[M]
	pos int
	i   int
}

// Match calls fn with the name and message of every retained topic that
// matches the filter, until fn returns false. The filter is a plain one: the
// caller strips a $share/{group}/ prefix (and, per [MQTT-3.3.1-6] as
// amended for v5, sends no retained messages for a new shared subscription).
// A filter starting with a wildcard does not match names starting with '$'
// [MQTT-4.7.2-1]. The order is unspecified.
//
// fn is called with the read lock held: it must be quick and must not call
// any method of r (a writer waiting for the lock would deadlock it). To do
// slow work, collect the messages first. Match does not recurse and does not
// allocate for filters of up to 32 levels.
func (r *Retained[M]) Match(filter string, fn func(name string, m M) bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	root := &r.root
	var buf [32]rframe[M]
	stack := append(buf[:0], rframe[M]{n: root})
	for len(stack) > 0 {
		top := len(stack) - 1
		f := &stack[top]
		n := f.n
		if f.pos > len(filter) {
			stack = stack[:top]
			if n.has && !fn(n.path, n.val) {
				return
			}
			continue
		}
		e := levelEnd(filter, f.pos)
		switch level := filter[f.pos:e]; level {
		case "#":
			stack = stack[:top]
			// '#' matches the parent level too [MQTT-4.7.1-2].
			if n != root && n.has && !fn(n.path, n.val) {
				return
			}
			if !walk(n, n == root, fn) {
				return
			}
		case "+":
			if f.i >= len(n.kids) {
				stack = stack[:top]
				continue
			}
			c := n.kids[f.i]
			f.i++
			if n == root && dollar(c) {
				continue // [MQTT-4.7.2-1]
			}
			stack = append(stack, rframe[M]{n: c, pos: e + 1})
		default:
			stack = stack[:top]
			if c := n.child(r.seed, level); c != nil {
				stack = append(stack, rframe[M]{n: c, pos: e + 1})
			}
		}
	}
}

// dollar reports whether a child of the root starts a '$' topic.
func dollar[M any](c *rnode[M]) bool { return c.path != "" && c.path[0] == '$' }

type wframe[M any] struct {
	n *rnode[M]
	i int
}

// walk calls fn for every value below n, depth first with an explicit stack,
// skipping '$' children of n when skipDollar is set. It returns false when fn
// asked to stop.
func walk[M any](n *rnode[M], skipDollar bool, fn func(string, M) bool) bool {
	var buf [32]wframe[M]
	stack := append(buf[:0], wframe[M]{n: n})
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.i >= len(f.n.kids) {
			stack = stack[:len(stack)-1]
			continue
		}
		c := f.n.kids[f.i]
		f.i++
		if skipDollar && len(stack) == 1 && dollar(c) {
			continue // [MQTT-4.7.2-1]
		}
		if c.has && !fn(c.path, c.val) {
			return false
		}
		if len(c.kids) > 0 {
			stack = append(stack, wframe[M]{n: c})
		}
	}
	return true
}
