package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
)

// probe is the payload of the messages that only test a route; inboxes
// note them apart from the messages they count.
var probe = []byte("\x00probe")

// inbox records what one subscriber receives. Payloads are
// "stream:seq"; anything else is noted as an arrival by topic only.
type inbox struct {
	name string

	mu       sync.Mutex
	got      map[string]map[int]int // stream -> seq -> copies
	order    map[string][]int       // stream -> seqs in arrival order
	qos      map[string]map[byte]int
	arrivals []arrival // every non-probe message in order
	probes   map[string]bool
	lastAt   map[string]time.Time     // stream -> last arrival
	maxGap   map[string]time.Duration // stream -> longest wait between arrivals
	connects []connectEvent
	events   []connectEvent // connects and losses
	// firstAfter is when the first message arrived on a connection other
	// than the first.
	firstAfter time.Time
}

type arrival struct {
	topic   string
	payload string
	qos     byte
	retain  bool
}

type connectEvent struct {
	at             time.Time
	sessionPresent bool
	lost           error // set for a lost connection instead
}

// history tells the connects and losses since t0, for a log line.
func (b *inbox) history(t0 time.Time) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var parts []string
	for _, e := range b.events {
		at := e.at.Sub(t0).Round(time.Millisecond)
		if e.lost != nil {
			parts = append(parts, fmt.Sprintf("%v lost (%v)", at, e.lost))
		} else {
			parts = append(parts, fmt.Sprintf("%v connected (session present %v)", at, e.sessionPresent))
		}
	}
	return strings.Join(parts, ", ")
}

func newInbox(name string) *inbox {
	return &inbox{
		name:   name,
		got:    map[string]map[int]int{},
		order:  map[string][]int{},
		qos:    map[string]map[byte]int{},
		probes: map[string]bool{},
		lastAt: map[string]time.Time{},
		maxGap: map[string]time.Duration{},
	}
}

func (b *inbox) record(topic string, payload []byte, qos byte, retain bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if bytes.Equal(payload, probe) {
		b.probes[topic] = true
		return
	}
	if len(b.connects) > 1 && b.firstAfter.IsZero() {
		b.firstAfter = time.Now()
	}
	b.arrivals = append(b.arrivals, arrival{topic, string(payload[:min(len(payload), 64)]), qos, retain})
	stream, seq, ok := parsePayload(payload)
	if !ok {
		return
	}
	if b.got[stream] == nil {
		b.got[stream] = map[int]int{}
		b.qos[stream] = map[byte]int{}
	}
	b.got[stream][seq]++
	now := time.Now()
	if last, ok := b.lastAt[stream]; ok {
		b.maxGap[stream] = max(b.maxGap[stream], now.Sub(last))
	}
	b.lastAt[stream] = now
	b.order[stream] = append(b.order[stream], seq)
	b.qos[stream][qos]++
}

func (b *inbox) onMessage(_ *client.Client, m *client.Message) {
	b.record(m.Topic, m.Payload, m.QoS, m.Retain)
}

func (b *inbox) onConnect(_ *client.Client, ack *packet.Connack) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := connectEvent{at: time.Now(), sessionPresent: ack.SessionPresent}
	b.connects = append(b.connects, e)
	b.events = append(b.events, e)
}

func (b *inbox) onConnectionLost(_ *client.Client, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, connectEvent{at: time.Now(), lost: err})
}

// count is how many distinct seqs of stream arrived.
func (b *inbox) count(stream string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.got[stream])
}

func (b *inbox) sawProbe(topic string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.probes[topic]
}

func (b *inbox) reconnects() []connectEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.connects) < 2 {
		return nil
	}
	return slices.Clone(b.connects[1:])
}

func (b *inbox) arrived() []arrival {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.arrivals)
}

func payload(stream string, seq int) []byte { return []byte(stream + ":" + strconv.Itoa(seq)) }

