package broker

import (
	"sync"
	"time"

	"github.com/mastmq/mast/store"
)

// journal writes to the store from one goroutine. Writes submitted while a
// commit is running are merged into the next commit, so many connections
// share one sync (group commit), and their completion callbacks run in
// submission order, so acknowledgements keep the order of the packets
// they answer.
type journal struct {
	st       store.Store
	mode     Durability
	interval time.Duration
	log      func(msg string, args ...any)
	observer Observer
	// mirror, with a cluster that keeps sessions, receives the session
	// writes (PutSession, DeleteSession) of each committed batch.
	mirror func([]store.Op)

	mu      sync.Mutex
	batch   store.Batch
	dones   []jdone
	session []store.Op // the batch's session writes, for mirror
	sync    bool       // some pending write asked for a sync
	closed  bool
	wake    chan struct{}
	stopped chan struct{}
	dirty   bool // unsynced commits since the last Sync (batch mode)
}

func newJournal(st store.Store, mode Durability, interval time.Duration, log func(string, ...any), obs Observer, mirror func([]store.Op)) *journal {
	j := &journal{st: st, mode: mode, interval: interval, log: log, observer: obs, mirror: mirror,
		wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	go j.run()
	return j
}

// jdone is a submission's completion: wait, if set, is waited for after
// the commit (a cluster's replication) and its error goes to done.
type jdone struct {
	done func(error)
	wait func() error
}

// submit queues ops. sync asks for durability before done is called
// (subject to the durability mode). done may be nil; it runs on the
// journal's goroutine and must not block.
func (j *journal) submit(ops []store.Op, sync bool, done func(error)) {
	j.submitWait(ops, sync, nil, done, true)
}

// submitLocal is submit for writes that concern this node's copy only
// and are not mirrored to a cluster (a session handed to another node).
func (j *journal) submitLocal(ops []store.Op) { j.submitWait(ops, false, nil, nil, false) }

// submitWait is submit with a wait that must also succeed before done.
func (j *journal) submitWait(ops []store.Op, sync bool, wait func() error, done func(error), mirrored bool) {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		if done != nil {
			done(store.ErrClosed)
		}
		return
	}
	j.batch.Ops = append(j.batch.Ops, ops...)
	if j.mirror != nil && mirrored {
		for _, op := range ops {
			if op.Kind == store.PutSession || op.Kind == store.DeleteSession {
				j.session = append(j.session, op)
			}
		}
	}
	if done != nil || wait != nil {
		j.dones = append(j.dones, jdone{done, wait})
	}
	j.sync = j.sync || sync
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// commitWait submits ops and waits until they are committed.
func (j *journal) commitWait(ops []store.Op, sync bool) error {
	ch := make(chan error, 1)
	j.submit(ops, sync, func(err error) { ch <- err })
	return <-ch
}

func (j *journal) run() {
	defer close(j.stopped)
	var tick <-chan time.Time
	if j.mode == DurabilityBatch {
		t := time.NewTicker(j.interval)
		defer t.Stop()
		tick = t.C
	}
	var b store.Batch
	var dones []jdone
	var session []store.Op
	for {
		select {
		case <-j.wake:
		case <-tick:
			if j.dirty {
				if sy, ok := j.st.(store.Syncer); ok {
					if err := sy.Sync(); err != nil {
						j.log("store sync failed", "err", err)
					}
				}
				j.dirty = false
			}
			continue
		}
		j.mu.Lock()
		b, j.batch = j.batch, b
		dones, j.dones = j.dones, dones[:0]
		session, j.session = j.session, session[:0]
		wantSync := j.sync
		j.sync = false
		closed := j.closed
		j.mu.Unlock()
		if len(b.Ops) > 0 || len(dones) > 0 {
			var err error
			if len(b.Ops) > 0 {
				sync := wantSync && j.mode == DurabilitySync
				start := time.Now()
				err = j.st.Commit(&b, sync)
				if j.observer != nil {
					j.observer.StoreCommit(time.Since(start), len(b.Ops), sync)
				}
				if err != nil {
					j.log("store commit failed", "ops", len(b.Ops), "err", err)
				}
				j.dirty = j.dirty || !sync
			}
			if err == nil && len(session) > 0 {
				j.mirror(session)
			}
			clear(session)
			for _, d := range dones {
				e := err
				if e == nil && d.wait != nil {
					e = d.wait()
				}
				if d.done != nil {
					d.done(e)
				}
			}
			clear(dones)
			b.Reset()
		}
		if closed {
			return
		}
	}
}

// close commits what is pending and stops the journal.
func (j *journal) close() {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
	<-j.stopped
	if sy, ok := j.st.(store.Syncer); ok && j.mode != DurabilityNone {
		sy.Sync()
	}
}
