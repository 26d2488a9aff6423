package hostile_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

// varInt encodes a remaining length [MQTT-1.5.5].
func varInt(n int) []byte {
	var b []byte
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// TestOversizedPackets: 100 connections at once announce a 200 MB packet
// to a broker with MaxPacketSize 64 KiB — a CONNECT as the first packet,
// or a PUBLISH after a good CONNECT, in 3.1.1 and 5.0 — and then keep
// sending its body, 4 MiB each, as fast as the broker takes it. The broker
// must close each connection on the fixed header, before allocating the
// body (v5 clients past CONNECT get DISCONNECT 0x95 first), and its memory
// must not follow the announced or the sent sizes (100 × 200 MB announced,
// 400 MiB sent).
//
// Bound asserted: peak heap, retained and Sys growth under +50 MiB.
// Measured (2 cores, -race): peak heap +1.2 to +2.2 MiB, retained
// +0.4 MiB, Sys +0 to +4.6 MiB. (The attackers' 4 MiB fit in loopback's
// socket buffers, so their writes succeed; a broker reading those bodies
// would show here as up to 2 × 400 MiB of heap.)
//
// Stats has no counter for packets refused for their size, so the test
// counts the log line "packet too large; closing"; ConnectionsTotal and
// ClientsConnected show the sockets came and went.
func TestOversizedPackets(t *testing.T) {
	const maxSize = 64 << 10
	const announced = 200_000_000 // bytes, under the 268,435,455 a remaining length can say
	const perConn = 4 * mib       // body bytes each attacker tries to send
	b := startBroker(t, broker.Options{MaxPacketSize: maxSize})
	const tooLarge = "packet too large; closing"

	// The limit is advertised to v5 clients.
	c := dial(t, b.addr, uniqueID("v5"))
	ack := c.connect(v5, 30)
	if !ack.Properties.Has(packet.PropMaximumPacketSize) || ack.Properties.MaximumPacketSize != maxSize {
		t.Errorf("v5 CONNACK Maximum Packet Size = %d (present %v), want %d",
			ack.Properties.MaximumPacketSize, ack.Properties.Has(packet.PropMaximumPacketSize), maxSize)
	}
	c.send(&packet.Disconnect{})
	c.waitClosed(waitTimeout)
	waitIdle(t, b)

	const n = 100
	before := b.srv.Stats()
	logsBefore, _ := b.logs.count(tooLarge)
	mem := watchMemory()
	type result struct {
		name   string
		got    []packet.Packet // what the broker sent after CONNACK, before closing
		sent   int             // body bytes the attacker got written
		closed bool
		err    error
	}
	results := make(chan result, n)
	body := bytes.Repeat([]byte{0xA5}, 64<<10)
	for i := range n {
		shape := []struct {
			name    string
			version byte
			connect bool // the oversized packet is the CONNECT itself
		}{
			{"CONNECT", v311, true},
			{"PUBLISH 3.1.1", v311, false},
			{"PUBLISH 5.0", v5, false},
			{"CONNECT 5.0", v5, true},
		}[i%4]
		go func() {
			r := result{name: fmt.Sprintf("%s #%d", shape.name, i)}
			defer func() { results <- r }()
			nc, err := net.DialTimeout("tcp", b.addr, waitTimeout)
			if err != nil {
				r.err = err
				return
			}
			defer nc.Close()
			c := &client{t: t, name: r.name, nc: nc}
			c.rd.R = bufio.NewReader(nc)
			var header []byte
			if shape.connect {
				header = append([]byte{0x10}, varInt(announced)...)
				// The start of a plausible CONNECT body.
				header = append(header, 0x00, 0x04, 'M', 'Q', 'T', 'T', shape.version, 0x02, 0x00, 0x3C)
			} else {
				if _, err := c.tryConnect(&packet.Connect{Version: shape.version, CleanStart: true, ClientID: fmt.Sprintf("big-%d", i), KeepAlive: 30}); err != nil {
					r.err = fmt.Errorf("CONNECT: %w", err)
					return
				}
				header = append([]byte{0x30}, varInt(announced)...)
				// Topic "big/topic"; v5: an empty property block.
				header = append(header, 0x00, 0x09, 'b', 'i', 'g', '/', 't', 'o', 'p', 'i', 'c')
				if shape.version == v5 {
					header = append(header, 0x00)
				}
			}
			// Read what the broker says while writing, so that its
			// DISCONNECT is not lost to the write side's reset.
			readDone := make(chan struct{})
			go func() {
				defer close(readDone)
				for {
					p, err := c.next(waitTimeout)
					if err != nil {
						r.closed = isClosed(err)
						if !r.closed {
							r.err = err
						}
						return
					}
					r.got = append(r.got, p)
				}
			}()
			nc.SetWriteDeadline(time.Now().Add(waitTimeout))
			if _, err := nc.Write(header); err == nil {
				for r.sent < perConn {
					k, err := nc.Write(body)
					r.sent += k
					if err != nil {
						break
					}
				}
			}
			<-readDone
		}()
	}
	closedAll, maxSent := 0, 0
	for range n {
		r := <-results
		maxSent = max(maxSent, r.sent)
		if r.err != nil {
			t.Errorf("%s: %v", r.name, r.err)
			continue
		}
		if !r.closed {
			t.Errorf("%s: connection not closed by the broker", r.name)
			continue
		}
		closedAll++
		want := 0
		if strings.HasPrefix(r.name, "PUBLISH 5.0") {
			want = 1
		}
		if len(r.got) != want {
			t.Errorf("%s: got %d packets before the close, want %d", r.name, len(r.got), want)
			continue
		}
		if want == 1 {
			if d, ok := r.got[0].(*packet.Disconnect); !ok || d.ReasonCode != packet.PacketTooLarge {
				t.Errorf("%s: got %+v, want DISCONNECT 0x95", r.name, r.got[0])
			}
		}
	}
	t.Logf("%d attackers closed; the most body bytes one got written before the close: %d", closedAll, maxSent)
	mem.finish().check(t, 50*mib)
	if closedAll != n {
		t.FailNow()
	}
	logs := b.logs.waitCount(t, tooLarge, logsBefore+n)
	if logs != logsBefore+n {
		t.Errorf("%d %q log lines, want %d", logs-logsBefore, tooLarge, n)
	}
	waitIdle(t, b)
	if got := b.srv.Stats().ConnectionsTotal - before.ConnectionsTotal; got != n {
		t.Errorf("ConnectionsTotal grew by %d, want %d", got, n)
	}
	probe(t, b)
}
