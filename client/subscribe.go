package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/topic"
)

// SubscribeRequest is a SUBSCRIBE with its handler and v5 properties.
type SubscribeRequest struct {
	// Subscriptions are the filters with their options (QoS; v5 No Local,
	// Retain As Published, Retain Handling). "$share/{group}/{filter}"
	// subscribes to a shared subscription.
	Subscriptions []packet.Subscription
	// Handler receives the messages that match these filters; nil sends
	// them to Options.OnMessage.
	Handler Handler
	// ID is the v5 Subscription Identifier (1 to 268435455), 0 for none;
	// received messages carry it in Properties.SubscriptionIDs.
	ID uint32
	// User are v5 user properties.
	User []packet.UserProperty
}

// subEntry is a granted subscription, renewed when a new session starts.
type subEntry struct {
	sub  packet.Subscription
	id   uint32
	user []packet.UserProperty
}

// request is a SUBSCRIBE or UNSUBSCRIBE awaiting its acknowledgement.
type request struct {
	sub    *SubscribeRequest // SUBSCRIBE
	routes []*route          // routes installed for sub, by filter index
	unsub  []string          // UNSUBSCRIBE
	was    []*route          // routes current when UNSUBSCRIBE was sent
	resub  bool              // sent by the client to renew subscriptions
	done   chan ackResult    // buffered; nil for resub
}

type ackResult struct {
	pkt packet.Packet // *Suback or *Unsuback
	err error
}

func (r *request) fail(err error) {
	if r.done != nil {
		r.done <- ackResult{err: err}
	}
}

// Subscribe subscribes to subs with handler and returns the SUBACK. Each
// message matching one of the filters is handed to handler (see
// SubscribeWith).
func (c *Client) Subscribe(ctx context.Context, handler Handler, subs ...packet.Subscription) (*packet.Suback, error) {
	return c.SubscribeWith(ctx, &SubscribeRequest{Subscriptions: subs, Handler: handler})
}

// SubscribeWith sends one SUBSCRIBE and waits for its SUBACK. If the server
// refuses a filter, the SUBACK is returned with a *ReasonError naming the
// first refused filter; the granted ones stand.
//
// Handlers are chosen by filter: a message goes to the handler of every
// filter it matches (the last Subscribe to a filter sets its handler), or
// to Options.OnMessage if none matches. Granted subscriptions are renewed
// automatically when the client reconnects to a server that has lost the
// session.
func (c *Client) SubscribeWith(ctx context.Context, r *SubscribeRequest) (*packet.Suback, error) {
	if len(r.Subscriptions) == 0 {
		return nil, errors.New("client: subscribe: no filter")
	}
	v := c.opts.Version
	for _, s := range r.Subscriptions {
		if err := topic.ValidateFilter(s.Filter); err != nil {
			return nil, fmt.Errorf("client: subscribe %q: %w", s.Filter, err)
		}
		if s.QoS > 2 || s.RetainHandling > 2 {
			return nil, fmt.Errorf("client: subscribe %q: QoS %d, retain handling %d", s.Filter, s.QoS, s.RetainHandling)
		}
		if v < packet.Version5 && (s.NoLocal || s.RetainAsPublished || s.RetainHandling != 0) {
			return nil, fmt.Errorf("client: subscribe %q: subscription options need MQTT 5", s.Filter)
		}
	}
	if v < packet.Version5 && (r.ID != 0 || len(r.User) > 0) {
		return nil, errors.New("client: subscribe: subscription identifiers and user properties need MQTT 5")
	}
	if r.ID > packet.MaxRemainingLength {
		return nil, fmt.Errorf("client: subscribe: subscription identifier %d", r.ID)
	}
	req := &request{sub: r, done: make(chan ackResult, 1)}
	c.mu.Lock()
	if c.state != stateConnected {
		c.mu.Unlock()
		return nil, ErrNotConnected
	}
	id := c.ids.alloc()
	if id == 0 {
		c.mu.Unlock()
		return nil, errors.New("client: subscribe: all packet identifiers in use")
	}
	// Install the handlers before sending: matching messages (retained
	// ones first of all) may arrive right behind the SUBACK.
	for _, s := range r.Subscriptions {
		req.routes = append(req.routes, c.setRoute(s.Filter, r.Handler))
	}
	p := subscribePacket(id, r.Subscriptions, r.ID, r.User)
	c.requests[id] = req
	c.logSubscribe(v, p)
	if err := c.conn.send(p, nil); err != nil {
		delete(c.requests, id)
		c.ids.free(id)
		c.mu.Unlock()
		for _, rt := range req.routes {
			if rt != nil {
				c.dropRoute(rt)
			}
		}
		return nil, err
	}
	c.mu.Unlock()
	select {
	case res := <-req.done:
		sa, _ := res.pkt.(*packet.Suback)
		return sa, res.err
	case <-ctx.Done():
		// The SUBACK, when it comes, still updates handlers and the
		// subscriptions to renew.
		return nil, ctx.Err()
	}
}

func subscribePacket(id uint16, subs []packet.Subscription, subID uint32, user []packet.UserProperty) *packet.Subscribe {
	p := &packet.Subscribe{PacketID: id, Subscriptions: subs}
	if subID != 0 {
		p.Properties.SubscriptionIDs = []uint32{subID}
	}
	p.Properties.User = user
	return p
}

