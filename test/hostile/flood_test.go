package hostile_test

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

// floodOutcome is what one flooding connection saw.
type floodOutcome int

const (
	floodAccepted floodOutcome = iota // CONNACK 0
	floodRefused                      // closed without a CONNACK
	floodFailed                       // anything else: a test failure
)

// floodOne dials, sends a hand-written CONNECT and reads what comes back.
// An accepted connection is held open until release is closed, then closed
// with DISCONNECT.
func floodOne(addr, id string, release <-chan struct{}) (floodOutcome, error) {
	nc, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		return floodFailed, fmt.Errorf("dial: %w", err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := nc.Write(rawConnect(id, 0)); err != nil {
		if isClosed(err) {
			return floodRefused, nil
		}
		return floodFailed, err
	}
	rd := packet.Reader{R: bufio.NewReader(nc), Version: v311}
	p, err := rd.Read()
	switch {
	case err != nil && isClosed(err):
		return floodRefused, nil
	case err != nil:
		return floodFailed, err
	}
	if ack, ok := p.(*packet.Connack); !ok || ack.ReasonCode != 0 {
		return floodFailed, fmt.Errorf("got %v %+v, want CONNACK 0 or a close", p.Type(), p)
	}
	<-release
	nc.Write([]byte{0xE0, 0x00}) // DISCONNECT
	return floodAccepted, nil
}

// flood opens n connections at once, each sending CONNECT and, if
// accepted, disconnecting at once, and returns how many were accepted and
// refused.
func flood(t *testing.T, addr string, n int) (accepted, refused int) {
	t.Helper()
	type result struct {
		o   floodOutcome
		err error
	}
	release := make(chan struct{})
	close(release)
	results := make(chan result, n)
	for i := range n {
		go func() {
			o, err := floodOne(addr, fmt.Sprintf("flood-%d", i), release)
			results <- result{o, err}
		}()
	}
	for range n {
		switch r := <-results; r.o {
		case floodAccepted:
			accepted++
		case floodRefused:
			refused++
		default:
			t.Fatalf("flooding connection: %v", r.err)
		}
	}
	return accepted, refused
}

// TestConnectionFlood: 2000 connections opened as fast as possible against
// MaxConnections 500 — exactly 500 get in, the other 1500 are closed
// without a CONNACK and counted in RefusedMaxConns, and a fresh client is
// refused while the broker is full and served once it is not; then 500
// connections from one address against ConnectionRate 50 — no more than
// the burst of 50 plus 50 a second get in, the rest are counted in
// RefusedRate.
//
// Bound asserted: memory (peak heap, retained, Sys) under +96 MiB while
// 2000 connections are open (both ends in this process: Sys is mostly the
// 2000 client goroutines' stacks). Measured (2 cores, -race): peak heap
// +14 to +18 MiB, retained +2 to +4 MiB, Sys +43 MiB when run alone; the
// rate flood took 45–52 ms and let 51–52 in.
func TestConnectionFlood(t *testing.T) {
	t.Run("max connections", func(t *testing.T) {
		const limit, total = 500, 2000
		b := startBroker(t, broker.Options{MaxConnections: limit})
		mem := watchMemory()
		release := make(chan struct{})
		released := false
		defer func() {
			if !released {
				close(release)
			}
		}()
		// The accepted ones hold; wait for all the refused to report.
		type result struct {
			o   floodOutcome
			err error
		}
		results := make(chan result, total)
		var wg sync.WaitGroup
		defer wg.Wait()
		for i := range total {
			wg.Go(func() {
				o, err := floodOne(b.addr, fmt.Sprintf("flood-%d", i), release)
				results <- result{o, err}
			})
		}
		st := b.waitStats(t, fmt.Sprintf("%d clients connected and %d refused", limit, total-limit), func(st broker.Stats) bool {
			return st.ClientsConnected == limit && st.RefusedMaxConns == total-limit
		})
		refused := 0
		for refused < total-limit {
			r := <-results
			if r.o != floodRefused {
				t.Fatalf("a refused connection reported %v: %v", r.o, r.err)
			}
			refused++
		}
		if st.ConnectionsTotal != limit {
			t.Errorf("ConnectionsTotal = %d, want %d (refused sockets are not counted as accepted)", st.ConnectionsTotal, limit)
		}
		full := b.logs.waitCount(t, "maximum of 500 connections reached", total-limit)
		if full != total-limit {
			t.Errorf("%d log lines for refused connections, want %d", full, total-limit)
		}

		// Full: a fresh client is refused too, and counted.
		c := dial(t, b.addr, uniqueID("latecomer"))
		if _, err := c.tryConnect(&packet.Connect{Version: v311, CleanStart: true, ClientID: c.name}); !isClosed(err) {
			t.Fatalf("a client beyond MaxConnections: %v, want the connection closed", err)
		}
		b.waitStats(t, "the latecomer counted", func(st broker.Stats) bool { return st.RefusedMaxConns == total-limit+1 })
		mem.finish().check(t, 96*mib)

		close(release)
		released = true
		accepted := 0
		for accepted < limit {
			if r := <-results; r.o != floodAccepted {
				t.Fatalf("an accepted connection reported %v: %v", r.o, r.err)
			}
			accepted++
		}
		waitIdle(t, b)
		probe(t, b)
		if st := b.srv.Stats(); st.RefusedMaxConns < total-limit+1 {
			t.Errorf("RefusedMaxConns = %d, want at least %d", st.RefusedMaxConns, total-limit+1)
		}
	})

	t.Run("connection rate", func(t *testing.T) {
		const rate, total = 50, 500
		b := startBroker(t, broker.Options{ConnectionRate: rate})
		start := time.Now()
		accepted, refused := flood(t, b.addr, total)
		elapsed := time.Since(start)
		if accepted+refused != total {
			t.Fatalf("%d accepted + %d refused, want %d in all", accepted, refused, total)
		}
		most := rate + int(rate*elapsed.Seconds()) + 1
		t.Logf("%d connections in %v: %d accepted, %d refused", total, elapsed.Round(time.Millisecond), accepted, refused)
		if accepted < rate || accepted > most {
			t.Errorf("%d accepted in %v, want between the burst of %d and %d", accepted, elapsed, rate, most)
		}
		st := b.srv.Stats()
		if st.RefusedRate != uint64(refused) {
			t.Errorf("RefusedRate = %d, want %d", st.RefusedRate, refused)
		}
		if st.RefusedMaxConns != 0 {
			t.Errorf("RefusedMaxConns = %d, want 0", st.RefusedMaxConns)
		}
		waitIdle(t, b)
		// The same address gets in again once the bucket has a token
		// (probe retries while it is refused).
		probe(t, b)
	})
}