// parsePayload reads "stream:seq", or "stream:seq:padding".
func parsePayload(p []byte) (string, int, bool) {
	stream, rest, ok := strings.Cut(string(p), ":")
	if !ok {
		return "", 0, false
	}
	s, _, _ := strings.Cut(rest, ":")
	n, err := strconv.Atoi(s)
	return stream, n, err == nil
}

// until polls cond every 20ms for up to d and reports whether it came
// true.
func until(d time.Duration, cond func() bool) bool { return untilEvery(d, 20*time.Millisecond, cond) }

// untilEvery polls cond every interval for up to d and reports whether
// it came true.
func untilEvery(d, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
	return true
}

// clientOpts are the defaults of the test's clients: short timeouts and
// fast reconnects, the inbox's callbacks.
func clientOpts(id string, version byte, in *inbox, servers ...string) client.Options {
	o := client.Options{
		Servers:        servers,
		ClientID:       id,
		Version:        version,
		CleanStart:     true,
		KeepAlive:      5 * time.Second,
		ConnectTimeout: 3 * time.Second,
		WriteTimeout:   5 * time.Second,
		MinBackoff:     50 * time.Millisecond,
		MaxBackoff:     500 * time.Millisecond,
	}
	if in != nil {
		o.OnMessage = in.onMessage
		o.OnConnect = in.onConnect
		o.OnConnectionLost = in.onConnectionLost
	}
	return o
}

// dial connects a client and disconnects it at the end of the test.
func dial(t testing.TB, o client.Options) (*client.Client, *packet.Connack) {
	t.Helper()
	c, err := client.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := c.Connect(ctx)
	if err != nil {
		t.Fatalf("%s: connect to %v: %v", o.ClientID, o.Servers, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c.Disconnect(ctx)
	})
	return c, ack
}

func subscribe(t testing.TB, c *client.Client, qos byte, filters ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var subs []packet.Subscription
	for _, f := range filters {
		subs = append(subs, packet.Subscription{Filter: f, QoS: qos})
	}
	ack, err := c.Subscribe(ctx, nil, subs...)
	if err != nil {
		t.Fatalf("%s: subscribe %v: %v", c.ClientID(), filters, err)
	}
	for i, code := range ack.ReasonCodes {
		if code >= 0x80 {
			t.Fatalf("%s: subscribe %s: reason %#x", c.ClientID(), filters[i], code)
		}
	}
}

func publish(t testing.TB, c *client.Client, topic string, p []byte, qos byte, retain bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Publish(ctx, &client.Message{Topic: topic, Payload: p, QoS: qos, Retain: retain}); err != nil {
		t.Fatalf("%s: publish %s: %v", c.ClientID(), topic, err)
	}
}

func disconnect(c *client.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Disconnect(ctx)
}

var probeSeq atomic.Int64

