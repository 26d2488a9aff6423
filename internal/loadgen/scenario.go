package loadgen

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// runMessages runs pub, sub, fanin, fanout, pairs and latency: connect and
// subscribe every subscriber, connect the publishers, publish until the
// duration or count, drain, count.
func (r *runner) runMessages(ctx context.Context) (*Result, error) {
	cfg := &r.cfg
	res := r.result()
	proc0, haveProc := r.broker()
	pairs := cfg.Scenario == "pairs" || cfg.Scenario == "latency"
	run := cfg.run
	if cfg.Scenario == "sub" {
		run = 0 // count whatever mast bench publishers send, from any run
	}
	subs, _, err := r.connectAll(ctx, 's', cfg.Subs, subBufs, false, nil, func(c *client) error {
		c.tr = newTracker(run)
		c.latency = true
		id := c.id
		if pairs {
			id = cfg.clientID('p', c.index) // the pair's topic is its publisher's
		}
		return c.subscribeFor(ctx, Expand(cfg.Filter, c.index, id), cfg.QoS)
	})
	if err != nil {
		return nil, fmt.Errorf("subscribers: %w", err)
	}
	pubs, _, err := r.connectAll(ctx, 'p', cfg.Pubs, pubBufs, false, nil, func(c *client) error {
		if cfg.QoS > 0 {
			c.window = make(chan struct{}, cfg.Inflight)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("publishers: %w", err)
	}
	r.mu.Lock()
	r.pubs, r.subs = pubs, subs
	r.mu.Unlock()
	res.Publishers, res.Subscribers = len(pubs), len(subs)

	if p, ok := r.broker(); ok {
		proc0.cpu = p.cpu // CPU from here on; RSS from before connecting
	}
	self0 := selfCPU()
	r.start = time.Now()
	if cfg.Duration > 0 {
		t := time.AfterFunc(cfg.Duration, r.halt)
		defer t.Stop()
	}
	var wg sync.WaitGroup
	var spread time.Duration
	if cfg.Rate > 0 && len(pubs) > 0 {
		spread = time.Duration(float64(time.Second) / cfg.Rate / float64(len(pubs)))
	}
	for i, c := range pubs {
		topic := Expand(cfg.Topic, i, c.id)
		wg.Go(func() { r.publish(c, uint32(i), topic, time.Duration(i)*spread) })
	}
	if len(pubs) == 0 {
		<-r.stop
	}
	r.waitPublishers(&wg, pubs)
	sendEnd := time.Now()
	r.halt()

	// Drain: wait for what is still on its way, for at most cfg.Drain.
	expected := func(i int) uint64 {
		switch {
		case cfg.Scenario == "sub":
			return 0
		case pairs:
			if i < len(pubs) {
				return pubs[i].sent.Load()
			}
			return 0
		}
		var n uint64
		for _, p := range pubs {
			n += p.sent.Load()
		}
		return n
	}
	if len(pubs) > 0 {
		// Not ctx: an interrupted run still drains, so that its loss
		// figure means something.
		waitUntil(context.Background(), sendEnd.Add(cfg.Drain), func() bool {
			if !acksSettled(pubs) {
				return false
			}
			for i, s := range subs {
				if s.unique.Load() < expected(i) {
					select {
					case <-s.done: // gone: nothing more will come
					default:
						return false
					}
				}
			}
			return true
		})
	}
	proc1, _ := r.broker()
	self1 := selfCPU()

	// Stop the readers so that the trackers can be read.
	r.closeAll()

	res.Seconds = sendEnd.Sub(r.start).Seconds()
	for _, c := range pubs {
		res.Sent += c.sent.Load()
		res.Acked += c.acked.Load()
		res.Refused += c.refused.Load()
	}
	hist := newHistogram()
	var lastAt int64
	for i, s := range subs {
		tr := s.tr
		res.Received += tr.received
		res.Duplicates += tr.dups
		res.Foreign += tr.foreign
		exp := expected(i)
		if cfg.Scenario == "sub" {
			exp = tr.unique + tr.gapEstimate()
		}
		res.Expected += exp
		if exp > tr.unique {
			res.Lost += exp - tr.unique
		}
		if tr.hist != nil {
			hist.Merge(tr.hist)
		}
		lastAt = max(lastAt, tr.lastAt)
	}
	if res.Seconds > 0 {
		res.SentRate = float64(res.Sent) / res.Seconds
	}
	if d := float64(lastAt-r.start.UnixNano()) / 1e9; d > 0 {
		res.RecvRate = float64(res.Received) / d
	}
	res.Latency = percentiles(hist)
	n := res.Received
	if len(subs) == 0 {
		n = res.Sent
	}
	res.LoadGen = loadGenStats(self0, self1, int(n), 0)
	if haveProc {
		b := &BrokerStats{PID: cfg.BrokerPID, CPUSeconds: proc1.cpu - proc0.cpu,
			RSSStartKB: proc0.rssKB, RSSKB: proc1.rssKB}
		if n > 0 {
			b.CPUPerMessageUS = b.CPUSeconds * 1e6 / float64(n)
		}
		res.Broker = b
	}
	return res, nil
}

// waitPublishers waits for the publisher goroutines. One stuck writing to a
// broker that stopped reading is cut off cfg.Drain after the stop.
func (r *runner) waitPublishers(wg *sync.WaitGroup, pubs []*client) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-r.stop:
	}
	t := time.NewTimer(r.cfg.Drain)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		for _, c := range pubs {
			c.abort()
		}
		r.addError(fmt.Errorf("publishers still blocked writing %v after the stop; connections closed", r.cfg.Drain))
		<-done
	}
}

