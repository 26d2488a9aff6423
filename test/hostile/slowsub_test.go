package hostile_test

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

// seqPayload is a size-byte payload starting with seq.
func seqPayload(seq, size int) []byte {
	p := make([]byte, size)
	binary.BigEndian.PutUint64(p, uint64(seq))
	return p
}

func payloadSeq(p []byte) int {
	if len(p) < 8 {
		return -1
	}
	return int(binary.BigEndian.Uint64(p))
}

// stuckSubscriber connects a 3.1.1 client with no keep alive, subscribes it to topic at qos and to "flood/end" at QoS 1
// (the marker that ends its drain), and never reads from it again until
// drained.
func stuckSubscriber(t *testing.T, b *testBroker, topic string, qos byte) *client {
	t.Helper()
	s := dial(t, b.addr, uniqueID("stuck"))
	s.connect(v311, 0)
	if codes := s.subscribe(1, qos, topic); codes[0] != qos {
		t.Fatalf("stuck subscriber: SUBACK 0x%02X, want %d", codes[0], qos)
	}
	if codes := s.subscribe(2, 1, "flood/end"); codes[0] != 1 {
		t.Fatalf("stuck subscriber: SUBACK 0x%02X, want 1", codes[0])
	}
	return s
}

// TestSlowSubscriber: one subscriber stops reading while a publisher floods
// its topic. A healthy subscriber of the same topic gets every message, in
// order; the stuck one's outbound queue stays bounded and what does not fit
// is dropped and counted; it stays connected (the broker's write timeout
// is 30 s, a constant, longer than the flood), and once it reads again it
// gets an in-order subset of the messages, which together with the drops
// accounts for every one.
//
// QoS 0: 200,000 × 1 KiB (195 MiB, 195 × MaxOutboundBytes 1 MiB), paced
// so that the healthy subscriber is never more than 256 KiB behind (the
// broker does not slow a QoS 0 publisher down; a healthy subscriber more
// than MaxOutboundBytes behind would lose messages too). QoS 1:
// 2000 messages with MaxInflight 10 and MaxQueued 100: the stuck one keeps
// exactly the first 10 in flight and the next 100 queued; 1890 are dropped.
//
// Bounds asserted for the QoS 0 flood: peak heap (garbage included) and
// Sys growth under +48 MiB, and the heap retained while the stuck
// subscriber still holds its queue under +8 MiB (an unbounded queue would
// retain 195 MiB). Measured (2 cores, -race): peak heap +7 to +14 MiB,
// retained +1.5 MiB, Sys +0 to +17 MiB, the flood took 3.8–5.5 s; the
// stuck subscriber got 5,109 of 200,000 (its 1 MiB queue plus the loopback
// socket buffers) and 194,891 were dropped and counted. QoS 1 (bound
// +32 MiB): peak heap +1.5 to +2.7 MiB, retained +0.1 MiB, Sys +0 MiB.
func TestSlowSubscriber(t *testing.T) {
	t.Run("qos0", func(t *testing.T) {
		const total, size, batch = 200_000, 1024, 256
		b := startBroker(t, broker.Options{MaxOutboundBytes: 1 * mib})
		s := stuckSubscriber(t, b, "flood/t", 0)
		g := dial(t, b.addr, uniqueID("healthy"))
		g.connect(v311, 0)
		if codes := g.subscribe(1, 0, "flood/t"); codes[0] != 0 {
			t.Fatalf("healthy subscriber: SUBACK 0x%02X", codes[0])
		}
		p := dial(t, b.addr, uniqueID("publisher"))
		p.connect(v311, 0)
		before := b.srv.Stats()
		mem := watchMemory()

		// The healthy subscriber reads everything and reports every batch.
		progress := make(chan int, total/batch+1)
		gDone := make(chan error, 1)
		go func() {
			for i := range total {
				pk, err := g.next(waitTimeout)
				if err != nil {
					gDone <- fmt.Errorf("healthy subscriber, message %d: %w", i, err)
					return
				}
				pub, ok := pk.(*packet.Publish)
				if !ok || pub.Topic != "flood/t" || payloadSeq(pub.Payload) != i || len(pub.Payload) != size {
					gDone <- fmt.Errorf("healthy subscriber, message %d: got %v %+v", i, pk.Type(), pk)
					return
				}
				if (i+1)%batch == 0 || i+1 == total {
					progress <- i + 1
				}
			}
			gDone <- nil
		}()
		start := time.Now()
		var buf []byte
		for sent := 0; sent < total; {
			buf = buf[:0]
			k := min(batch, total-sent)
			for j := range k {
				var err error
				buf, err = packet.Append(buf, v311, &packet.Publish{Topic: "flood/t", Payload: seqPayload(sent+j, size)})
				if err != nil {
					t.Fatal(err)
				}
			}
			p.sendRaw(buf)
			sent += k
			select {
			case got := <-progress:
				if got != sent {
					t.Fatalf("healthy subscriber at %d, want %d", got, sent)
				}
			case err := <-gDone:
				if err != nil || sent < total {
					t.Fatalf("healthy subscriber stopped at %d: %v", sent, err)
				}
				// The last batch: its progress and the end came
				// together, and select took the end.
				gDone <- nil
			case <-time.After(waitTimeout):
				t.Fatalf("healthy subscriber has not got message %d after %v", sent, waitTimeout)
			}
		}
		if err := <-gDone; err != nil {
			t.Fatal(err)
		}
		t.Logf("%d messages flooded through the healthy subscriber in %v", total, time.Since(start).Round(time.Millisecond))
		st := b.srv.Stats()
		if st.ClientsConnected != 3 {
			t.Errorf("ClientsConnected = %d after the flood, want 3: the stuck subscriber stays", st.ClientsConnected)
		}
		if got := st.MessagesReceived - before.MessagesReceived; got != total {
			t.Errorf("MessagesReceived grew by %d, want %d", got, total)
		}
		dropped := st.MessagesDropped - before.MessagesDropped
		if dropped == 0 {
			t.Fatalf("nothing dropped for a subscriber that never read %d KiB", total*size/1024)
		}
		// Measured while the stuck subscriber still holds its queue.
		rep := mem.finish()
		rep.check(t, 48*mib)
		if rep.retained > 8*mib {
			t.Errorf("heap retained with the stuck subscriber's queue: %+.1f MiB, want under 8 MiB", float64(rep.retained)/mib)
		}

		// Let it read: it gets an in-order subset of the flood, then the
		// QoS 1 marker queued behind it.
		p.publish("flood/end", []byte("end"), 1, 1)
		if pk := p.read(); pk.Type() != packet.PUBACK {
			t.Fatalf("publisher: got %v, want PUBACK", pk.Type())
		}
		got, last := 0, -1
		drainStart := time.Now()
		for {
			pk, err := s.next(waitTimeout)
			if err != nil {
				t.Fatalf("stuck subscriber after %d messages, %v into the drain (%v since the flood began): %v", got, time.Since(drainStart), time.Since(start), err)
			}
			pub, ok := pk.(*packet.Publish)
			if !ok {
				t.Fatalf("stuck subscriber: got %v, want PUBLISH", pk.Type())
			}
			if pub.Topic == "flood/end" {
				s.send(&packet.Ack{Kind: packet.PUBACK, PacketID: pub.PacketID})
				break
			}
			seq := payloadSeq(pub.Payload)
			if seq <= last || seq >= total {
				t.Fatalf("stuck subscriber: message %d after %d: out of order", seq, last)
			}
			last = seq
			got++
		}
		t.Logf("stuck subscriber got %d of %d messages; %d dropped", got, total, dropped)
		if uint64(got)+dropped != total {
			t.Errorf("stuck subscriber got %d and %d were dropped: %d, want %d in all", got, dropped, uint64(got)+dropped, total)
		}
		probe(t, b)
	})

	t.Run("qos1", func(t *testing.T) {
		const total, inflight, queued, batch = 2000, 10, 100, 50
		b := startBroker(t, broker.Options{MaxInflight: inflight, MaxQueued: queued})
		s := stuckSubscriber(t, b, "flood/q", 1)
		g := dial(t, b.addr, uniqueID("healthy"))
		g.connect(v311, 0)
		if codes := g.subscribe(1, 1, "flood/q"); codes[0] != 1 {
			t.Fatalf("healthy subscriber: SUBACK 0x%02X", codes[0])
		}
		p := dial(t, b.addr, uniqueID("publisher"))
		p.connect(v311, 0)
		before := b.srv.Stats()
		mem := watchMemory()

		progress := make(chan int, total/batch+1)
		gDone := make(chan error, 1)
		go func() {
			for i := range total {
				pk, err := g.next(waitTimeout)
				if err != nil {
					gDone <- fmt.Errorf("healthy subscriber, message %d: %w", i, err)
					return
				}
				pub, ok := pk.(*packet.Publish)
				if !ok || pub.Topic != "flood/q" || payloadSeq(pub.Payload) != i || pub.QoS != 1 {
					gDone <- fmt.Errorf("healthy subscriber, message %d: got %v %+v", i, pk.Type(), pk)
					return
				}
				if err := g.write(&packet.Ack{Kind: packet.PUBACK, PacketID: pub.PacketID}); err != nil {
					gDone <- err
					return
				}
				if (i+1)%batch == 0 {
					progress <- i + 1
				}
			}
			gDone <- nil
		}()
		for sent := 0; sent < total; {
			for j := range batch {
				p.publish("flood/q", seqPayload(sent+j, 64), 1, uint16(sent+j+1))
			}
			sent += batch
			select {
			case got := <-progress:
				if got != sent {
					t.Fatalf("healthy subscriber at %d, want %d", got, sent)
				}
			case err := <-gDone:
				t.Fatalf("healthy subscriber stopped: %v", err)
			case <-time.After(waitTimeout):
				t.Fatalf("healthy subscriber has not got message %d after %v", sent, waitTimeout)
			}
		}
		if err := <-gDone; err != nil {
			t.Fatal(err)
		}
		for i := range total {
			if a, ok := p.read().(*packet.Ack); !ok || a.Kind != packet.PUBACK {
				t.Fatalf("publisher: PUBACK %d of %d missing", i, total)
			}
		}
		st := b.waitStats(t, fmt.Sprintf("%d in flight and %d queued", inflight, queued), func(st broker.Stats) bool {
			return st.Inflight == inflight && st.Queued == queued
		})
		if got, want := st.MessagesDropped-before.MessagesDropped, uint64(total-inflight-queued); got != want {
			t.Errorf("MessagesDropped grew by %d, want %d", got, want)
		}
		if st.ClientsConnected != 3 {
			t.Errorf("ClientsConnected = %d, want 3: the stuck subscriber stays", st.ClientsConnected)
		}
		mem.finish().check(t, 32*mib)

		// Reading again, it gets exactly the first 110, in order, then a
		// marker published after them.
		for i := range inflight + queued {
			pk := s.read()
			pub, ok := pk.(*packet.Publish)
			if !ok || pub.Topic != "flood/q" || payloadSeq(pub.Payload) != i {
				t.Fatalf("stuck subscriber, message %d: got %v %+v", i, pk.Type(), pk)
			}
			s.send(&packet.Ack{Kind: packet.PUBACK, PacketID: pub.PacketID})
		}
		p.publish("flood/end", []byte("end"), 1, 1)
		if pk := p.read(); pk.Type() != packet.PUBACK {
			t.Fatalf("publisher: got %v, want PUBACK", pk.Type())
		}
		if pub, ok := s.read().(*packet.Publish); !ok || pub.Topic != "flood/end" {
			t.Fatalf("stuck subscriber: got %+v, want the marker", pub)
		}
		probe(t, b)
	})
}
