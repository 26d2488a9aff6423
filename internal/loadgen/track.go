package loadgen

import "github.com/HdrHistogram/hdrhistogram-go"

// Latency histograms count microseconds from 1 µs to 60 s with three
// significant digits.
const (
	histMin    = 1
	histMax    = 60_000_000
	histDigits = 3
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMin, histMax, histDigits)
}

// recordMicros records a duration in nanoseconds, clamped to the
// histogram's range.
func recordMicros(h *hdrhistogram.Histogram, nanos int64) {
	us := nanos / 1000
	if us < histMin {
		us = histMin
	} else if us > histMax {
		us = histMax
	}
	h.RecordValue(us)
}

// window is how far behind the highest sequence seen a message may arrive
// and still be told apart from a duplicate: a sliding bitmap of this many
// sequence numbers per publisher. The broker delivers one publisher's
// messages in order, so anything later than this is taken to be a
// duplicate; memory stays 32 KiB per publisher and subscriber however long
// the run.
const window = 1 << 18

// seqSet counts the distinct sequence numbers of one publisher seen by one
// subscriber.
type seqSet struct {
	low    uint64   // every sequence below low has been settled
	bits   []uint64 // bit s%window for low <= s < low+window
	unique uint64
	dups   uint64
	top    uint64 // highest sequence seen, +1 (0 when none)
}

// add records sequence s and reports whether it was new.
func (w *seqSet) add(s uint64) bool {
	if w.bits == nil {
		w.bits = make([]uint64, window/64)
	}
	if s < w.low {
		w.dups++
		return false
	}
	if s >= w.low+window {
		// Slide: sequences that drop out of the window unseen are lost.
		w.clear(w.low, s-window+1)
		w.low = s - window + 1
	}
	i, m := s%window/64, uint64(1)<<(s%64)
	if w.bits[i]&m != 0 {
		w.dups++
		return false
	}
	w.bits[i] |= m
	w.unique++
	if s+1 > w.top {
		w.top = s + 1
	}
	// Advance low over a settled prefix, a word at a time when possible.
	for {
		j := w.low % window / 64
		if w.low%64 == 0 && w.bits[j] == ^uint64(0) {
			w.bits[j] = 0
			w.low += 64
			continue
		}
		m := uint64(1) << (w.low % 64)
		if w.bits[j]&m == 0 {
			break
		}
		w.bits[j] &^= m
		w.low++
	}
	return true
}

// clear unsets the bits of sequences from..to-1.
func (w *seqSet) clear(from, to uint64) {
	if to-from >= window {
		clear(w.bits)
		return
	}
	for s := from; s < to; {
		if s%64 == 0 && to-s >= 64 {
			w.bits[s%window/64] = 0
			s += 64
			continue
		}
		w.bits[s%window/64] &^= 1 << (s % 64)
		s++
	}
}

// pubKey names one publisher of one run.
type pubKey struct {
	run uint16
	pub uint32
}

// tracker is one subscriber's account of what it received. It is owned by
// the subscriber's reader goroutine and read once that has stopped.
type tracker struct {
	run     uint16 // only this run's messages count; 0 accepts any
	sets    map[pubKey]*seqSet
	lastKey pubKey
	last    *seqSet

	received uint64 // messages of the run(s) counted, duplicates included
	unique   uint64
	dups     uint64
	foreign  uint64 // messages not made by this run
	hist     *hdrhistogram.Histogram
	lastAt   int64 // Unix nanoseconds of the last counted message
}

func newTracker(run uint16) *tracker {
	return &tracker{run: run, sets: make(map[pubKey]*seqSet)}
}

// message accounts for one received payload at time now (Unix ns). It
// returns false for payloads that do not count.
func (t *tracker) message(payload []byte, now int64, latency bool) bool {
	st, ok := readStamp(payload)
	if !ok || (t.run != 0 && st.run != t.run) {
		t.foreign++
		return false
	}
	k := pubKey{st.run, st.pub}
	set := t.last
	if set == nil || k != t.lastKey {
		set = t.sets[k]
		if set == nil {
			set = new(seqSet)
			t.sets[k] = set
		}
		t.lastKey, t.last = k, set
	}
	t.received++
	if set.add(st.seq) {
		t.unique++
	} else {
		t.dups++
	}
	t.lastAt = now
	if latency {
		if t.hist == nil {
			t.hist = newHistogram()
		}
		recordMicros(t.hist, now-st.nanos)
	}
	return true
}

// gapEstimate is, for a subscriber that does not know what was sent, the
// messages missing below the highest sequence seen of each publisher.
func (t *tracker) gapEstimate() uint64 {
	var n uint64
	for _, s := range t.sets {
		if s.top > s.unique {
			n += s.top - s.unique
		}
	}
	return n
}

// uniqueFrom returns how many distinct messages of publisher pub (of the
// tracker's run) were received.
func (t *tracker) uniqueFrom(pub uint32) uint64 {
	if s := t.sets[pubKey{t.run, pub}]; s != nil {
		return s.unique
	}
	return 0
}
