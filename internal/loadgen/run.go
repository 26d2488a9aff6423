package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

var (
	errConnClosed  = errors.New("connection closed")
	errSyncTimeout = errors.New("broker did not answer PINGREQ in time")
)

// runner is the state of one Run.
type runner struct {
	cfg       Config
	local     []net.IP
	tlsConfig *tls.Config

	start    time.Time
	stop     chan struct{} // closed when publishers must stop
	stopOnce sync.Once
	stopping atomic.Bool

	mu      sync.Mutex
	clients []*client // every connected client, for keep alive, live line and close
	pubs    []*client
	subs    []*client

	dialSeq atomic.Int64 // spreads connections over source addresses
	conns   atomic.Int64
	errs    atomic.Int64
	errMu   sync.Mutex
	first   error
}

// Run runs one scenario against a broker and returns its summary. It stops
// by itself after cfg.Duration or cfg.Count messages per publisher, or
// early (still summarising) when ctx is cancelled. An error means the run
// could not be carried out, e.g. a client could not connect; failures
// during the run are counted in Result.Errors.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.Resolve()
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, stop: make(chan struct{})}
	for _, a := range cfg.LocalAddrs {
		r.local = append(r.local, net.ParseIP(a))
	}
	if cfg.TLS != nil {
		r.tlsConfig = cfg.TLS.Clone()
		if r.tlsConfig.ServerName == "" {
			if host, _, err := net.SplitHostPort(cfg.Addr); err == nil {
				r.tlsConfig.ServerName = host
			}
		}
	}
	bg, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.keepAlive(bg)
	liveDone := make(chan struct{})
	go r.live(bg, liveDone)
	// Cancelling ctx stops the publishers; the run then winds down.
	stopWatch := context.AfterFunc(ctx, r.halt)
	defer stopWatch()

	var res *Result
	switch cfg.Scenario {
	case "conn":
		res, err = r.runConn(ctx)
	case "retained":
		res, err = r.runRetained(ctx)
	default:
		res, err = r.runMessages(ctx)
	}
	cancel()
	<-liveDone
	r.closeAll()
	if res != nil {
		res.Errors = r.errs.Load()
		if r.first != nil {
			res.FirstError = r.first.Error()
		}
	}
	return res, err
}

// halt tells the publishers to stop.
func (r *runner) halt() {
	r.stopOnce.Do(func() {
		r.stopping.Store(true)
		close(r.stop)
	})
}

func (r *runner) addError(err error) {
	r.errs.Add(1)
	r.errMu.Lock()
	if r.first == nil {
		r.first = err
	}
	r.errMu.Unlock()
}

func (r *runner) result() *Result {
	return &Result{
		Scenario: r.cfg.Scenario, Addr: r.cfg.Addr, Version: r.cfg.Version,
		QoS: r.cfg.QoS, Size: r.cfg.Size,
	}
}

