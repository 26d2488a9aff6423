package cluster_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/cluster"
	"github.com/mastmq/mast/packet"
)

// BenchmarkQoS0 publishes b.N QoS 0 messages of 64 bytes from one client
// and waits until one subscriber has them, side by side:
//
//	single-node: publisher and subscriber on one broker without a cluster
//	local-in-cluster: the same on a clustered node, no remote interest
//	cross-node: publisher on node 1, subscriber on node 2
//
// QoS 0 may be dropped under overload (a full outbound queue, a NATS slow
// consumer); delivered/op and lost/op say how much arrived.
func BenchmarkQoS0(b *testing.B) {
	b.Run("single-node", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := broker.New(broker.Options{SysInterval: -1})
		go srv.Serve(ln)
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
		}()
		addr := ln.Addr().String()
		benchFlow(b, addr, addr)
	})
	b.Run("local-in-cluster", func(b *testing.B) {
		nodes := startCluster(b, 2)
		benchFlow(b, nodes[0].addr, nodes[0].addr)
	})
	b.Run("cross-node", func(b *testing.B) {
		nodes := startCluster(b, 2)
		benchFlow(b, nodes[0].addr, nodes[1].addr)
	})
}

func benchFlow(b *testing.B, pubAddr, subAddr string) {
	var got, probes atomic.Int64
	var want atomic.Int64
	want.Store(-1)
	done := make(chan struct{}, 1)
	s := connect(b, subAddr, "bench-sub")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.c.Subscribe(ctx, func(_ *client.Client, m *client.Message) {
		if m.Topic == "bench/probe" {
			probes.Add(1)
			return
		}
		if got.Add(1) == want.Load() {
			done <- struct{}{}
		}
	}, packet.Subscription{Filter: "bench/#"})
	if err != nil {
		b.Fatal(err)
	}
	p := connect(b, pubAddr, "bench-pub")
	// NATS interest propagates asynchronously: probe until it has.
	waitFor(b, "subscription reachable", func() bool {
		p.publish(b, "bench/probe", "probe", 0, false)
		return probes.Load() > 0
	})
	payload := make([]byte, 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	want.Store(int64(b.N))
	for range b.N {
		if err := p.c.Publish(context.Background(), &client.Message{Topic: "bench/x", Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	b.StopTimer()
	n := got.Load()
	b.ReportMetric(float64(n)/float64(b.N), "delivered/op")
	b.ReportMetric(float64(int64(b.N)-n)/float64(b.N), "lost/op")
}

// BenchmarkForward is the cost Forward adds to a publish on the
// publisher's goroutine: with nobody in the cluster interested (the
// interest check returns early), and with a remote subscriber (the
// message is enveloped and written to the in-process NATS connection).
func BenchmarkForward(b *testing.B) {
	nodes := startCluster(b, 2)
	m := broker.RemoteMessage{Topic: "fwd/sensor/1", Payload: make([]byte, 64)}
	b.Run("no-interest", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			nodes[0].node.Forward(m)
		}
	})
	b.Run("remote-interest", func(b *testing.B) {
		nodes[1].node.SetHandler(nil) // received and dropped
		nodes[1].node.Interest("fwd/#", 1)
		acc := nodes[0].node.Server().GlobalAccount()
		waitFor(b, "interest", func() bool { return acc.SubscriptionInterest(cluster.TopicSubject(m.Topic)) })
		b.ReportAllocs()
		for range b.N {
			nodes[0].node.Forward(m)
		}
	})
}