// waitMesh waits until every node accepts an MQTT client and a message
// published on each node reaches a subscriber on each other node:
// routes and NATS interest form asynchronously.
func waitMesh(t testing.TB, nodes ...*node) {
	t.Helper()
	start := time.Now()
	token := strconv.FormatInt(probeSeq.Add(1), 10)
	boxes := make([]*inbox, len(nodes))
	pubs := make([]*client.Client, len(nodes))
	for j, n := range nodes {
		boxes[j] = newInbox(n.name)
		id := "mesh-" + token + "-" + n.name
		// Right after a partition heals, a node may still be sorting out
		// its routes: a probe client that loses its connection while
		// subscribing tries again (a fresh one).
		var s *client.Client
		for attempt := 1; ; attempt++ {
			s, _ = dialRetry(t, clientOpts(id+"-sub", packet.Version5, boxes[j], n.mqtt))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := s.Subscribe(ctx, nil, packet.Subscription{Filter: "_probe/" + token + "/" + n.name + "/+"})
			cancel()
			if err == nil {
				break
			}
			disconnect(s)
			if attempt == 3 {
				t.Fatalf("%s: probe subscriber: %v", n.name, err)
			}
			t.Logf("%s: probe subscriber: %v; again", n.name, err)
		}
		pubs[j], _ = dialRetry(t, clientOpts(id+"-pub", packet.Version5, nil, n.mqtt))
		defer disconnect(s)
		defer disconnect(pubs[j])
	}
	ok := until(30*time.Second, func() bool {
		all := true
		for i := range nodes {
			for j, to := range nodes {
				if i == j {
					continue
				}
				topic := "_probe/" + token + "/" + to.name
				if boxes[j].sawProbe(topic + "/" + nodes[i].name) {
					continue
				}
				all = false
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				pubs[i].Publish(ctx, &client.Message{Topic: topic + "/" + nodes[i].name, Payload: probe})
				cancel()
			}
		}
		return all
	})
	if !ok {
		var missing []string
		for i := range nodes {
			for j, to := range nodes {
				if i != j && !boxes[j].sawProbe("_probe/"+token+"/"+to.name+"/"+nodes[i].name) {
					missing = append(missing, nodes[i].name+"->"+to.name)
				}
			}
		}
		t.Fatalf("cluster not meshed after 30s: no message %v", missing)
	}
	meshed := time.Since(start)
	// Replicated state: each node says so once every replica is
	// current (as GET /readyz does); a rolling restart that stopped the
	// next node before that could leave the state without a quorum.
	for _, n := range nodes {
		if !until(60*time.Second, func() bool { return n.logContains("replicated state in sync") }) {
			t.Fatalf("%s: replicated state not in sync in 60s", n.name)
		}
	}
	t.Logf("cluster of %d meshed in %v, ready for persistent sessions and QoS 1 in %v", len(nodes),
		meshed.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// dialRetry connects like dial, retrying for a few seconds: a node that
// has just printed its listening line may still refuse for a moment.
func dialRetry(t testing.TB, o client.Options) (*client.Client, *packet.Connack) {
	t.Helper()
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var c *client.Client
		c, err = client.New(o)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		var ack *packet.Connack
		ack, err = c.Connect(ctx)
		cancel()
		if err == nil {
			return c, ack
		}
		time.Sleep(50 * time.Millisecond) // between attempts, not a wait for a condition
	}
	t.Fatalf("%s: connect to %v: %v", o.ClientID, o.Servers, err)
	return nil, nil
}

// awaitRoute publishes probes on topic from pub until each inbox has
// received one: it tells that a subscription made on another node has
// reached the publisher's node.
func awaitRoute(t testing.TB, pub *client.Client, topic string, boxes ...*inbox) {
	t.Helper()
	ok := until(20*time.Second, func() bool {
		for _, b := range boxes {
			if !b.sawProbe(topic) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				pub.Publish(ctx, &client.Message{Topic: topic, Payload: probe})
				cancel()
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("no probe on %s reached every subscriber in 20s", topic)
	}
}

// ledger records what publishers sent and what was acknowledged to them.
type ledger struct {
	mu        sync.Mutex
	published map[string]int
	acked     map[string][]int
	failed    map[string]int
	lastErr   map[string]error
}

func newLedger() *ledger {
	return &ledger{published: map[string]int{}, acked: map[string][]int{}, failed: map[string]int{}, lastErr: map[string]error{}}
}

func (l *ledger) ackedCount(stream string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked[stream])
}

// pump publishes stream's messages on topic, one at a time, with seqs
// from first, until ctx ends or count messages were published (count 0:
// no limit); every returned Publish without error is an acknowledgement
// (PUBACK, PUBCOMP). A pause of pace between publishes keeps the load
// within what two shared cores take.
func pump(ctx context.Context, c *client.Client, l *ledger, stream, topic string, qos byte, first, count int, pace time.Duration) {
	pumpPadded(ctx, c, l, stream, topic, qos, first, count, pace, 0)
}

// pumpPadded is pump with payloads padded to at least size bytes.
func pumpPadded(ctx context.Context, c *client.Client, l *ledger, stream, topic string, qos byte, first, count int, pace time.Duration, size int) {
	tick := time.NewTicker(pace)
	defer tick.Stop()
	for seq := first; count == 0 || seq < first+count; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		l.mu.Lock()
		l.published[stream]++
		l.mu.Unlock()
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		p := payload(stream, seq)
		if len(p) < size {
			p = append(append(p, ':'), make([]byte, size-len(p)-1)...)
		}
		err := c.Publish(pctx, &client.Message{Topic: topic, Payload: p, QoS: qos})
		cancel()
		l.mu.Lock()
		if err == nil {
			l.acked[stream] = append(l.acked[stream], seq)
		} else {
			l.failed[stream]++
			l.lastErr[stream] = err
		}
		l.mu.Unlock()
		if err != nil && ctx.Err() != nil {
			return
		}
	}
}

// delivered reports whether every acknowledged message of the streams
// has reached every inbox.
func delivered(l *ledger, streams []string, boxes ...*inbox) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range boxes {
		b.mu.Lock()
		for _, s := range streams {
			for _, seq := range l.acked[s] {
				if b.got[s][seq] == 0 {
					b.mu.Unlock()
					return false
				}
			}
		}
		b.mu.Unlock()
	}
	return true
}

