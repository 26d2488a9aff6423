package broker

import (
	"testing"
	"time"
)

// TestHeapTrimDue: the heap is trimmed only after three quiet ticks with
// enough spare memory, never while busy, and once per refill.
func TestHeapTrimDue(t *testing.T) {
	const mb = 1 << 20
	type tick struct {
		allocated, heap, live uint64
		want                  bool
	}
	for _, tc := range []struct {
		name  string
		ticks []tick
	}{
		{"quiet", []tick{
			{10 << 10, 80 * mb, 40 * mb, false},
			{10 << 10, 80 * mb, 40 * mb, false},
			{10 << 10, 80 * mb, 40 * mb, true},
			// Trimmed: not again until as much as was spare has been
			// allocated anew.
			{10 << 10, 80 * mb, 40 * mb, false},
			{10 << 10, 80 * mb, 40 * mb, false},
			{10 << 10, 80 * mb, 40 * mb, false},
			{41 * mb, 80 * mb, 40 * mb, false}, // busy for a second
			{10 << 10, 80 * mb, 40 * mb, false},
			{10 << 10, 80 * mb, 40 * mb, false},
			{10 << 10, 80 * mb, 40 * mb, true},
		}},
		{"busy", []tick{
			{50 * mb, 80 * mb, 40 * mb, false},
			{50 * mb, 80 * mb, 40 * mb, false},
			{50 * mb, 80 * mb, 40 * mb, false},
			{50 * mb, 80 * mb, 40 * mb, false},
		}},
		{"light traffic refills the spare within a minute", []tick{
			{1 * mb, 80 * mb, 40 * mb, false},
			{1 * mb, 80 * mb, 40 * mb, false},
			{1 * mb, 80 * mb, 40 * mb, false},
			{1 * mb, 80 * mb, 40 * mb, false},
		}},
		{"little spare", []tick{
			{0, 44 * mb, 40 * mb, false},
			{0, 44 * mb, 40 * mb, false},
			{0, 44 * mb, 40 * mb, false},
			{0, 44 * mb, 40 * mb, false},
		}},
		{"quiet interrupted", []tick{
			{0, 80 * mb, 40 * mb, false},
			{0, 80 * mb, 40 * mb, false},
			{30 * mb, 80 * mb, 40 * mb, false},
			{0, 80 * mb, 40 * mb, false},
			{0, 80 * mb, 40 * mb, false},
			{0, 80 * mb, 40 * mb, true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h heapTrim
			for i, tk := range tc.ticks {
				if got := h.due(tk.allocated, tk.heap, tk.live, time.Second); got != tk.want {
					t.Fatalf("tick %d: due %v, want %v", i, got, tk.want)
				}
			}
		})
	}
}
