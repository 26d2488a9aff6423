package hostile_test

import (
	"net"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
)

// TestSlowloris: sockets that connect and never send CONNECT, and sockets
// that dribble a CONNECT one byte every 100 ms, are closed by the broker
// once ConnectTimeout (500 ms) has passed since they connected: the
// timeout covers the whole CONNECT, not each read.
//
// Bounds asserted: every socket closed no earlier than 0.9 × the timeout and
// within timeout + 3 s of connecting; a dribbler before it could finish its
// CONNECT. Memory: peak heap, retained and Sys growth under +32 MiB for the
// 200 silent sockets. Measured (2 cores, -race): silent sockets closed
// 0.50–0.56 s after connecting, dribblers at 0.50 s; peak heap +2.0 MiB,
// retained +0.6 MiB, Sys +0 to +4.8 MiB.
//
// The broker has no counter for CONNECT timeouts (Stats has none), so the
// test counts its log line "no CONNECT in time; closing" instead.
func TestSlowloris(t *testing.T) {
	const timeout = 500 * time.Millisecond
	b := startBroker(t, broker.Options{ConnectTimeout: timeout})
	const timedOut = "no CONNECT in time; closing"

	t.Run("silent", func(t *testing.T) {
		const n = 200
		before := b.srv.Stats()
		logsBefore, _ := b.logs.count(timedOut)
		mem := watchMemory()
		type result struct {
			open time.Duration // how long the broker kept the socket open
			err  error
		}
		results := make(chan result, n)
		for range n {
			nc, err := net.DialTimeout("tcp", b.addr, waitTimeout)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			t.Cleanup(func() { nc.Close() })
			opened := time.Now()
			go func() {
				// Wait for the broker to close: a read returns EOF (or a
				// reset) then, and nothing before.
				nc.SetReadDeadline(opened.Add(timeout + 3*time.Second))
				var buf [1]byte
				k, err := nc.Read(buf[:])
				if k > 0 {
					err = errUnexpectedBytes
				}
				results <- result{time.Since(opened), err}
			}()
		}
		var slowest, fastest time.Duration
		for i := range n {
			r := <-results
			if !isClosed(r.err) {
				t.Fatalf("socket %d: not closed by the broker within %v: %v", i, timeout+3*time.Second, r.err)
			}
			if r.open < timeout*9/10 {
				t.Errorf("socket closed after %v, before the %v CONNECT timeout", r.open, timeout)
			}
			if i == 0 || r.open < fastest {
				fastest = r.open
			}
			slowest = max(slowest, r.open)
		}
		t.Logf("%d silent sockets closed %v–%v after connecting", n, fastest.Round(time.Millisecond), slowest.Round(time.Millisecond))
		mem.finish().check(t, 32*mib)
		b.logs.waitCount(t, timedOut, logsBefore+n)
		st := b.srv.Stats()
		if got := st.ConnectionsTotal - before.ConnectionsTotal; got != n {
			t.Errorf("ConnectionsTotal grew by %d, want %d", got, n)
		}
		if st.ClientsConnected != 0 {
			t.Errorf("ClientsConnected = %d, want 0", st.ClientsConnected)
		}
		probe(t, b)
	})

	t.Run("dribble", func(t *testing.T) {
		// One byte every 100 ms: the CONNECT below takes 2.5 s to send,
		// five times the timeout.
		const n = 20
		const every = 100 * time.Millisecond
		logsBefore, _ := b.logs.count(timedOut)
		type result struct {
			sent int           // CONNECT bytes written before the close
			size int           // bytes in the whole CONNECT
			open time.Duration // how long the broker kept the socket open
			err  error
		}
		results := make(chan result, n)
		for i := range n {
			connect := rawConnect(uniqueID("dribbler"), 60)
			if full := time.Duration(len(connect)) * every; full < 4*timeout {
				t.Fatalf("CONNECT of %d bytes takes only %v to dribble", len(connect), full)
			}
			nc, err := net.DialTimeout("tcp", b.addr, waitTimeout)
			if err != nil {
				t.Fatalf("dribbler %d: dial: %v", i, err)
			}
			t.Cleanup(func() { nc.Close() })
			opened := time.Now()
			closed := make(chan error, 1)
			go func() {
				nc.SetReadDeadline(opened.Add(timeout + 3*time.Second))
				var buf [1]byte
				k, err := nc.Read(buf[:])
				if k > 0 {
					err = errUnexpectedBytes // a CONNACK: the CONNECT was accepted
				}
				closed <- err
			}()
			go func() {
				tick := time.NewTicker(every)
				defer tick.Stop()
				sent := 0
				for {
					select {
					case err := <-closed:
						results <- result{sent, len(connect), time.Since(opened), err}
						return
					case <-tick.C:
					}
					if sent < len(connect) {
						if _, err := nc.Write(connect[sent : sent+1]); err == nil {
							sent++
						}
					}
				}
			}()
		}
		for i := range n {
			r := <-results
			if !isClosed(r.err) {
				t.Fatalf("dribbler %d: not closed by the broker: %v (%d bytes sent)", i, r.err, r.sent)
			}
			if r.open < timeout*9/10 || r.open > timeout+1500*time.Millisecond {
				t.Errorf("dribbler closed after %v, want about the %v CONNECT timeout", r.open, timeout)
			}
			if r.sent >= r.size {
				t.Errorf("dribbler sent its whole CONNECT (%d bytes) before the close: the timeout did not cover the whole CONNECT", r.size)
			}
		}
		b.logs.waitCount(t, timedOut, logsBefore+n)
		if st := b.srv.Stats(); st.ClientsConnected != 0 {
			t.Errorf("ClientsConnected = %d, want 0", st.ClientsConnected)
		}
		probe(t, b)
	})
}
