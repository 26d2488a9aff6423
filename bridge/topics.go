package bridge

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/mastmq/mast/topic"
)

// mapOut turns a local topic into the remote one by the first Out or Both
// topic whose local filter matches it, as Mosquitto does: LocalPrefix is
// taken off (when the topic starts with it) and RemotePrefix put on.
func mapOut(topics []Topic, local string) (string, bool) {
	for i := range topics {
		t := &topics[i]
		if !t.out() || !topic.Match(t.LocalFilter(), local) {
			continue
		}
		return t.RemotePrefix + strings.TrimPrefix(local, t.LocalPrefix), true
	}
	return "", false
}

// mapIn is mapOut the other way, by In and Both topics.
func mapIn(topics []Topic, remote string) (string, bool) {
	for i := range topics {
		t := &topics[i]
		if !t.in() || !topic.Match(t.RemoteFilter(), remote) {
			continue
		}
		return t.LocalPrefix + strings.TrimPrefix(remote, t.RemotePrefix), true
	}
	return "", false
}

// subscribedIn reports whether a remote topic matches one of the remote
// subscriptions: a message the bridge publishes there comes back to it.
func subscribedIn(topics []Topic, remote string) bool {
	for i := range topics {
		if t := &topics[i]; t.in() && topic.Match(t.RemoteFilter(), remote) {
			return true
		}
	}
	return false
}

// echoWindow is how long the bridge waits for its own message to come
// back from a remote broker that cannot be asked not to send it.
const echoWindow = 30 * time.Second

// echoes remembers the messages a bridge published remotely on topics it
// also subscribes to there, so that the copy the remote broker sends back
// is recognised and dropped. MQTT 5 has No Local for this; before 5 the
// remote broker sends a subscriber its own messages, and without this a
// "both" topic would deliver every local message twice locally.
//
// A message is recognised by topic and payload: if another client
// publishes the same payload on the same topic while the bridge's own copy
// is on its way back, one of the two is dropped, which delivers the same
// thing. An entry whose echo never comes (a QoS 0 copy dropped by the
// remote broker, or an ACL that hides it) lives for echoWindow.
type echoes struct {
	seed maphash.Seed

	mu    sync.Mutex
	want  map[echoKey][]time.Time // deadlines, oldest first
	swept time.Time
}

type echoKey struct {
	topic string
	sum   uint64
}

func newEchoes() *echoes {
	return &echoes{seed: maphash.MakeSeed(), want: make(map[echoKey][]time.Time)}
}

func (e *echoes) key(topic string, payload []byte) echoKey {
	return echoKey{topic, maphash.Bytes(e.seed, payload)}
}

// expect records that a message is about to be published remotely.
func (e *echoes) expect(topic string, payload []byte) {
	now := time.Now()
	k := e.key(topic, payload)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.want[k] = append(e.want[k], now.Add(echoWindow))
	if now.Sub(e.swept) > echoWindow {
		e.swept = now
		for k, ds := range e.want {
			if ds = unexpired(ds, now); len(ds) == 0 {
				delete(e.want, k)
			} else {
				e.want[k] = ds
			}
		}
	}
}

// take reports whether a message from the remote broker is the echo of
// one the bridge published, and forgets one such expectation.
func (e *echoes) take(topic string, payload []byte) bool {
	now := time.Now()
	k := e.key(topic, payload)
	e.mu.Lock()
	defer e.mu.Unlock()
	ds := unexpired(e.want[k], now)
	if len(ds) == 0 {
		delete(e.want, k)
		return false
	}
	if len(ds) == 1 {
		delete(e.want, k)
	} else {
		e.want[k] = ds[1:]
	}
	return true
}

func unexpired(ds []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(ds) && !now.Before(ds[i]) {
		i++
	}
	return ds[i:]
}
