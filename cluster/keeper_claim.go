package cluster

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/store"
)

// This file: where a session lives (claims, releases, the records a
// node writes for the sessions it owns, their checkpoints).

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
