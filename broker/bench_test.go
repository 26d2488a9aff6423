package broker_test

import (
	"bufio"
	"io"
	"net"
	"sync"
	"testing"

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