// connectAll connects n clients of one role, cfg.ConnectParallel at a
// time, and runs setup on each (see connect). With tolerant set, failures
// are counted and the clients that made it are returned; otherwise the
// first failure is returned as the error. Connect latencies (dial to the
// end of setup) go to hist when it is not nil.
func (r *runner) connectAll(ctx context.Context, role byte, n int, bufs bufSizes, tolerant bool,
	hist *hdrhistogram.Histogram, setup func(*client) error) ([]*client, int, error) {
	out := make([]*client, n)
	var (
		mu     sync.Mutex
		failed int
		first  error
		next   atomic.Int64
		wg     sync.WaitGroup
	)
	for range min(n, r.cfg.ConnectParallel) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if !tolerant {
					mu.Lock()
					stop := first != nil
					mu.Unlock()
					if stop {
						return
					}
				}
				start := time.Now()
				id := r.cfg.clientID(role, i)
				c, _, err := r.connect(ctx, int(r.dialSeq.Add(1)-1), i, id, bufs, setup)
				mu.Lock()
				if err != nil {
					failed++
					if first == nil {
						first = fmt.Errorf("client %s: %w", id, err)
					}
				} else {
					out[i] = c
					if hist != nil {
						recordMicros(hist, time.Since(start).Nanoseconds())
					}
				}
				mu.Unlock()
				if err == nil {
					r.mu.Lock()
					r.clients = append(r.clients, c)
					r.mu.Unlock()
				} else if tolerant {
					r.addError(fmt.Errorf("client %s: %w", id, err))
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil && !tolerant {
		return nil, failed, err
	}
	if !tolerant && first != nil {
		return nil, failed, first
	}
	ok := out[:0]
	for _, c := range out {
		if c != nil {
			ok = append(ok, c)
		}
	}
	return ok, failed, nil
}

// closeAll disconnects every client, a few at a time.
func (r *runner) closeAll() {
	r.mu.Lock()
	cs := r.clients
	r.clients = nil
	r.mu.Unlock()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(cs), 64) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(cs); i = int(next.Add(1) - 1) {
				cs[i].close()
			}
		})
	}
	wg.Wait()
}

// keepAlive sends PINGREQ on connections that have written nothing for
// half the keep alive, once a second.
func (r *runner) keepAlive(ctx context.Context) {
	half := time.Duration(r.cfg.KeepAlive) * time.Second / 2
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.mu.Lock()
			cs := r.clients
			r.mu.Unlock()
			for _, c := range cs {
				if now.UnixNano()-c.lastWrite.Load() >= int64(half) && !c.closing.Load() {
					c.ping()
				}
			}
		}
	}
}

// counts sums the live counters.
func (r *runner) counts() (sent, recv, inflight uint64) {
	r.mu.Lock()
	pubs, subs := r.pubs, r.subs
	r.mu.Unlock()
	for _, c := range pubs {
		s, a := c.sent.Load(), c.acked.Load()
		sent += s
		if c.window != nil && s > a {
			inflight += s - a
		}
	}
	for _, c := range subs {
		recv += c.recv.Load()
	}
	return
}

// live prints a line per interval to cfg.Live.
func (r *runner) live(ctx context.Context, done chan struct{}) {
	defer close(done)
	if r.cfg.Live == nil {
		return
	}
	began := time.Now()
	t := time.NewTicker(r.cfg.LiveInterval)
	defer t.Stop()
	var lastSent, lastRecv uint64
	last := began
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			sent, recv, inflight := r.counts()
			dt := now.Sub(last).Seconds()
			fmt.Fprintf(r.cfg.Live, "[%5.1fs] sent %8.0f/s  recv %8.0f/s  inflight %5d  conns %6d  errors %d\n",
				now.Sub(began).Seconds(), float64(sent-lastSent)/dt, float64(recv-lastRecv)/dt,
				inflight, r.conns.Load(), r.errs.Load())
			lastSent, lastRecv, last = sent, recv, now
		}
	}
}

// broker samples the broker process, when one was given.
func (r *runner) broker() (procSample, bool) {
	if r.cfg.BrokerPID <= 0 {
		return procSample{}, false
	}
	s, err := sampleProc(r.cfg.BrokerPID)
	if err != nil {
		r.addError(fmt.Errorf("broker process: %w", err))
		return s, false
	}
	return s, true
}

// waitUntil polls cond every few milliseconds until it holds, the deadline
// passes or ctx ends; it reports whether cond held.
func waitUntil(ctx context.Context, deadline time.Time, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// acksSettled reports whether every publisher has had all its QoS 1/2
// messages acknowledged (or lost its connection).
func acksSettled(pubs []*client) bool {
	for _, c := range pubs {
		if c.window == nil {
			continue
		}
		select {
		case <-c.done:
			continue
		default:
		}
		if c.acked.Load() < c.sent.Load() {
			return false
		}
	}
	return true
}
