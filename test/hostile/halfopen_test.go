package hostile_test

import (
	"net"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

// TestHalfOpen: clients that connect with KeepAlive 1, get their CONNACK
// and then neither read nor write (a peer that vanished without a FIN) are
// dropped once one and a half keep alives have passed [MQTT-3.1.2-24], and
// ClientsConnected returns to its baseline. A client that dribbles a packet
// after CONNECT is dropped on the same clock, and one that half-closes its
// side (FIN) at once.
//
// Bounds asserted: the silent clients are all gone no earlier than 1.35 s
// after the last CONNACK and within 1.5 s + 3 s of the first; memory (peak
// heap, retained, Sys) under +32 MiB for 100 clients. Measured (2 cores,
// -race): all gone 1.50 s after the last CONNACK, the dribbler at 1.50 s
// with 15 of its 55 bytes sent; peak heap +1.5 to +2.5 MiB, retained
// +0.5 MiB, Sys +0 to +4.6 MiB.
//
// The broker counts no keep-alive timeouts in Stats; the test counts its log
// line "has exceeded timeout" and asserts the v5 clients got DISCONNECT
// 0x8D (Keep Alive timeout) first.
func TestHalfOpen(t *testing.T) {
	b := startBroker(t, broker.Options{})
	const exceeded = "has exceeded timeout"
	const keepAlive = 1
	grace := keepAlive * time.Second * 3 / 2

	t.Run("silent", func(t *testing.T) {
		const n = 100
		// Every earlier client is gone, probes included (waitIdle), so the
		// baseline is 0.
		waitIdle(t, b)
		logsBefore, _ := b.logs.count(exceeded)
		mem := watchMemory()
		clients := make([]*client, n)
		var first, last time.Time
		for i := range clients {
			version := v311
			if i%2 == 1 {
				version = v5
			}
			c := dial(t, b.addr, uniqueID("halfopen"))
			c.connect(version, keepAlive)
			if i == 0 {
				first = time.Now()
			}
			clients[i] = c
		}
		last = time.Now()
		if got := b.srv.Stats().ClientsConnected; got != n {
			t.Fatalf("ClientsConnected = %d with the clients connected, want %d", got, n)
		}
		// Nobody reads or writes now: the broker's view is the signal.
		waitIdle(t, b)
		gone := time.Now()
		t.Logf("%d half-open clients dropped %v after the last CONNACK", n, gone.Sub(last).Round(time.Millisecond))
		if gone.Sub(last) < grace*9/10 {
			t.Errorf("clients dropped %v after the last CONNACK, before 1.5 × the keep alive", gone.Sub(last))
		}
		if gone.Sub(first) > grace+3*time.Second {
			t.Errorf("clients dropped %v after the first CONNACK, want within %v", gone.Sub(first), grace+3*time.Second)
		}
		mem.finish().check(t, 32*mib)
		b.logs.waitCount(t, exceeded, logsBefore+n)
		for i, c := range clients {
			got := c.waitClosed(waitTimeout)
			if i%2 == 0 {
				if len(got) != 0 {
					t.Errorf("3.1.1 client got %d packets before the close, want none", len(got))
				}
				continue
			}
			if len(got) != 1 {
				t.Fatalf("v5 client got %d packets before the close, want one DISCONNECT", len(got))
			}
			if d, ok := got[0].(*packet.Disconnect); !ok || d.ReasonCode != packet.KeepAliveTimeout {
				t.Errorf("v5 client got %+v, want DISCONNECT 0x8D", got[0])
			}
		}
		probe(t, b)
	})

	t.Run("dribbled packet", func(t *testing.T) {
		// After CONNECT, a PUBLISH sent one byte every 100 ms: the keep
		// alive clock covers the whole packet, so the client is dropped
		// 1.5 s after CONNACK although bytes keep coming.
		waitIdle(t, b)
		c := dial(t, b.addr, uniqueID("dribbler"))
		c.connect(v311, keepAlive)
		start := time.Now()
		pub, err := packet.Append(nil, v311, &packet.Publish{Topic: "dribble/topic/long/enough/to/take/seconds", Payload: []byte("0123456789")})
		if err != nil {
			t.Fatal(err)
		}
		if full := time.Duration(len(pub)) * 100 * time.Millisecond; full < 2*grace {
			t.Fatalf("PUBLISH of %d bytes takes only %v to dribble", len(pub), full)
		}
		closed := make(chan []packet.Packet, 1)
		go func() {
			var got []packet.Packet
			for {
				p, err := c.next(grace + 3*time.Second)
				if err != nil {
					if !isClosed(err) {
						got = append(got, nil) // not closed in time
					}
					closed <- got
					return
				}
				got = append(got, p)
			}
		}()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		sent := 0
	dribble:
		for {
			select {
			case got := <-closed:
				if len(got) != 0 {
					t.Fatalf("got %v before the close (nil: still open after %v)", got, grace+3*time.Second)
				}
				break dribble
			case <-tick.C:
			}
			if sent < len(pub) {
				if _, err := c.nc.Write(pub[sent : sent+1]); err == nil {
					sent++
				}
			}
		}
		open := time.Since(start)
		t.Logf("dribbling client dropped after %v, %d of %d bytes sent", open.Round(time.Millisecond), sent, len(pub))
		if open < grace*9/10 || sent >= len(pub) {
			t.Errorf("dropped after %v with %d of %d bytes sent, want after about %v and before the packet was complete", open, sent, len(pub), grace)
		}
		waitIdle(t, b)
		probe(t, b)
	})

	t.Run("half-closed", func(t *testing.T) {
		// KeepAlive 0: only the FIN can end this session.
		waitIdle(t, b)
		c := dial(t, b.addr, uniqueID("halfclosed"))
		c.connect(v311, 0)
		if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if got := c.waitClosed(waitTimeout); len(got) != 0 {
			t.Errorf("got %d packets before the close, want none", len(got))
		}
		waitIdle(t, b)
		probe(t, b)
	})
}
