package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/topic"
)

// This file: the log of messages kept for persistent sessions, its
// replays, and retained messages.

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
// A load that fails or stops short (a consumer made during a change of
// leader) is tried again, a few times.
func (k *keeper) loadRetained() {
	for attempt := 1; attempt <= 5; attempt++ {
		err := k.loadRetainedOnce()
		if err == nil {
			return
		}
		k.n.log.Warn("cluster: reading the retained messages", "err", err, "attempt", attempt)
		select {
		case <-k.n.quit:
			return
		case <-time.After(time.Second):
		}
	}
}

func (k *keeper) loadRetainedOnce() error {
	srv := k.server()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cons, err := k.js.OrderedConsumer(ctx, retainedStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{keptRoot + ">"}, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy, MaxResetAttempts: 3,
	})
	if err != nil {
		return err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return err
	}
	want := info.NumPending
	n := 0
	for pending := info.NumPending; pending > 0; {
		batch, err := cons.Fetch(int(min(pending, 1024)), jetstream.FetchMaxWait(opTimeout))
		if err != nil {
			return err
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
	if uint64(n) < want {
		return fmt.Errorf("cluster: %d of %d retained messages read", n, want)
	}
	return nil
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
		// Until the replay is done, the session's checkpoint stays at
		// its start: a node that takes the session meanwhile must
		// replay from there too. The replay runs beside the
		// connection, which must go on reading acknowledgements for
		// the session's queue to drain.
		k.holdCheckpoint(clientID, since, 1)
		go func() {
			defer k.holdCheckpoint(clientID, since, -1)
			for _, m := range h.pending {
				deliver(m)
			}
			if len(filters) == 0 {
				return
			}
			filtered := func(m broker.RemoteMessage) {
				if !skipped[m.ID] {
					deliver(m)
				}
			}
			// Every node must know of the session's subscriptions here
			// before the fence: from then on they deliver to it live.
			k.n.syncPeers()
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
	// Live copies of what comes meanwhile are dropped by the broker
	// (same id). A consumer that says it has messages but gives none is
	// stalled (made during a change of leader): the caller tries again
	// with a new one.
	// A fence: once the log's leader has stored it, every entry agreed
	// before is in the stream (a new leader applies what it agreed to
	// before it stores anything new), so reading until nothing is
	// pending after the fence reads everything the session missed.
	fctx, fcancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, err = k.js.Publish(fctx, logRoot+"fence."+k.n.name, nil)
	fcancel()
	if err != nil {
		return 0, err
	}
	fenced := time.Now()
	n, stalls := 0, 0
	for {
		ictx, icancel := context.WithTimeout(context.Background(), 3*time.Second)
		info, err := cons.Info(ictx)
		icancel()
		if err != nil {
			return n, err
		}
		// On past the fence: a message whose publisher sent it to the
		// log before learning of the session's new node may reach the
		// log later (resent after a lost leader).
		if info.NumPending == 0 && time.Since(fenced) >= replaySettle {
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

// replaySettle is how long a replay reads on after its fence: as long
// as a publisher's node may go on resending a message to the log (its
// first try may have gone to a leader that was lost), so that a message
// acknowledged to its publisher is in the log before the replay ends.
const replaySettle = keepTimeout + time.Second

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
