package topic

import "hash/maphash"

// kidIndex finds a child of a wide Retained node by its level. It is an
// open-addressing hash table of positions in the node's kids slice: 4 bytes
// a slot, where a Go map from level to position costs about 40 bytes an entry
// (a 16-byte string key per slot, at the load a growing map keeps). On a
// million retained topics under a few wide nodes that is a third of the
// index's memory.
//
// Keys are not stored: a slot holds position+1 (0 is empty) and the level is
// read from the child. Collisions probe linearly, and deletion shifts later
// entries back so no tombstones are needed.
type kidIndex struct {
	slots []int32
}

// newKidIndex indexes kids in a table at most half full.
func newKidIndex[M any](seed maphash.Seed, kids []*rnode[M]) *kidIndex {
	size := 16
	for size < 2*len(kids) {
		size *= 2
	}
	x := &kidIndex{slots: make([]int32, size)}
	for i, c := range kids {
		x.put(seed, c.level(), int32(i))
	}
	return x
}

func (x *kidIndex) home(seed maphash.Seed, level string) int {
	return int(maphash.String(seed, level)) & (len(x.slots) - 1)
}

// put stores pos for level, which is not in the table. The caller keeps the
// table under three quarters full.
func (x *kidIndex) put(seed maphash.Seed, level string, pos int32) {
	mask := len(x.slots) - 1
	i := x.home(seed, level)
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = pos + 1
}

// slot returns the table slot holding level, or -1.
func slot[M any](x *kidIndex, seed maphash.Seed, kids []*rnode[M], level string) int {
	mask := len(x.slots) - 1
	for i := x.home(seed, level); ; i = (i + 1) & mask {
		v := x.slots[i]
		if v == 0 {
			return -1
		}
		if kids[v-1].level() == level {
			return i
		}
	}
}

// remove empties slot i and moves back the entries after it that would
// otherwise no longer be found from their home slot. kids must still hold
// every indexed child.
func remove[M any](x *kidIndex, seed maphash.Seed, kids []*rnode[M], i int) {
	mask := len(x.slots) - 1
	x.slots[i] = 0
	for j := (i + 1) & mask; x.slots[j] != 0; j = (j + 1) & mask {
		h := x.home(seed, kids[x.slots[j]-1].level())
		// The entry at j may stay if its home lies cyclically in (i, j].
		if (i < j && i < h && h <= j) || (j < i && (i < h || h <= j)) {
			continue
		}
		x.slots[i], x.slots[j] = x.slots[j], 0
		i = j
	}
}
