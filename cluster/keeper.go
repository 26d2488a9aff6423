package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/topic"
)

// The JetStream state of the cluster: one key-value bucket of session
// records and one stream of messages kept for persistent sessions. Both
// are made once, with Options.Replicas replicas; nothing is made per
// session or per subscription.
const (
	sessionBucket = "mast_sessions"
	logStream     = "MAST_LOG"
	logRoot       = "mlog."
	// retainedStream keeps the last retained message of each topic (an
	// empty one for a deleted topic).
	retainedStream = "MAST_RETAINED"
	keptRoot       = "mret."
	releaseRoot    = "mast.release."
	// replayMargin is replayed before a session's checkpoint, for the
	// clocks of the nodes and messages still on their way when it was
	// taken.
	replayMargin = 2 * time.Second
	// checkpointEvery is how often the owner of an active session
	// records its checkpoint.
	checkpointEvery = 2 * time.Second
	opTimeout       = 5 * time.Second
	logMaxBytes     = 1 << 30
)

// PartitionQuorum and PartitionAvailable are the partition policies.
const (
	PartitionQuorum    = "quorum"
	PartitionAvailable = "available"
)

var errNotReady = errors.New("cluster: replicated state not ready (no quorum yet)")

// sessionRecord is a session as the cluster keeps it.
type sessionRecord struct {
	// Owner is the node that holds the session now.
	Owner string `json:"owner"`
	// Since is the checkpoint: every message kept in the log for this
	// session before it has been acknowledged by the client.
	Since   time.Time      `json:"since"`
	Session *store.Session `json:"session"`
	// Acked, written when a node leaves in order, are the ids of the
	// last messages the client acknowledged there: a replay skips them.
	Acked []uint64 `json:"acked,omitempty"`
}

// keeper is a Node's part in the replicated sessions.
type keeper struct {
	n        *Node
	js       jetstream.JetStream
	replicas int
	maxAge   time.Duration
	policy   string

	ready atomic.Bool
	kv    jetstream.KeyValue // set before ready

	srvMu    sync.RWMutex
	srv      *broker.Server
	attached chan struct{} // closed by setServer

	mu sync.Mutex
	// owned: the sessions this node owns, with the revision of their
	// record it last wrote or read; a write with another revision is
	// refused by the cluster (the session has moved).
	owned map[string]*ownedSession
	dirty map[string]bool // sessions with a record to write
	// held: sessions being replayed into here, with the checkpoint
	// their replays started from, which their checkpoint may not pass.
	held map[string]*heldCheckpoint
	wake chan struct{}

	pmu   sync.Mutex // guards psubs' membership per session and owners
	psubs *topic.Trie[struct{}]
	pset  map[string][]string // session key -> filters in psubs
	pres  sync.Pool
	// owners: session key -> owner node, of every session in the cluster.
	owners map[string]string
}

type ownedSession struct {
	rev      uint64
	latest   *store.Session // nil: delete the record
	since    time.Time      // checkpoint last written
	activity uint64
}

func newKeeper(n *Node, o Options) (*keeper, error) {
	js, err := jetstream.New(n.nc)
	if err != nil {
		return nil, err
	}
	k := &keeper{
		n: n, js: js, replicas: o.Replicas, maxAge: o.LogMaxAge, policy: o.Partition,
		owned:    make(map[string]*ownedSession),
		held:     make(map[string]*heldCheckpoint),
		dirty:    make(map[string]bool),
		wake:     make(chan struct{}, 1),
		attached: make(chan struct{}),
		psubs:    topic.NewTrie[struct{}](),
		pset:     make(map[string][]string),
		owners:   make(map[string]string),
	}
	k.pres.New = func() any { return new(topic.Result[struct{}]) }
	if k.replicas <= 0 {
		k.replicas = 3
	}
	if k.maxAge <= 0 {
		k.maxAge = 24 * time.Hour
	}
	if k.policy == "" {
		k.policy = PartitionQuorum
	}
	if _, err := n.nc.Subscribe(releaseRoot+n.name, k.onRelease); err != nil {
		return nil, err
	}
	go k.setup()
	go k.saver()
	return k, nil
}

func sessionKey(clientID string) string {
	return "c" + base64.RawURLEncoding.EncodeToString([]byte(clientID))
}