// runConn opens cfg.Subs connections as fast as it can, each with one
// subscription, holds them for cfg.Duration, and reports the connect rate
// and, with a broker PID, the broker's memory per connection.
func (r *runner) runConn(ctx context.Context) (*Result, error) {
	cfg := &r.cfg
	res := r.result()
	proc0, haveProc := r.broker()
	hist := newHistogram()
	self0 := selfCPU()
	r.start = time.Now()
	clients, failed, err := r.connectAll(ctx, 'c', cfg.Subs, idleBufs, true, hist, func(c *client) error {
		return c.subscribeFor(ctx, Expand(cfg.Filter, c.index, c.id), cfg.QoS)
	})
	if err != nil {
		return nil, err
	}
	connected := time.Now()
	proc1, _ := r.broker()
	res.LoadGen = loadGenStats(self0, selfCPU(), 0, len(clients))
	res.Subscribers = len(clients)
	cs := &ConnectStats{Attempted: cfg.Subs, Connected: len(clients), Failed: failed,
		Seconds: connected.Sub(r.start).Seconds(), Latency: percentiles(hist)}
	if cs.Seconds > 0 {
		cs.PerSec = float64(cs.Connected) / cs.Seconds
	}
	res.Connect = cs
	if cfg.Duration > 0 {
		t := time.NewTimer(cfg.Duration)
		select {
		case <-t.C:
		case <-r.stop:
			t.Stop()
		}
	}
	cs.HeldSeconds = time.Since(connected).Seconds()
	res.Seconds = time.Since(r.start).Seconds()
	if haveProc {
		proc2, _ := r.broker()
		b := &BrokerStats{PID: cfg.BrokerPID, CPUSeconds: proc1.cpu - proc0.cpu,
			IdleCPUSeconds: proc2.cpu - proc1.cpu, RSSStartKB: proc0.rssKB, RSSKB: proc2.rssKB}
		if n := cs.Connected; n > 0 {
			b.CPUPerConnectUS = b.CPUSeconds * 1e6 / float64(n)
			b.RSSPerConnB = float64(proc2.rssKB-proc0.rssKB) * 1024 / float64(n)
		}
		res.Broker = b
	}
	return res, nil
}

