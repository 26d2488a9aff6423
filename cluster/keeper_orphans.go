package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// This file: nodes that leave or are lost, and their sessions.

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