func keyClient(key string) (string, bool) {
	if !strings.HasPrefix(key, "c") {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(key[1:])
	return string(b), err == nil
}

// setup makes the bucket and the stream, retrying until the cluster has
// the quorum (and the nodes) for them, then follows the bucket.
func (k *keeper) setup() {
	replicas := k.replicas
	for attempt := 0; ; attempt++ {
		select {
		case <-k.n.quit:
			return
		default:
		}
		err := k.create(replicas)
		if err == nil {
			break
		}
		if attempt%10 == 0 {
			k.n.log.Info("cluster: waiting for JetStream quorum", "replicas", replicas, "err", err)
		}
		select {
		case <-k.n.quit:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := k.follow(); err != nil {
		k.n.log.Error("cluster: following the session bucket", "err", err)
		return
	}
	select {
	case <-k.attached:
	case <-k.n.quit:
		return
	}
	k.reconcile()
	k.loadRetained()
	k.ready.Store(true)
	k.n.log.Info(fmt.Sprintf("cluster: replicated sessions ready (%d replicas)", replicas))
	go k.checkpoints()
	go k.orphans()
	for !k.inSync() {
		select {
		case <-k.n.quit:
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
	k.n.log.Info("cluster: replicated state in sync (every replica current)")
}

func (k *keeper) create(replicas int) error {
	// Requests made before the meta leader is known go unanswered: try
	// often, each briefly.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if kv, err := k.js.KeyValue(ctx, sessionBucket); err == nil {
		_, err1 := k.js.Stream(ctx, logStream)
		_, err2 := k.js.Stream(ctx, retainedStream)
		if err1 == nil && err2 == nil {
			k.kv = kv // made by another node (or an earlier run)
			return nil
		}
	}
	kv, err := k.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   sessionBucket,
		History:  1,
		Replicas: replicas,
		Storage:  jetstream.FileStorage,
	})
	if err != nil {
		return err
	}
	_, err = k.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       logStream,
		Subjects:   []string{logRoot + ">"},
		Replicas:   replicas,
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		Discard:    jetstream.DiscardOld,
		MaxAge:     k.maxAge,
		MaxBytes:   logMaxBytes,
		Duplicates: 2 * keepTimeout,
	})
	if err != nil {
		return err
	}
	_, err = k.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              retainedStream,
		Subjects:          []string{keptRoot + ">"},
		Replicas:          replicas,
		Storage:           jetstream.FileStorage,
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardOld,
		Duplicates:        2 * keepTimeout,
	})
	if err != nil {
		return err
	}
	k.kv = kv
	return nil
}

// follow keeps psubs, the persistent subscriptions of every session in
// the cluster, from the bucket; it returns once the bucket's present
// content is in.
func (k *keeper) follow() error {
	w, err := k.kv.WatchAll(context.Background())
	if err != nil {
		return err
	}
	initial := make(chan struct{})
	go func() {
		defer w.Stop()
		first := true
		for {
			select {
			case <-k.n.quit:
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					if first {
						first = false
						close(initial)
					}
					continue
				}
				k.apply(e)
			}
		}
	}()
	select {
	case <-initial:
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("no initial state from the session bucket")
	}
}

// apply updates psubs from one change of the bucket.
func (k *keeper) apply(e jetstream.KeyValueEntry) {
	var filters []string
	owner, present := "", false
	if e.Operation() == jetstream.KeyValuePut {
		var rec sessionRecord
		if err := json.Unmarshal(e.Value(), &rec); err == nil && rec.Session != nil {
			owner, present = rec.Owner, true
			for _, s := range rec.Session.Subscriptions {
				if _, _, shared := topic.ParseShared(s.Filter); !shared && s.QoS > 0 {
					filters = append(filters, s.Filter)
				}
			}
		}
	}
	key := e.Key()
	k.pmu.Lock()
	defer k.pmu.Unlock()
	if present {
		k.owners[key] = owner
	} else {
		delete(k.owners, key)
	}
	for _, f := range k.pset[key] {
		k.psubs.Unsubscribe(key, f)
	}
	for _, f := range filters {
		k.psubs.Subscribe(key, f, struct{}{})
	}
	if len(filters) == 0 {
		delete(k.pset, key)
	} else {
		k.pset[key] = filters
	}
}

// persistentInterest reports whether a QoS 1/2 subscription of some
// persistent session in the cluster matches name.
func (k *keeper) persistentInterest(name string) bool {
	r := k.pres.Get().(*topic.Result[struct{}])
	k.psubs.Match(name, r)
	found := len(r.Subs) > 0
	r.Reset()
	k.pres.Put(r)
	return found
}

func (k *keeper) unavailable(err error) func() error {
	return func() error { return k.policyErr(err) }
}

// policyErr applies the partition policy to a failure to replicate.
func (k *keeper) policyErr(err error) error {
	if k.policy == PartitionAvailable {
		return nil
	}
	return fmt.Errorf("cluster: message not replicated: %w", err)
}

// inSync reports whether the meta group and the cluster's streams each
// have a leader and every replica current.
func (k *keeper) inSync() bool {
	if !k.n.ns.JetStreamIsCurrent() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, name := range []string{"KV_" + sessionBucket, logStream, retainedStream} {
		st, err := k.js.Stream(ctx, name)
		if err != nil {
			return false
		}
		info := st.CachedInfo()
		if info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas)+1 < info.Config.Replicas {
			return false
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Offline {
				return false
			}
		}
	}
	return true
}

func (k *keeper) server() *broker.Server {
	k.srvMu.RLock()
	defer k.srvMu.RUnlock()
	return k.srv
}

func (k *keeper) setServer(srv *broker.Server) {
	k.srvMu.Lock()
	defer k.srvMu.Unlock()
	if k.srv == nil {
		close(k.attached)
	}
	k.srv = srv
}
