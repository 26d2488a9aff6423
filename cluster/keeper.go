package cluster

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
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

// keep keeps env, the envelope of a message published here, in the
// cluster: in the log when a persistent session needs it (QoS 1/2), and
// as its topic's retained message when it is retained. The wait reports
// when a QoS 1/2 message is replicated.
func (k *keeper) keep(subj string, env []byte, id uint64, m broker.RemoteMessage) func() error {
	if !k.ready.Load() {
		// Starting up: which sessions need it is not known yet. The
		// local store keeps this node's own sessions' copies meanwhile.
		return nil
	}
	var pubs []*keptPublish
	publish := func(root string) error {
		msg := &nats.Msg{Subject: root + subj, Data: append([]byte(nil), env...), Header: nats.Header{}}
		// The id lets JetStream drop a resend of a message it has (a
		// resend after its leader was lost, say).
		msg.Header.Set(jetstream.MsgIDHeader, root+strconv.FormatUint(id, 36))
		fut, err := k.js.PublishMsgAsync(msg)
		if err != nil {
			return err
		}
		pubs = append(pubs, &keptPublish{msg: msg, fut: fut})
		return nil
	}
	if m.Retain {
		if err := publish(keptRoot); err != nil && m.QoS > 0 {
			return k.unavailable(err)
		}
	}
	if m.QoS > 0 && k.persistentInterest(m.Topic) {
		if err := publish(logRoot); err != nil {
			return k.unavailable(err)
		}
	}
	if m.QoS == 0 || len(pubs) == 0 {
		return nil
	}
	return func() error {
		deadline := time.Now().Add(keepTimeout)
		for _, p := range pubs {
			if err := k.await(p, deadline); err != nil {
				return k.policyErr(err)
			}
		}
		return nil
	}
}

// keepTimeout bounds how long a publisher's acknowledgement waits for
// JetStream, resends included (a stream elects a new leader within a few
// seconds of losing one).
const keepTimeout = 10 * time.Second

// keptPublish is a message on its way into a stream.
type keptPublish struct {
	msg *nats.Msg
	fut jetstream.PubAckFuture
}

// await waits for p's acknowledgement, sending it again (same id) when
// the stream had no leader or did not answer, until deadline.
func (k *keeper) await(p *keptPublish, deadline time.Time) error {
	for {
		wait := min(time.Until(deadline), 2*time.Second)
		var err error
		select {
		case <-p.fut.Ok():
			return nil
		case err = <-p.fut.Err():
		case <-time.After(wait):
			err = errors.New("cluster: no acknowledgement from JetStream in time")
		}
		if time.Until(deadline) <= 0 {
			return err
		}
		select {
		case <-k.n.quit:
			return err
		case <-time.After(100 * time.Millisecond):
		}
		fut, perr := k.js.PublishMsgAsync(p.msg)
		if perr != nil {
			return perr
		}
		p.fut = fut
	}
}

// loadRetained takes in the retained messages the cluster keeps, for the
// ones published while this node was away.
func (k *keeper) loadRetained() {
	srv := k.server()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cons, err := k.js.OrderedConsumer(ctx, retainedStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{keptRoot + ">"}, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy, MaxResetAttempts: 3,
	})
	if err != nil {
		k.n.log.Warn("cluster: reading the retained messages", "err", err)
		return
	}
	info, err := cons.Info(ctx)
	if err != nil {
		k.n.log.Warn("cluster: reading the retained messages", "err", err)
		return
	}
	n := 0
	for pending := info.NumPending; pending > 0; {
		batch, err := cons.Fetch(int(min(pending, 1024)), jetstream.FetchMaxWait(opTimeout))
		if err != nil {
			break
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			if md, err := msg.Metadata(); err == nil {
				pending = md.NumPending
			}
			m, _, _, err := decodeEnvelope(msg.Data())
			if err != nil {
				continue
			}
			t, ok := SubjectTopic(strings.TrimPrefix(msg.Subject(), keptRoot))
			if !ok {
				continue
			}
			m.Topic = t
			srv.KeepRetained(m)
			n++
		}
		if got == 0 {
			break
		}
	}
	if n > 0 {
		k.n.log.Info(fmt.Sprintf("cluster: %d retained messages from the cluster", n))
	}
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

