package auth

// lru is a bounded map that forgets its least recently used entry when
// full. It is not safe for concurrent use: its owner holds a lock.
type lru[K comparable, V any] struct {
	max  int
	m    map[K]*lruEntry[K, V]
	root lruEntry[K, V] // sentinel: root.next is the newest, root.prev the oldest
}

type lruEntry[K comparable, V any] struct {
	key        K
	val        V
	prev, next *lruEntry[K, V]
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	l := &lru[K, V]{max: max, m: make(map[K]*lruEntry[K, V])}
	l.root.prev, l.root.next = &l.root, &l.root
	return l
}

func (l *lru[K, V]) len() int { return len(l.m) }

func (l *lru[K, V]) unlink(e *lruEntry[K, V]) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (l *lru[K, V]) pushFront(e *lruEntry[K, V]) {
	e.prev, e.next = &l.root, l.root.next
	e.prev.next, e.next.prev = e, e
}

// get returns the value for k and marks it as recently used.
func (l *lru[K, V]) get(k K) (V, bool) {
	e, ok := l.m[k]
	if !ok {
		var zero V
		return zero, false
	}
	l.unlink(e)
	l.pushFront(e)
	return e.val, true
}

// peek returns the value for k without marking it as used.
func (l *lru[K, V]) peek(k K) (V, bool) {
	e, ok := l.m[k]
	if !ok {
		var zero V
		return zero, false
	}
	return e.val, true
}

// put stores v under k as the most recently used entry, evicting the least
// recently used one when the map is full.
func (l *lru[K, V]) put(k K, v V) {
	if e, ok := l.m[k]; ok {
		e.val = v
		l.unlink(e)
		l.pushFront(e)
		return
	}
	if l.max > 0 && len(l.m) >= l.max {
		old := l.root.prev
		l.unlink(old)
		delete(l.m, old.key)
	}
	e := &lruEntry[K, V]{key: k, val: v}
	l.m[k] = e
	l.pushFront(e)
}

func (l *lru[K, V]) remove(k K) {
	if e, ok := l.m[k]; ok {
		l.unlink(e)
		delete(l.m, k)
	}
}
