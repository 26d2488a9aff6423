package client_test

import (
	"bufio"
	"fmt"
	"github.com/mastmq/mast/packet"
	"net"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/client"
)

// BenchmarkPublish measures publishes per second against the in-process
// mast broker (no subscriber): one caller waiting on each Publish, and many
// callers sharing the connection (the writer coalesces their packets, and
// QoS 1 keeps up to the Receive Maximum in flight).
//
//	go test -run '^$' -bench Publish -benchtime 200000x ./client/
func BenchmarkPublish(b *testing.B) {
	payload := make([]byte, 64)
	for _, qos := range []byte{0, 1, 2} {
		for _, callers := range []int{1, 64} {
			b.Run(fmt.Sprintf("qos%d/callers%d", qos, callers), func(b *testing.B) {
				addr := startMast(b, broker.Options{})
				c := newClient(b, addr, client.Options{ClientID: "bench", CleanStart: true})
				ctx := ctxT(b)
				if _, err := c.Connect(ctx); err != nil {
					b.Fatal(err)
				}
				m := &client.Message{Topic: "bench/topic", Payload: payload, QoS: qos}
				b.SetBytes(int64(len(payload)))
				b.ResetTimer()
				start := time.Now()
				if callers == 1 {
					for range b.N {
						if err := c.Publish(ctx, m); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.SetParallelism(callers)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := c.Publish(ctx, m); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkPublishSink is BenchmarkPublish against a minimal server that
// reads with a large buffer and acknowledges at once: what the client
// itself can do, whatever the broker.
func BenchmarkPublishSink(b *testing.B) {
	payload := make([]byte, 64)
	for _, qos := range []byte{0, 1} {
		for _, callers := range []int{1, 64} {
			b.Run(fmt.Sprintf("qos%d/callers%d", qos, callers), func(b *testing.B) {
				addr := startSink(b)
				c := newClient(b, addr, client.Options{ClientID: "bench", CleanStart: true})
				ctx := ctxT(b)
				if _, err := c.Connect(ctx); err != nil {
					b.Fatal(err)
				}
				m := &client.Message{Topic: "bench/topic", Payload: payload, QoS: qos}
				b.SetBytes(int64(len(payload)))
				b.ResetTimer()
				start := time.Now()
				if callers == 1 {
					for range b.N {
						if err := c.Publish(ctx, m); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.SetParallelism(callers)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := c.Publish(ctx, m); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			})
		}
	}
}

// startSink runs a server that accepts one MQTT 5 connection, discards
// what it receives and answers PUBLISH QoS 1 with PUBACK, flushing its
// answers whenever it has read all that had arrived.
func startSink(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		br := bufio.NewReaderSize(nc, 256<<10)
		bw := bufio.NewWriterSize(nc, 64<<10)
		if _, err := packet.Read(br, 0, 0); err != nil {
			return
		}
		out, _ := packet.Append(nil, 5, &packet.Connack{})
		bw.Write(out)
		bw.Flush()
		var ack []byte
		for {
			p, err := packet.Read(br, 5, 0)
			if err != nil {
				return
			}
			if pub, ok := p.(*packet.Publish); ok && pub.QoS == 1 {
				ack, _ = packet.Append(ack[:0], 5, &packet.Ack{Kind: packet.PUBACK, PacketID: pub.PacketID})
				bw.Write(ack)
			}
			if br.Buffered() == 0 {
				bw.Flush()
			}
		}
	}()
	b.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}
