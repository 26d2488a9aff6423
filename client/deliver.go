package client

import (
	"sync"

	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/topic"
)

// The delivery goroutine runs handlers and callbacks one at a time, in the
// order the reader received what triggers them, and sends the
// acknowledgements that must follow the handler: PUBACK and PUBREC in the
// order the PUBLISH packets arrived [MQTT-4.6.0-2] [MQTT-4.6.0-3], PUBCOMP
// after the PUBREC it answers. The queue is unbounded so that the reader
// never blocks on a handler (a handler may publish at QoS 1 and wait for a
// PUBACK that only the reader can receive); QoS 1 and 2 messages are
// bounded by the Receive Maximum, because they are acknowledged only once
// handled.

// item is one unit of work for the delivery goroutine.
type item struct {
	msg *Message    // a message to hand to its handlers
	cn  *conn       // the connection to acknowledge on
	ack packet.Type // PUBACK or PUBREC to send after the handlers, or 0
	id  uint16      // packet identifier for ack or rel
	rel bool        // a PUBREL: forget id, send PUBCOMP
	fn  func()      // a callback
}

type deliveryQueue struct {
	mu      sync.Mutex
	items   []item
	wake    chan struct{}
	running bool
	drain   bool // exit once empty
	halt    bool // exit before the next item
	busy    bool // running an item
	done    chan struct{}
}

// start arms the queue and reports whether a goroutine must be started
// (false when one is still running, which is then reused).
func (q *deliveryQueue) start() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.drain, q.halt = false, false
	if q.running {
		return false
	}
	if q.wake == nil {
		q.wake = make(chan struct{}, 1)
	}
	q.running = true
	q.done = make(chan struct{})
	return true
}

func (q *deliveryQueue) push(it item) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// stopDrain lets the goroutine finish what is queued, then exit.
func (q *deliveryQueue) stopDrain() {
	q.mu.Lock()
	q.drain = true
	q.mu.Unlock()
	q.signal()
}

// stopNow drops what is queued; the goroutine exits after the item it is
// running, if any. It returns the channel closed on exit (nil if no
// goroutine runs) and whether an item was running: then the caller may be
// that item's callback and must not wait.
func (q *deliveryQueue) stopNow() (done <-chan struct{}, busy bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.running {
		return nil, false
	}
	q.halt = true
	clear(q.items)
	q.items = q.items[:0]
	q.signal()
	return q.done, q.busy
}

func (q *deliveryQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next blocks for the next item; ok is false when the goroutine must exit.
func (q *deliveryQueue) next() (it item, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.busy = false
	for len(q.items) == 0 && !q.halt && !q.drain {
		q.mu.Unlock()
		<-q.wake
		q.mu.Lock()
	}
	if q.halt || len(q.items) == 0 {
		q.running = false
		clear(q.items)
		q.items = q.items[:0]
		close(q.done)
		return item{}, false
	}
	it = q.items[0]
	q.items[0] = item{}
	q.items = q.items[1:]
	if len(q.items) == 0 {
		q.items = q.items[:0:0] // let the backing array go
	}
	q.busy = true
	return it, true
}

func (c *Client) deliverLoop() {
	for {
		it, ok := c.dq.next()
		if !ok {
			return
		}
		switch {
		case it.fn != nil:
			it.fn()
		case it.rel:
			// The identifier is released when PUBREL arrives, and PUBCOMP
			// answers it [MQTT-4.3.3-12]; a PUBLISH with it is new
			// afterwards [MQTT-4.3.3-13].
			c.mu.Lock()
			delete(c.inQoS2, it.id)
			c.mu.Unlock()
			it.cn.sendAck(packet.PUBCOMP, it.id)
		default:
			if it.msg != nil {
				c.dispatch(it.msg)
			}
			if it.ack != 0 {
				it.cn.sendAck(it.ack, it.id)
			}
		}
	}
}

// route is a handler for the messages matching one subscription filter.
type route struct {
	filter  string // as subscribed, $share prefix included
	match   string // the filter messages are matched against
	handler Handler
}

func newRoute(filter string, h Handler) *route {
	_, inner, _ := topic.ParseShared(filter)
	return &route{filter: filter, match: inner, handler: h}
}

// dispatch hands m to every handler whose filter matches its topic, or to
// OnMessage when none does.
func (c *Client) dispatch(m *Message) {
	var hs [4]Handler
	handlers := hs[:0]
	c.routesMu.RLock()
	for _, r := range c.routes {
		if topic.Match(r.match, m.Topic) {
			handlers = append(handlers, r.handler)
		}
	}
	c.routesMu.RUnlock()
	if len(handlers) == 0 {
		if c.opts.OnMessage != nil {
			c.opts.OnMessage(c, m)
		}
		return
	}
	for _, h := range handlers {
		h(c, m)
	}
}

// setRoute installs r for its filter and returns it; a nil handler removes
// the filter's route instead.
func (c *Client) setRoute(filter string, h Handler) *route {
	c.routesMu.Lock()
	defer c.routesMu.Unlock()
	if h == nil {
		delete(c.routes, filter)
		return nil
	}
	r := newRoute(filter, h)
	c.routes[filter] = r
	return r
}

// dropRoute removes r if it is still the route of its filter: a later
// Subscribe to the same filter has replaced it otherwise.
func (c *Client) dropRoute(r *route) {
	c.routesMu.Lock()
	if c.routes[r.filter] == r {
		delete(c.routes, r.filter)
	}
	c.routesMu.Unlock()
}

// dropFilter removes whatever route filter has, if it is the one that was
// current when the unsubscribe was sent.
func (c *Client) dropFilter(filter string, was *route) {
	c.routesMu.Lock()
	if r := c.routes[filter]; r == was {
		delete(c.routes, filter)
	}
	c.routesMu.Unlock()
}