// tally is what report found for one stream at one subscriber.
type tally struct {
	published, acked, delivered, dups, lost, outOfOrder int
	firstLost, firstDups                                []int
}

func (x tally) String() string {
	s := fmt.Sprintf("published %d, acknowledged %d, delivered %d, duplicates %d, lost %d, out of order %d",
		x.published, x.acked, x.delivered, x.dups, x.lost, x.outOfOrder)
	if x.lost > 0 {
		s += fmt.Sprintf(" (first lost: %v)", x.firstLost)
	}
	if x.dups > 0 {
		s += fmt.Sprintf(" (first duplicates: %v)", x.firstDups)
	}
	return s
}

// report logs the one-line summary of stream at inbox b, and fails the
// test on any acknowledged message that did not arrive. Duplicates fail
// it too when dupsFatal.
func report(t testing.TB, l *ledger, b *inbox, stream string, dupsFatal bool) tally {
	t.Helper()
	l.mu.Lock()
	x := tally{published: l.published[stream], acked: len(l.acked[stream])}
	acked := slices.Clone(l.acked[stream])
	lastErr := l.lastErr[stream]
	failed := l.failed[stream]
	l.mu.Unlock()
	b.mu.Lock()
	x.delivered = len(b.order[stream])
	for _, c := range b.got[stream] {
		x.dups += c - 1
	}
	last := 0
	seen := map[int]bool{}
	for _, seq := range b.order[stream] {
		if seen[seq] {
			if len(x.firstDups) < 10 {
				x.firstDups = append(x.firstDups, seq)
			}
			continue
		}
		if seq < last {
			x.outOfOrder++
		}
		last = seq
		seen[seq] = true
	}
	for _, seq := range acked {
		if b.got[stream][seq] == 0 {
			x.lost++
			if len(x.firstLost) < 10 {
				x.firstLost = append(x.firstLost, seq)
			}
		}
	}
	b.mu.Unlock()
	line := fmt.Sprintf("%s -> %s: %v", stream, b.name, x)
	if failed > 0 {
		line += fmt.Sprintf("; %d publishes failed, the last with %v", failed, lastErr)
	}
	t.Log(line)
	if x.lost > 0 {
		t.Errorf("%s -> %s: %d acknowledged messages lost", stream, b.name, x.lost)
	}
	if dupsFatal && x.dups > 0 {
		t.Errorf("%s -> %s: %d duplicates", stream, b.name, x.dups)
	}
	if x.acked == 0 {
		t.Errorf("%s: nothing acknowledged: the test proved nothing", stream)
	}
	return x
}