// onSuback completes a SUBSCRIBE, on the reader goroutine.
func (c *Client) onSuback(cn *conn, sa *packet.Suback) {
	c.mu.Lock()
	req := c.requests[sa.PacketID]
	if req == nil || req.sub == nil {
		c.mu.Unlock()
		c.logf("Unexpected SUBACK (Mid: %d)", sa.PacketID)
		return
	}
	delete(c.requests, sa.PacketID)
	c.ids.free(sa.PacketID)
	var firstErr error
	var failed []*route
	for i, s := range req.sub.Subscriptions {
		code := packet.UnspecifiedError
		if i < len(sa.ReasonCodes) {
			code = sa.ReasonCodes[i]
		}
		if code >= 0x80 {
			if firstErr == nil {
				firstErr = &ReasonError{Packet: packet.SUBACK, Version: cn.version, Code: code,
					Reason: sa.Properties.ReasonString, Filter: s.Filter}
			}
			if req.resub {
				c.logf("Renewing the subscription to %q failed: %s", s.Filter, ReasonText(cn.version, packet.SUBACK, code))
				delete(c.subs, s.Filter)
			}
			if i < len(req.routes) && req.routes[i] != nil {
				failed = append(failed, req.routes[i])
			}
			continue
		}
		if !req.resub {
			c.subs[s.Filter] = &subEntry{sub: s, id: req.sub.ID, user: req.sub.User}
		}
	}
	c.mu.Unlock()
	if len(failed) > 0 {
		c.dq.push(item{fn: func() {
			for _, r := range failed {
				c.dropRoute(r)
			}
		}})
	}
	if req.done != nil {
		req.done <- ackResult{pkt: sa, err: firstErr}
	}
}

// resubscribe renews the granted subscriptions on a new session, grouped
// into as few SUBSCRIBE packets as their properties allow. c.mu held.
func (c *Client) resubscribe(cn *conn) {
	if len(c.subs) == 0 {
		return
	}
	entries := make([]*subEntry, 0, len(c.subs))
	for _, e := range c.subs {
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].sub.Filter < entries[j].sub.Filter })
	for len(entries) > 0 {
		first := entries[0]
		group := &SubscribeRequest{ID: first.id, User: first.user}
		rest := entries[:0:0]
		for _, e := range entries {
			if e.id == first.id && slices.Equal(e.user, first.user) && len(group.Subscriptions) < 100 {
				group.Subscriptions = append(group.Subscriptions, e.sub)
			} else {
				rest = append(rest, e)
			}
		}
		entries = rest
		id := c.ids.alloc()
		if id == 0 {
			return
		}
		p := subscribePacket(id, group.Subscriptions, group.ID, group.User)
		c.requests[id] = &request{sub: group, resub: true}
		c.logSubscribe(cn.version, p)
		if cn.send(p, nil) != nil {
			delete(c.requests, id)
			c.ids.free(id)
			return
		}
	}
}

// Unsubscribe sends one UNSUBSCRIBE for filters and waits for its
// UNSUBACK. A v5 server's refusal of a filter comes back as a *ReasonError
// beside the UNSUBACK ("no subscription existed" is not a refusal). The
// filters' handlers are removed once the messages received before the
// UNSUBACK have been delivered.
func (c *Client) Unsubscribe(ctx context.Context, filters ...string) (*packet.Unsuback, error) {
	if len(filters) == 0 {
		return nil, errors.New("client: unsubscribe: no filter")
	}
	for _, f := range filters {
		if err := topic.ValidateFilter(f); err != nil {
			return nil, fmt.Errorf("client: unsubscribe %q: %w", f, err)
		}
	}
	req := &request{unsub: filters, done: make(chan ackResult, 1)}
	c.mu.Lock()
	if c.state != stateConnected {
		c.mu.Unlock()
		return nil, ErrNotConnected
	}
	id := c.ids.alloc()
	if id == 0 {
		c.mu.Unlock()
		return nil, errors.New("client: unsubscribe: all packet identifiers in use")
	}
	c.routesMu.RLock()
	for _, f := range filters {
		req.was = append(req.was, c.routes[f])
	}
	c.routesMu.RUnlock()
	p := &packet.Unsubscribe{PacketID: id, Filters: filters}
	c.requests[id] = req
	c.logUnsubscribe(p)
	if err := c.conn.send(p, nil); err != nil {
		delete(c.requests, id)
		c.ids.free(id)
		c.mu.Unlock()
		return nil, err
	}
	c.mu.Unlock()
	select {
	case res := <-req.done:
		ua, _ := res.pkt.(*packet.Unsuback)
		return ua, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// onUnsuback completes an UNSUBSCRIBE, on the reader goroutine.
func (c *Client) onUnsuback(cn *conn, ua *packet.Unsuback) {
	c.mu.Lock()
	req := c.requests[ua.PacketID]
	if req == nil || req.unsub == nil {
		c.mu.Unlock()
		c.logf("Unexpected UNSUBACK (Mid: %d)", ua.PacketID)
		return
	}
	delete(c.requests, ua.PacketID)
	c.ids.free(ua.PacketID)
	var firstErr error
	var gone []int
	for i, f := range req.unsub {
		code := packet.Success // 3.1.1 UNSUBACK carries no codes
		if cn.version == packet.Version5 && i < len(ua.ReasonCodes) {
			code = ua.ReasonCodes[i]
		}
		if code >= 0x80 {
			if firstErr == nil {
				firstErr = &ReasonError{Packet: packet.UNSUBACK, Version: cn.version, Code: code,
					Reason: ua.Properties.ReasonString, Filter: f}
			}
			continue
		}
		delete(c.subs, f)
		gone = append(gone, i)
	}
	c.mu.Unlock()
	if len(gone) > 0 {
		c.dq.push(item{fn: func() {
			for _, i := range gone {
				c.dropFilter(req.unsub[i], req.was[i])
			}
		}})
	}
	req.done <- ackResult{pkt: ua, err: firstErr}
}