// Claim implements broker.SessionKeeper.
func (k *keeper) Claim(clientID string, clean, local, persistent bool) (*store.Session, func(func(broker.RemoteMessage)), error) {
	if !k.ready.Load() {
		if clean || k.policy == PartitionAvailable {
			return nil, nil, nil
		}
		return nil, nil, errNotReady
	}
	key := sessionKey(clientID)
	ctx, cancel := context.WithTimeout(context.Background(), 2*opTimeout)
	defer cancel()
	released := false
	var handed handover
	for attempt := 0; attempt < 5; attempt++ {
		e, err := k.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			if !persistent {
				return nil, nil, nil
			}
			// A new persistent session: its record now, so that a
			// connection to another node right after finds it here.
			if err := k.createRecord(ctx, clientID); err != nil {
				if isWrongRevision(err) {
					continue // made elsewhere meanwhile
				}
				return nil, nil, k.claimErr(err)
			}
			return nil, nil, nil
		}
		if err != nil {
			if clean {
				// A clean session needs nothing from the cluster; a
				// copy left elsewhere is dropped when its owner next
				// writes it (or on its expiry).
				k.n.log.Warn("cluster: session record not readable for a clean start", "client", clientID, "err", err)
				return nil, nil, nil
			}
			return nil, nil, k.claimErr(err)
		}
		var rec sessionRecord
		if err := json.Unmarshal(e.Value(), &rec); err != nil || rec.Session == nil {
			k.n.log.Warn("cluster: unreadable session record; starting afresh", "client", clientID, "err", err)
			_ = k.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
			return nil, nil, nil
		}
		if rec.Owner != k.n.name && rec.Owner != "" && !released {
			released = true
			var ok bool
			if handed, ok = k.release(ctx, rec.Owner, clientID); ok {
				continue // it wrote its last state: read it again
			}
		}
		if clean {
			if err := k.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
				if isWrongRevision(err) {
					continue
				}
				return nil, nil, k.claimErr(err)
			}
			k.mu.Lock()
			delete(k.owned, clientID)
			k.mu.Unlock()
			return nil, nil, nil
		}
		mine := rec.Owner == k.n.name
		rec.Owner = k.n.name
		handed.acked = append(handed.acked, rec.Acked...)
		rec.Acked = nil
		b, _ := json.Marshal(rec)
		rev, err := k.kv.Update(ctx, key, b, e.Revision())
		if err != nil {
			if isWrongRevision(err) {
				continue
			}
			return nil, nil, k.claimErr(err)
		}
		k.mu.Lock()
		k.owned[clientID] = &ownedSession{rev: rev, latest: rec.Session, since: rec.Since}
		k.mu.Unlock()
		if mine && local {
			return nil, nil, nil // this node's copy is the current one
		}
		return rec.Session, k.replay(clientID, rec.Session.Subscriptions, rec.Since, handed), nil
	}
	return nil, nil, k.claimErr(errors.New("the session record kept changing"))
}

// createRecord makes the record of a new session owned by this node; its
// first write (from the broker's journal) fills it in.
func (k *keeper) createRecord(ctx context.Context, clientID string) error {
	now := time.Now()
	sess := &store.Session{ClientID: clientID}
	b, _ := json.Marshal(sessionRecord{Owner: k.n.name, Since: now, Session: sess})
	rev, err := k.kv.Create(ctx, sessionKey(clientID), b)
	if err != nil {
		return err
	}
	k.mu.Lock()
	if o := k.owned[clientID]; o != nil && o.latest != nil {
		o.rev, o.since = rev, now // already mirrored: the saver writes it
	} else {
		k.owned[clientID] = &ownedSession{rev: rev, latest: sess, since: now}
	}
	k.mu.Unlock()
	return nil
}

