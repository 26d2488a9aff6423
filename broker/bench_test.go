package broker_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

// countPublishes reads PUBLISH packets from r until n have arrived,
// parsing only fixed headers so that the reader costs little.
func countPublishes(b *testing.B, r *bufio.Reader, n int) {
	buf := make([]byte, 64<<10)
	for got := 0; got < n; {
		h, err := packet.ReadFixedHeader(r)
		if err != nil {
			b.Error(err)
			return
		}
		if _, err := io.ReadFull(r, buf[:h.Remaining]); err != nil {
			b.Error(err)
			return
		}
		if h.Type == packet.PUBLISH {
			got++
		}
	}
}

func benchClient(b *testing.B, addr, id string) (net.Conn, *bufio.Reader) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	c := &rawClient{t: b, nc: nc, br: bufio.NewReaderSize(nc, 64<<10), version: packet.Version311}
	c.connect(&packet.Connect{ClientID: id, CleanStart: true})
	return nc, c.br
}

// BenchmarkFanIn: 8 publishers, one wildcard subscriber, QoS 0, 64-byte
// payloads, over loopback TCP. One op is one message delivered.
func BenchmarkFanIn(b *testing.B) { benchRoute(b, 8, 1) }

// BenchmarkFanOut: one publisher, 100 subscribers; one op is one delivery.
func BenchmarkFanOut(b *testing.B) { benchRoute(b, 1, 100) }

func benchRoute(b *testing.B, pubs, subs int) {
	_, addr := startBroker(b, broker.Options{MaxOutboundBytes: 64 << 20})
	readers := make([]*bufio.Reader, subs)
	for i := range subs {
		nc, br := benchClient(b, addr, "sub"+itoa(i))
		defer nc.Close()
		c := &rawClient{t: b, nc: nc, br: br, version: packet.Version311}
		c.subscribe(1, "bench/#", 0)
		readers[i] = br
	}
	perPub := b.N / subs / pubs
	if perPub == 0 {
		perPub = 1
	}
	frames := make([][]byte, pubs)
	conns := make([]net.Conn, pubs)
	for i := range pubs {
		nc, _ := benchClient(b, addr, "pub"+itoa(i))
		defer nc.Close()
		conns[i] = nc
		one, _ := packet.Append(nil, packet.Version311, &packet.Publish{Topic: "bench/" + itoa(i), Payload: make([]byte, 64)})
		// Write 64 messages per write call, as a busy client would.
		frames[i] = bytesRepeat(one, 64)
	}
	b.ReportAllocs()
	b.SetBytes(64)
	b.ResetTimer()
	var wg sync.WaitGroup
	for i := range subs {
		wg.Add(1)
		go func() { defer wg.Done(); countPublishes(b, readers[i], perPub*pubs) }()
	}
	for i := range pubs {
		go func() {
			for sent := 0; sent < perPub; sent += 64 {
				f := frames[i]
				if left := perPub - sent; left < 64 {
					f = f[:len(f)/64*left]
				}
				if _, err := conns[i].Write(f); err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
}

func bytesRepeat(b []byte, n int) []byte {
	out := make([]byte, 0, len(b)*n)
	for range n {
		out = append(out, b...)
	}
	return out
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// connectFrames are the bytes a client of the conn scenario sends: CONNECT
// (3.1.1, clean, keep alive 60) and SUBSCRIBE to one filter at QoS 0.
func connectFrames(b *testing.B, id string) (connect, subscribe []byte) {
	connect, err := packet.Append(nil, packet.Version311, &packet.Connect{
		Version: packet.Version311, ProtocolName: "MQTT", ClientID: id, CleanStart: true, KeepAlive: 60,
	})
	if err != nil {
		b.Fatal(err)
	}
	subscribe, err = packet.Append(nil, packet.Version311, &packet.Subscribe{
		PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "bench/conn/" + id}},
	})
	if err != nil {
		b.Fatal(err)
	}
	return connect, subscribe
}

// handshake dials and runs CONNECT/CONNACK and SUBSCRIBE/SUBACK, reading
// the fixed-size answers in place. It may run on any goroutine, so it
// returns its error rather than failing the benchmark.
func handshake(addr string, connect, subscribe []byte) (net.Conn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	var ack [5]byte
	if _, err := nc.Write(connect); err != nil {
		nc.Close()
		return nil, err
	}
	// CONNACK: 20 02 00 00.
	if _, err := io.ReadFull(nc, ack[:4]); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		nc.Close()
		return nil, fmt.Errorf("CONNACK % x: %v", ack[:4], err)
	}
	if _, err := nc.Write(subscribe); err != nil {
		nc.Close()
		return nil, err
	}
	// SUBACK: 90 03 00 01 00.
	if _, err := io.ReadFull(nc, ack[:5]); err != nil || ack[0] != 0x90 || ack[4] != 0 {
		nc.Close()
		return nil, fmt.Errorf("SUBACK % x: %v", ack[:5], err)
	}
	return nc, nil
}

// BenchmarkConnect: one op is a client connecting over loopback TCP
// (CONNECT, CONNACK), subscribing to a filter of its own (SUBSCRIBE,
// SUBACK) and leaving (DISCONNECT), 16 clients at a time. The client side
// is raw bytes, so most of the time and allocations are the broker's.
func BenchmarkConnect(b *testing.B) {
	_, addr := startBroker(b, broker.Options{NoConnectionMessages: true})
	var seq atomic.Int64
	disconnect := []byte{0xe0, 0}
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			connect, subscribe := connectFrames(b, "c"+itoa(int(seq.Add(1))))
			nc, err := handshake(addr, connect, subscribe)
			if err != nil {
				b.Error(err)
				return
			}
			nc.Write(disconnect)
			nc.Close()
		}
	})
}

// BenchmarkConnectHeld is BenchmarkConnect with the connections kept
// open, as in `mast bench conn`: connections pile up in groups of 2000,
// 16 connecting at a time, and are closed between groups with the timer
// stopped.
func BenchmarkConnectHeld(b *testing.B) {
	_, addr := startBroker(b, broker.Options{NoConnectionMessages: true})
	const group = 2000
	frames := make([][2][]byte, b.N)
	for i := range frames {
		frames[i][0], frames[i][1] = connectFrames(b, "h"+itoa(i))
	}
	held := make([]net.Conn, 0, group)
	var mu sync.Mutex
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += group {
		end := min(done+group, b.N)
		var next atomic.Int64
		next.Store(int64(done))
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= end {
						return
					}
					nc, err := handshake(addr, frames[i][0], frames[i][1])
					if err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					held = append(held, nc)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		for _, nc := range held {
			nc.Close()
		}
		held = held[:0]
		time.Sleep(50 * time.Millisecond) // let the broker clean up
		b.StartTimer()
	}
}
