package broker

import (
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// housekeeping runs every timer-driven chore in one loop that reads like a
// list: session expiry, delayed wills, $SYS, giving unused memory back.
func (s *Server) housekeeping() {
	defer close(s.hkDone)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	sys := newSysPublisher(s)
	var trim heapTrim
	for {
		select {
		case <-s.quit:
			return
		case now := <-tick.C:
			s.fireDueWills(now)
			s.expireSessions(now)
			sys.maybePublish(now)
			s.trimHeap(&trim, now)
		}
	}
}

// heapTrim decides when to give the heap's spare memory back to the
// system. With GOGC=100 the Go runtime lets the heap grow to twice what is
// live before collecting, and keeps most of that room mapped for minutes
// after the allocations stop; for a broker holding many idle connections
// that room is as large again as the connections themselves. Once the
// broker has gone quiet (it would take more than trimRefill at the current
// rate to allocate the spare memory again), one forced collection returns
// it. A busy broker never trims, and a quiet one trims again only after it
// has allocated as much anew. Setting a memory limit (GOMEMLIMIT) is the
// operator's choice; no limit is set here.
type heapTrim struct {
	samples   []metrics.Sample
	allocs    uint64 // /gc/heap/allocs:bytes at the last tick
	last      time.Time
	sinceTrim uint64 // bytes allocated since the last trim
	quiet     int    // consecutive quiet ticks
	trimmed   bool
}

const (
	trimMin        = 8 << 20     // spare bytes below which a trim is not worth a collection
	trimRefill     = time.Minute // quiet: the spare memory would not be refilled sooner
	trimQuietTicks = 3
)

// due reports whether to trim, given the bytes allocated over period and
// the heap's mapped and live bytes.
func (h *heapTrim) due(allocated, heap, live uint64, period time.Duration) bool {
	h.sinceTrim += allocated
	spare := uint64(0)
	if heap > live {
		spare = heap - live
	}
	if spare < max(trimMin, live/8) || (h.trimmed && h.sinceTrim < spare) ||
		period <= 0 || float64(allocated)*float64(trimRefill)/float64(period) >= float64(spare) {
		h.quiet = 0
		return false
	}
	if h.quiet++; h.quiet < trimQuietTicks {
		return false
	}
	h.quiet, h.sinceTrim, h.trimmed = 0, 0, true
	return true
}

func (s *Server) trimHeap(h *heapTrim, now time.Time) {
	if h.samples == nil {
		h.samples = []metrics.Sample{
			{Name: "/gc/heap/allocs:bytes"},
			{Name: "/gc/heap/live:bytes"},
			{Name: "/memory/classes/heap/objects:bytes"},
			{Name: "/memory/classes/heap/unused:bytes"},
			{Name: "/memory/classes/heap/free:bytes"},
		}
	}
	metrics.Read(h.samples)
	v := func(i int) uint64 {
		if h.samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return h.samples[i].Value.Uint64()
	}
	allocs, live := v(0), v(1)
	heap := v(2) + v(3) + v(4)
	first := h.last.IsZero()
	allocated, period := allocs-h.allocs, now.Sub(h.last)
	h.allocs, h.last = allocs, now
	if first || live == 0 || !h.due(allocated, heap, live, period) {
		return
	}
	debug.FreeOSMemory()
	if s.verbose {
		s.log.Debug("quiet: gave the heap's spare memory back to the system", "spare_bytes", heap-live)
	}
}

// fireDueWills publishes wills whose delay has passed [MQTT-3.1.3-9].
func (s *Server) fireDueWills(now time.Time) {
	var due []*message
	s.mu.Lock()
	for sess, at := range s.wills {
		if now.Before(at) {
			continue
		}
		delete(s.wills, sess)
		sess.mu.Lock()
		if sess.will != nil && sess.conn == nil {
			due = append(due, sess.will)
			sess.will = nil
		}
		sess.willAt = time.Time{}
		sess.mu.Unlock()
	}
	s.mu.Unlock()
	for _, m := range due {
		s.publishWill(m)
	}
}

// expireSessions ends offline sessions whose expiry interval has passed
// [MQTT-3.1.2-23] (§4.1.0).
func (s *Server) expireSessions(now time.Time) {
	var fire []*message
	var orphans []delivery
	s.mu.Lock()
	for _, sess := range s.sessions {
		sess.mu.Lock()
		due := sess.conn == nil && !sess.expireAt.IsZero() && !now.Before(sess.expireAt)
		sess.mu.Unlock()
		if !due {
			continue
		}
		if s.verbose {
			s.log.Debug("Expiring client " + sess.id + " due to timeout.")
		}
		f, o := s.endSessionLocked(sess)
		fire = append(fire, f...)
		orphans = append(orphans, o...)
	}
	s.mu.Unlock()
	for _, m := range fire {
		s.publishWill(m)
	}
	s.redispatch(orphans)
}

func timeSince(t time.Time) time.Duration { return time.Since(t) }