// runRetained publishes cfg.Count retained messages per publisher, each on
// its own topic, then times one subscriber to cfg.Filter receiving them
// all (bounded by cfg.Duration), then clears them.
func (r *runner) runRetained(ctx context.Context) (*Result, error) {
	cfg := &r.cfg
	res := r.result()
	proc0, haveProc := r.broker()
	pubs, _, err := r.connectAll(ctx, 'p', cfg.Pubs, pubBufs, false, nil, func(c *client) error {
		if cfg.QoS > 0 {
			c.window = make(chan struct{}, cfg.Inflight)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("publishers: %w", err)
	}
	r.mu.Lock()
	r.pubs = pubs
	r.mu.Unlock()
	res.Publishers = len(pubs)
	topics := make([]string, len(pubs))

	// Store. The duration bounds delivery, not this phase: a retained
	// store that is only partly filled would measure nothing.
	r.start = time.Now()
	var wg sync.WaitGroup
	for i, c := range pubs {
		topics[i] = Expand(cfg.Topic, i, c.id)
		wg.Go(func() { r.publish(c, uint32(i), topics[i], 0) })
	}
	wg.Wait()
	const syncTimeout = 60 * time.Second
	waitUntil(ctx, time.Now().Add(syncTimeout), func() bool { return acksSettled(pubs) })
	for _, c := range pubs {
		if err := c.sync(syncTimeout); err != nil {
			return nil, fmt.Errorf("publisher %s: %w", c.id, err)
		}
	}
	stored := time.Now()
	proc1, _ := r.broker()
	rt := &RetainedStats{StoreSeconds: stored.Sub(r.start).Seconds()}
	for _, c := range pubs {
		rt.Stored += c.sent.Load()
	}
	res.Sent = rt.Stored
	res.Seconds = rt.StoreSeconds
	if rt.StoreSeconds > 0 {
		rt.StorePerSec = float64(rt.Stored) / rt.StoreSeconds
		res.SentRate = rt.StorePerSec
	}
	res.Retained = rt

	// Deliver.
	subs, _, err := r.connectAll(ctx, 's', cfg.Subs, subBufs, false, nil, func(c *client) error {
		c.tr = newTracker(cfg.run)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("subscriber: %w", err)
	}
	r.mu.Lock()
	r.subs = subs
	r.mu.Unlock()
	res.Subscribers = len(subs)
	subStart := time.Now()
	for _, s := range subs {
		if err := s.subscribe(Expand(cfg.Filter, s.index, s.id), cfg.QoS); err != nil {
			return nil, fmt.Errorf("subscriber %s: %w", s.id, err)
		}
	}
	waitUntil(ctx, subStart.Add(cfg.Duration), func() bool {
		for _, s := range subs {
			if s.unique.Load() < rt.Stored {
				return false
			}
		}
		return true
	})
	proc2, _ := r.broker()
	for _, s := range subs {
		select {
		case err := <-s.subacked:
			if err != nil {
				r.addError(fmt.Errorf("subscriber %s: %w", s.id, err))
			}
		default:
		}
		s.close()
	}
	var lastAt int64
	for _, s := range subs {
		res.Received += s.tr.received
		res.Duplicates += s.tr.dups
		res.Foreign += s.tr.foreign
		res.Expected += rt.Stored
		if rt.Stored > s.tr.unique {
			res.Lost += rt.Stored - s.tr.unique
		}
		rt.Delivered += s.tr.unique
		lastAt = max(lastAt, s.tr.lastAt)
	}
	if lastAt > 0 {
		rt.DeliverSeconds = float64(lastAt-subStart.UnixNano()) / 1e9
		rt.DeliverPerSec = float64(rt.Delivered) / rt.DeliverSeconds
	}
	res.RecvRate = rt.DeliverPerSec
	if haveProc {
		b := &BrokerStats{PID: cfg.BrokerPID, CPUSeconds: proc2.cpu - proc1.cpu,
			RSSStartKB: proc0.rssKB, RSSKB: proc1.rssKB}
		if rt.Delivered > 0 {
			b.CPUPerMessageUS = b.CPUSeconds * 1e6 / float64(rt.Delivered)
		}
		if rt.Stored > 0 {
			b.RSSPerRetainedB = float64(proc1.rssKB-proc0.rssKB) * 1024 / float64(rt.Stored)
		}
		res.Broker = b
	}

	if !cfg.KeepRetained {
		for i, c := range pubs {
			if err := r.clearRetained(c, topics[i], c.sent.Load()); err != nil {
				return res, fmt.Errorf("clearing retained messages: %w", err)
			}
		}
		for _, c := range pubs {
			if err := c.sync(syncTimeout); err != nil {
				return res, fmt.Errorf("clearing retained messages: %w", err)
			}
		}
		rt.Cleared = true
	}
	return res, nil
}