func (k *keeper) claimErr(err error) error {
	if k.policy == PartitionAvailable {
		k.n.log.Warn("cluster: session not claimed; going on with this node's copy (partition: available)", "err", err)
		return nil
	}
	return err
}

// isWrongRevision reports a compare-and-set conflict (replicated
// streams report it as 10164, single ones as 10071).
func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
		(errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant))
}

// release asks owner to hand clientID's session over; false when the
// owner did not answer (it is gone: the record is all there is).
func (k *keeper) release(ctx context.Context, owner, clientID string) (handover, bool) {
	rctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	reply, err := k.n.nc.RequestWithContext(rctx, releaseRoot+owner, []byte(clientID))
	if err != nil {
		k.n.log.Info("cluster: owner of a session did not answer; taking it over from its record",
			"client", clientID, "owner", owner, "err", err)
		return handover{}, false
	}
	h, err := decodeHandover(reply.Data)
	if err != nil {
		k.n.log.Warn("cluster: malformed session handover", "client", clientID, "owner", owner, "err", err)
	}
	return h, true
}

// handover is what a node gives with a session it releases: the ids of
// the messages its client acknowledged last, and the messages queued or
// in flight (which the log may not hold, if they were published before
// the publishing node knew of the session).
type handover struct {
	acked   []uint64
	pending []broker.RemoteMessage
}

// maxHandover bounds a handover's size; pending messages beyond it are
// left to the log.
const maxHandover = 7 << 20

// Handover: uvarint n | n × 8-byte id | then each pending message:
// uvarint len + topic | 8-byte id | 8-byte received (Unix ns) |
// uvarint len + envelope.
func encodeHandover(cp broker.Checkpoint) []byte {
	b := binary.AppendUvarint(nil, uint64(len(cp.Acked)))
	for _, id := range cp.Acked {
		b = binary.LittleEndian.AppendUint64(b, id)
	}
	var env []byte
	for _, m := range cp.Pending {
		env = appendEnvelope(env[:0], m.Origin, 0, 0, m)
		if len(b)+len(env)+len(m.Topic)+32 > maxHandover {
			break
		}
		b = binary.AppendUvarint(b, uint64(len(m.Topic)))
		b = append(b, m.Topic...)
		b = binary.LittleEndian.AppendUint64(b, m.ID)
		b = binary.LittleEndian.AppendUint64(b, uint64(m.Received.UnixNano()))
		b = binary.AppendUvarint(b, uint64(len(env)))
		b = append(b, env...)
	}
	return b
}

func decodeHandover(b []byte) (handover, error) {
	var h handover
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b))/8 {
		return h, errEnvelope
	}
	b = b[k:]
	for range n {
		h.acked = append(h.acked, binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	for len(b) > 0 {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return h, errEnvelope
		}
		topic := string(b[k : k+int(l)])
		b = b[k+int(l):]
		if len(b) < 16 {
			return h, errEnvelope
		}
		id := binary.LittleEndian.Uint64(b)
		received := time.Unix(0, int64(binary.LittleEndian.Uint64(b[8:])))
		b = b[16:]
		l, k = binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return h, errEnvelope
		}
		m, _, _, err := decodeEnvelope(b[k : k+int(l)])
		if err != nil {
			return h, err
		}
		b = b[k+int(l):]
		m.Topic, m.ID, m.Received = topic, id, received
		h.pending = append(h.pending, m)
	}
	return h, nil
}

// onRelease hands a session over to the node that asks: it writes the
// session's last state and checkpoint, then ends the local copy.
func (k *keeper) onRelease(msg *nats.Msg) {
	go func() {
		clientID := string(msg.Data)
		srv := k.server()
		var cp broker.Checkpoint
		held := false
		if srv != nil {
			cp, held = k.checkpoint(srv, clientID, true)
		}
		since := cp.Since
		k.mu.Lock()
		o := k.owned[clientID]
		delete(k.owned, clientID)
		delete(k.dirty, clientID)
		k.mu.Unlock()
		if held {
			srv.ReleaseSession(clientID)
		}
		if o != nil && o.latest != nil && k.ready.Load() {
			if !held {
				since = o.since
			}
			rec := sessionRecord{Owner: "", Since: since, Session: o.latest} // no owner until claimed
			b, _ := json.Marshal(rec)
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			_, err := k.kv.Update(ctx, sessionKey(clientID), b, o.rev)
			cancel()
			if err != nil {
				k.n.log.Warn("cluster: last state of a released session not written", "client", clientID, "err", err)
			}
		}
		_ = msg.Respond(encodeHandover(cp))
	}()
}

// Mirror implements broker.SessionKeeper: the writes go to the bucket
// from the saver, latest state first.
func (k *keeper) Mirror(ops []store.Op) {
	k.mu.Lock()
	for _, op := range ops {
		id := op.ClientID
		if op.Kind == store.PutSession {
			id = op.Session.ClientID
		}
		o := k.owned[id]
		if o == nil {
			o = &ownedSession{}
			k.owned[id] = o
		}
		if op.Kind == store.PutSession {
			o.latest = op.Session
		} else {
			o.latest = nil
		}
		k.dirty[id] = true
	}
	k.mu.Unlock()
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// saver writes the dirty records, each with the revision this node
// last saw, so that a node that lost a session cannot overwrite it.
func (k *keeper) saver() {
	for {
		select {
		case <-k.n.quit:
			return
		case <-k.wake:
		}
		for !k.ready.Load() {
			select {
			case <-k.n.quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		k.mu.Lock()
		ids := make([]string, 0, len(k.dirty))
		for id := range k.dirty {
			ids = append(ids, id)
		}
		clear(k.dirty)
		k.mu.Unlock()
		for _, id := range ids {
			k.save(id)
		}
	}
}

// save writes one session's record (or deletes it).
func (k *keeper) save(id string) {
	k.mu.Lock()
	o := k.owned[id]
	if o == nil {
		k.mu.Unlock()
		return
	}
	latest, rev := o.latest, o.rev
	since := o.since
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	key := sessionKey(id)
	var err error
	var newRev uint64
	switch {
	case latest == nil && rev == 0:
		return
	case latest == nil:
		err = k.kv.Delete(ctx, key, jetstream.LastRevision(rev))
	default:
		if since.IsZero() {
			since = time.Now()
		}
		b, _ := json.Marshal(sessionRecord{Owner: k.n.name, Since: since, Session: latest})
		if rev == 0 {
			newRev, err = k.kv.Create(ctx, key, b)
		} else {
			newRev, err = k.kv.Update(ctx, key, b, rev)
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	cur := k.owned[id]
	if cur != o {
		return // claimed or released meanwhile
	}
	switch {
	case err == nil && latest == nil:
		delete(k.owned, id)
	case err == nil:
		o.rev = newRev
		o.since = since
	case isWrongRevision(err):
		// Another node has the session now: this copy is stale.
		delete(k.owned, id)
		k.n.log.Info("cluster: session owned by another node; dropping this node's copy", "client", id)
		if srv := k.server(); srv != nil {
			go srv.ReleaseSession(id)
		}
	default:
		k.n.log.Warn("cluster: session record not written; will retry", "client", id, "err", err)
		k.dirty[id] = true
		go func() {
			time.Sleep(time.Second)
			select {
			case k.wake <- struct{}{}:
			default:
			}
		}()
	}
}

// checkpoints records, for the sessions this node owns that received
// messages, how far their clients have acknowledged, so that a takeover
// replays little.
func (k *keeper) checkpoints() {
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-k.n.quit:
			return
		case <-t.C:
		}
		srv := k.server()
		if srv == nil {
			continue
		}
		k.mu.Lock()
		ids := make([]string, 0, len(k.owned))
		for id := range k.owned {
			ids = append(ids, id)
		}
		k.mu.Unlock()
		woke := false
		for _, id := range ids {
			cp, ok := k.checkpoint(srv, id, false)
			if !ok {
				continue
			}
			since, activity := cp.Since, cp.Activity
			k.mu.Lock()
			o := k.owned[id]
			if o != nil && o.latest != nil && o.activity != activity && since.Sub(o.since) >= checkpointEvery {
				o.activity = activity
				o.since = since
				k.dirty[id] = true
				woke = true
			}
			k.mu.Unlock()
		}
		if woke {
			select {
			case k.wake <- struct{}{}:
			default:
			}
		}
	}
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

// leave writes, as the node leaves the cluster in order, each session's
// last checkpoint with no owner, so that the node its client goes to
// replays from there (the messages are in the log) instead of from an
// older checkpoint. Bounded: a node that cannot write leaves anyway.
func (k *keeper) leave() {
	srv := k.server()
	if srv == nil || !k.ready.Load() {
		return
	}
	k.mu.Lock()
	ids := make([]string, 0, len(k.owned))
	for id := range k.owned {
		ids = append(ids, id)
	}
	k.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for _, id := range ids {
		if time.Now().After(deadline) {
			k.n.log.Warn("cluster: leaving before every session's checkpoint was written", "left", len(ids))
			return
		}
		cp, ok := k.checkpoint(srv, id, false)
		k.mu.Lock()
		o := k.owned[id]
		k.mu.Unlock()
		if !ok || o == nil || o.latest == nil || o.rev == 0 {
			continue
		}
		b, _ := json.Marshal(sessionRecord{Owner: "", Since: cp.Since, Session: o.latest, Acked: cp.Acked})
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		_, err := k.kv.Update(ctx, sessionKey(id), b, o.rev)
		cancel()
		if err != nil {
			k.n.log.Warn("cluster: last checkpoint of a session not written", "client", id, "err", err)
		}
	}
}

// orphanGrace is how long a session's owner must be missing from the
// cluster before another node adopts the session.
const orphanGrace = 3 * time.Second

// orphans adopts the sessions whose owner has left the cluster (or that
// were released to a node that never claimed them): one surviving node
// wins each by compare-and-set and holds it as an offline session, so
// that its will is published once, after its delay, its expiry runs, and
// its queue fills from the log until its client comes back.
func (k *keeper) orphans() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	missing := make(map[string]time.Time) // session key -> first seen orphaned
	for {
		select {
		case <-k.n.quit:
			return
		case <-t.C:
		}
		if !k.n.ns.JetStreamIsCurrent() {
			continue // cut off from the quorum: adopt nothing
		}
		live := k.liveNodes()
		now := time.Now()
		var due []string
		k.pmu.Lock()
		for key, owner := range k.owners {
			if owner != "" && live[owner] {
				delete(missing, key)
				continue
			}
			first, ok := missing[key]
			if !ok {
				missing[key] = now
			} else if now.Sub(first) >= orphanGrace {
				due = append(due, key)
			}
		}
		for key := range missing {
			if _, ok := k.owners[key]; !ok {
				delete(missing, key)
			}
		}
		k.pmu.Unlock()
		for _, key := range due {
			delete(missing, key)
			k.adopt(key, live)
		}
	}
}

// liveNodes is this node and the nodes it has routes to.
func (k *keeper) liveNodes() map[string]bool {
	live := map[string]bool{k.n.name: true}
	if rz, err := k.n.ns.Routez(&server.RoutezOptions{}); err == nil {
		for _, r := range rz.Routes {
			live[r.RemoteName] = true
		}
	}
	return live
}

// adopt claims an orphaned session for this node.
func (k *keeper) adopt(key string, live map[string]bool) {
	srv := k.server()
	clientID, ok := keyClient(key)
	if srv == nil || !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	e, err := k.kv.Get(ctx, key)
	if err != nil {
		return
	}
	var rec sessionRecord
	if json.Unmarshal(e.Value(), &rec) != nil || rec.Session == nil || (rec.Owner != "" && live[rec.Owner]) {
		return
	}
	from := rec.Owner
	rec.Owner = k.n.name
	b, _ := json.Marshal(rec)
	rev, err := k.kv.Update(ctx, key, b, e.Revision())
	if err != nil {
		return // another node was quicker, or no quorum
	}
	k.mu.Lock()
	k.owned[clientID] = &ownedSession{rev: rev, latest: rec.Session, since: rec.Since}
	k.mu.Unlock()
	k.n.log.Info("cluster: adopted the session of "+clientID+" from a node that left", "from", from)
	srv.Adopt(rec.Session, k.replay(clientID, rec.Session.Subscriptions, rec.Since, handover{}))
}

// reconcile drops, once the bucket is readable, the local sessions that
// another node has taken over while this one was away, and adopts the
// rest as this node's.
func (k *keeper) reconcile() {
	srv := k.server()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*opTimeout)
	defer cancel()
	for _, id := range srv.PersistentSessions() {
		local, ok := srv.SessionRecord(id)
		if !ok {
			continue
		}
		e, err := k.kv.Get(ctx, sessionKey(id))
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			k.mu.Lock()
			k.owned[id] = &ownedSession{latest: local}
			k.dirty[id] = true
			k.mu.Unlock()
		case err != nil:
			k.n.log.Warn("cluster: checking a restored session", "client", id, "err", err)
		default:
			var rec sessionRecord
			if json.Unmarshal(e.Value(), &rec) == nil && rec.Owner == k.n.name {
				k.mu.Lock()
				k.owned[id] = &ownedSession{rev: e.Revision(), latest: local, since: rec.Since}
				k.dirty[id] = true
				k.mu.Unlock()
				continue
			}
			srv.ReleaseSession(id)
		}
	}
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// replay returns what delivers, to a session taken over, the messages
// its former node handed over, then the log's messages for its
// subscriptions since its checkpoint, but for those its client
// acknowledged there. It returns at once; the replay goes on in the
// background, retrying while the log has no leader (as just after a node
// is lost), for up to replayFor.
func (k *keeper) replay(clientID string, subs []store.Subscription, since time.Time, h handover) func(func(broker.RemoteMessage)) {
	var filters, subjects []string
	for _, s := range subs {
		if _, _, shared := topic.ParseShared(s.Filter); shared || s.QoS == 0 {
			continue
		}
		filters = append(filters, s.Filter)
		for _, subj := range FilterSubjects(s.Filter) {
			subjects = append(subjects, logRoot+subj)
		}
	}
	if len(filters) == 0 && len(h.pending) == 0 {
		return nil
	}
	if overlapping(subjects) {
		subjects = []string{logRoot + ">"} // and match here
	}
	skipped := make(map[uint64]bool, len(h.acked))
	for _, id := range h.acked {
		skipped[id] = true
	}
	return func(deliver func(broker.RemoteMessage)) {
		for _, m := range h.pending {
			deliver(m)
		}
		if len(filters) == 0 {
			return
		}
		// Until the replay is done, the session's checkpoint stays at
		// its start: a node that takes the session meanwhile must
		// replay from there too.
		k.holdCheckpoint(clientID, since, 1)
		go func() {
			defer k.holdCheckpoint(clientID, since, -1)
			filtered := func(m broker.RemoteMessage) {
				if !skipped[m.ID] {
					deliver(m)
				}
			}
			deadline := time.Now().Add(replayFor)
			var from uint64 // the last log sequence read
			total := 0
			for attempt := 1; ; attempt++ {
				n, err := k.replayLog(subjects, filters, since, &from, filtered)
				total += n
				if err == nil {
					if total > 0 {
						k.n.log.Info(fmt.Sprintf("cluster: replayed %d messages into a session taken over", total))
					}
					return
				}
				if time.Now().After(deadline) {
					k.n.log.Error("cluster: replaying a session's messages failed; some may be missing", "err", err, "attempts", attempt)
					return
				}
				k.n.log.Info("cluster: replaying a session's messages; retrying", "err", err, "attempt", attempt)
				select {
				case <-k.n.quit:
					return
				case <-time.After(time.Duration(min(attempt, 10)) * 200 * time.Millisecond):
				}
			}
		}()
	}
}

type heldCheckpoint struct {
	since time.Time
	n     int
}

// holdCheckpoint adds (delta 1) or drops (-1) a replay from since.
func (k *keeper) holdCheckpoint(clientID string, since time.Time, delta int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	h := k.held[clientID]
	switch {
	case delta > 0 && h == nil:
		k.held[clientID] = &heldCheckpoint{since: since, n: 1}
	case delta > 0:
		h.n++
		if since.Before(h.since) {
			h.since = since
		}
	case h != nil && h.n <= 1:
		delete(k.held, clientID)
	case h != nil:
		h.n--
	}
}

// checkpoint is a session's checkpoint on this node, held back while a
// replay into it runs.
func (k *keeper) checkpoint(srv *broker.Server, clientID string, pending bool) (broker.Checkpoint, bool) {
	cp, ok := srv.SessionCheckpoint(clientID, pending)
	k.mu.Lock()
	if h := k.held[clientID]; h != nil && h.since.Before(cp.Since) {
		cp.Since = h.since
	}
	k.mu.Unlock()
	return cp, ok
}

// replayFor bounds the retries of a replay.
const replayFor = 2 * time.Minute

func (k *keeper) replayLog(subjects, filters []string, since time.Time, from *uint64, deliver func(broker.RemoteMessage)) (int, error) {
	// Short requests: while the log elects a leader they go unanswered,
	// and the caller is better off trying again soon.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	// A consumer lost with its stream's leader is remade a few times,
	// then Fetch fails and the caller starts again from where it got.
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverAllPolicy, MaxResetAttempts: 3}
	switch {
	case *from > 0: // an earlier attempt got this far
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = *from + 1
	case !since.IsZero():
		start := since.Add(-replayMargin)
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &start
	}
	cons, err := k.js.OrderedConsumer(ctx, logStream, cfg)
	if err != nil {
		return 0, err
	}
	// Read to the end, then on until replaySettle has passed with
	// nothing new: just after a node is lost, the log's new leader may
	// still be applying entries it had agreed to. Live copies of what
	// comes meanwhile are dropped by the broker (same id). A consumer
	// that says it has messages but gives none is stalled (made during
	// a change of leader): the caller tries again with a new one.
	start := time.Now()
	n, stalls := 0, 0
	for {
		ictx, icancel := context.WithTimeout(context.Background(), 3*time.Second)
		info, err := cons.Info(ictx)
		icancel()
		if err != nil {
			return n, err
		}
		if info.NumPending == 0 && time.Since(start) >= replaySettle {
			return n, nil
		}
		batch, err := cons.Fetch(int(min(max(info.NumPending, 1), 256)), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return n, err
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			m, epoch, seq, err := decodeEnvelope(msg.Data())
			if md, err := msg.Metadata(); err == nil {
				m.Received = md.Timestamp
				*from = md.Sequence.Stream
			}
			if err != nil {
				continue
			}
			m.ID = messageID(epoch, seq)
			t, ok := SubjectTopic(strings.TrimPrefix(msg.Subject(), logRoot))
			if !ok || !matchesAny(filters, t) {
				continue
			}
			m.Topic = t
			deliver(m)
			n++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return n, err
		}
		if got > 0 || info.NumPending == 0 {
			stalls = 0
		} else if stalls++; stalls >= 3 {
			return n, errors.New("cluster: log consumer stalled")
		}
	}
}

// replaySettle is how long a replay goes on reading the log after it
// has caught up.
const replaySettle = 3 * time.Second

func matchesAny(filters []string, name string) bool {
	for _, f := range filters {
		if topic.Match(f, name) {
			return true
		}
	}
	return false
}

// overlapping reports whether two subjects share a message (a consumer's
// filters must not).
func overlapping(subjects []string) bool {
	for i := range subjects {
		for j := i + 1; j < len(subjects); j++ {
			if server.SubjectsCollide(subjects[i], subjects[j]) {
				return true
			}
		}
	}
	return false
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
