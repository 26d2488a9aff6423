package client

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/mastmq/mast/packet"
)

// state is where a Client is in its life.
type state int

const (
	stateIdle         state = iota // not connected; Connect may be called
	stateConnecting                // Connect in progress
	stateConnected                 // a connection is up
	stateReconnecting              // connection lost, reconnecting
	stateClosing                   // Disconnect in progress
)

// Client is an MQTT client. Its methods are safe for concurrent use.
//
// Lock order: Client.mu, then conn.outMu; routesMu and the delivery queue's
// lock are leaves taken alone.
type Client struct {
	opts *settings

	mu       sync.Mutex
	state    state
	conn     *conn
	clientID string
	stop     context.Context // cancelled by Disconnect
	cancel   context.CancelFunc
	mgrDone  chan struct{} // closed when the connection manager ends

	// The session: it outlives connections while the server keeps it.
	ids      idSet
	inflight map[uint16]*outMsg   // QoS 1/2 sent, not yet completed
	seq      uint64               // send order of inflight messages
	queue    []*outMsg            // publishes not yet sent, in order
	resend   []*outMsg            // inflight to resend on this connection, in order
	offline  int                  // queue entries made while reconnecting
	requests map[uint16]*request  // SUBSCRIBE, UNSUBSCRIBE awaiting their ack
	subs     map[string]*subEntry // granted subscriptions, renewed on a new session
	inQoS2   map[uint16]struct{}  // inbound QoS 2 ids not yet released

	routesMu sync.RWMutex
	routes   map[string]*route

	dq deliveryQueue
}

// New returns a client for opts. It does not connect: call Connect.
func New(opts Options) (*Client, error) {
	s, err := opts.settings()
	if err != nil {
		return nil, err
	}
	c := &Client{
		opts:     s,
		clientID: s.ClientID,
		inflight: make(map[uint16]*outMsg),
		requests: make(map[uint16]*request),
		subs:     make(map[string]*subEntry),
		inQoS2:   make(map[uint16]struct{}),
		routes:   make(map[string]*route),
	}
	if c.clientID == "" && s.Version == packet.Version31 {
		// MQTT 3.1 requires 1 to 23 characters.
		var b [8]byte
		rand.Read(b[:])
		c.clientID = "mast-" + hex.EncodeToString(b[:])
	}
	return c, nil
}

// ClientID returns the client identifier: the one configured, made up, or
// assigned by a v5 server.
func (c *Client) ClientID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clientID
}

// IsConnected reports whether a connection is up.
func (c *Client) IsConnected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateConnected
}

// Connect connects to the first server of Options.Servers that accepts,
// and returns its CONNACK. A refusal is a *ReasonError carrying the CONNACK
// code. Once connected, a lost connection is re-established in the
// background if Options.AutoReconnect is set. Connect may be called again
// after Disconnect, or after the connection is lost without AutoReconnect.
func (c *Client) Connect(ctx context.Context) (*packet.Connack, error) {
	c.mu.Lock()
	if c.state != stateIdle {
		c.mu.Unlock()
		return nil, ErrAlreadyConnected
	}
	c.state = stateConnecting
	c.stop, c.cancel = context.WithCancel(context.Background())
	stop := c.stop
	c.mu.Unlock()
	if c.dq.start() {
		go c.deliverLoop()
	}
	dctx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(stop, cancel)
	cn, ack, err := c.connect(dctx, true)
	unhook()
	cancel()
	if err == nil && !c.install(cn, ack, true, stop) {
		cn.nc.Close()
		err = ErrClosed
	}
	if err != nil {
		c.mu.Lock()
		if c.state == stateConnecting {
			c.state = stateIdle
			c.cancel()
			c.dq.stopDrain()
		}
		c.mu.Unlock()
		return nil, err
	}
	return ack, nil
}

// install makes cn the client's connection and resumes the session on it.
// It reports false, leaving cn to the caller to close, when Disconnect has
// been called meanwhile.
func (c *Client) install(cn *conn, ack *packet.Connack, first bool, stop context.Context) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateClosing || c.stop != stop || stop.Err() != nil {
		return false
	}
	c.conn = cn
	if ack.Properties.AssignedClientID != "" {
		// Reused on reconnect so that the session can resume.
		c.clientID = ack.Properties.AssignedClientID
	}
	inflight := make([]*outMsg, 0, len(c.inflight))
	for _, om := range c.inflight {
		om.onWire = false
		inflight = append(inflight, om)
	}
	slices.SortFunc(inflight, func(a, b *outMsg) int { return cmp.Compare(a.seq, b.seq) })
	c.resend = nil
	if ack.SessionPresent {
		// Resend unacknowledged PUBLISH and PUBREL with their original
		// identifiers [MQTT-4.4.0-1], in their original order
		// [MQTT-4.6.0-1]; pump sends them before anything new.
		c.resend = inflight
		for _, om := range inflight {
			om.resend = true
		}
	} else {
		// The server has no session: ours is void [MQTT-3.2.2-5]. QoS 1
		// messages start again as new ones, ahead of the queue; a QoS 2
		// message may already have been delivered, and resending it could
		// deliver it twice, so it fails with ErrSessionLost.
		clear(c.inQoS2)
		var again []*outMsg
		for _, om := range inflight {
			delete(c.inflight, om.pub.PacketID)
			c.ids.free(om.pub.PacketID)
			if om.pub.QoS == 2 {
				om.complete(ErrSessionLost)
				continue
			}
			om.pub.PacketID, om.pub.Dup, om.queued = 0, false, true
			again = append(again, om)
		}
		c.queue = append(again, c.queue...)
		if first {
			// Subscriptions from before a Disconnect are gone with the
			// session.
			clear(c.subs)
		} else {
			c.resubscribe(cn)
		}
	}
	c.state = stateConnected
	cn.start()
	if first {
		c.mgrDone = make(chan struct{})
		go c.manage(cn, c.stop, c.mgrDone)
	}
	c.pump()
	if cb := c.opts.OnConnect; cb != nil {
		c.dq.push(item{fn: func() { cb(c, ack) }})
	}
	return true
}

// manage watches the connection and, with AutoReconnect, replaces it when
// it is lost. It ends when Disconnect cancels stop, or when a connection is
// lost for good.
func (c *Client) manage(cn *conn, stop context.Context, done chan struct{}) {
	defer close(done)
	for {
		select {
		case <-cn.done:
		case <-stop.Done():
			return
		}
		cn.wg.Wait()
		if stop.Err() != nil {
			return
		}
		err := cn.err
		c.logf("Connection lost: %v", err)
		again := c.lost(cn, err)
		if cb := c.opts.OnConnectionLost; cb != nil {
			c.dq.push(item{fn: func() { cb(c, err) }})
		}
		if !again {
			c.dq.stopDrain()
			return
		}
		if cn = c.reconnect(stop); cn == nil {
			return
		}
	}
}

// lost records that cn is gone and reports whether to reconnect. Without
// AutoReconnect every pending operation fails with ErrConnectionLost.
func (c *Client) lost(cn *conn, err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != cn || c.state == stateClosing {
		return false
	}
	c.conn = nil
	c.resend = nil
	lostErr := fmt.Errorf("%w: %w", ErrConnectionLost, err)
	for id, r := range c.requests {
		delete(c.requests, id)
		c.ids.free(id)
		r.fail(lostErr)
	}
	if c.opts.AutoReconnect {
		c.state = stateReconnecting
		return true
	}
	c.state = stateIdle
	c.cancel()
	c.failAll(lostErr)
	return false
}

// failAll ends every pending publish with err and forgets the session's
// outbound state.
func (c *Client) failAll(err error) {
	for _, om := range c.inflight {
		om.complete(err)
	}
	for _, om := range c.queue {
		om.queued = false
		om.complete(err)
	}
	for id, r := range c.requests {
		r.fail(err)
		delete(c.requests, id)
	}
	clear(c.inflight)
	c.queue, c.resend, c.offline = nil, nil, 0
	c.ids.reset()
}

// reconnect tries to connect again until it succeeds or stop is cancelled,
// waiting between attempts with exponential backoff and jitter.
func (c *Client) reconnect(stop context.Context) *conn {
	for attempt := 1; ; attempt++ {
		t := time.NewTimer(c.backoff(attempt))
		select {
		case <-t.C:
		case <-stop.Done():
			t.Stop()
			return nil
		}
		if cb := c.opts.OnReconnecting; cb != nil {
			c.dq.push(item{fn: func() { cb(c, attempt) }})
		}
		c.logf("Reconnecting (attempt %d)", attempt)
		cn, ack, err := c.connect(stop, false)
		if err != nil {
			c.logf("Reconnect failed: %v", err)
			continue
		}
		if !c.install(cn, ack, false, stop) {
			cn.nc.Close()
			return nil
		}
		return cn
	}
}

// backoff is the wait before reconnect attempt n (from 1): MinBackoff
// doubled per attempt up to MaxBackoff, then a random point in its upper
// half, so that clients cut off together do not come back together.
func (c *Client) backoff(n int) time.Duration {
	d := c.opts.MinBackoff
	for i := 1; i < n && d < c.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.opts.MaxBackoff)
	return d/2 + mrand.N(d/2+1)
}

// Disconnect sends DISCONNECT, closes the connection and stops every
// goroutine of the client; pending operations fail with ErrClosed.
func (c *Client) Disconnect(ctx context.Context) error {
	return c.DisconnectWith(ctx, nil)
}

// DisconnectWith is Disconnect with a v5 DISCONNECT of the caller's: a
// reason code (0x04 asks the server to publish the will) and properties
// (Session Expiry Interval, which may not turn a session that expires at
// disconnection into one that persists [MQTT-3.14.2-2], Reason String, User).
// Below v5, d is ignored.
//
// DISCONNECT is written and the connection closed within ctx; when ctx ends
// first the connection is closed at once and ctx's error returned. Called
// from a handler or callback, DisconnectWith returns without waiting for the
// delivery goroutine, which is running the caller and exits after it.
func (c *Client) DisconnectWith(ctx context.Context, d *packet.Disconnect) error {
	if d == nil {
		d = &packet.Disconnect{}
	}
	if c.opts.Version == packet.Version5 && d.Properties.Has(packet.PropSessionExpiry) &&
		d.Properties.SessionExpiry != 0 && c.sessionExpiry() == 0 {
		return fmt.Errorf("client: session expiry %d in DISCONNECT after 0 in CONNECT [MQTT-3.14.2-2]", d.Properties.SessionExpiry)
	}
	c.mu.Lock()
	if c.state == stateIdle || c.state == stateClosing {
		c.mu.Unlock()
		return ErrNotConnected
	}
	c.state = stateClosing
	c.cancel()
	cn, mgrDone := c.conn, c.mgrDone
	c.mu.Unlock()

	var err error
	if cn != nil {
		c.logf("Sending DISCONNECT")
		if c.opts.Version < packet.Version5 {
			d = &packet.Disconnect{}
		}
		cn.finish(d, ErrClosed)
		select {
		case <-cn.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		cn.close(ErrClosed)
		cn.wg.Wait()
	}
	if mgrDone != nil {
		<-mgrDone // prompt: the manager watches stop
	}
	c.mu.Lock()
	c.conn = nil
	c.failAll(ErrClosed)
	c.state = stateIdle
	c.mu.Unlock()

	done, busy := c.dq.stopNow()
	if done != nil && !busy {
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	return err
}

// violation is a protocol error by the server, with the v5 reason code to
// disconnect with.
type violation struct {
	code byte
	msg  string
}

func (v *violation) Error() string { return "client: server broke the protocol: " + v.msg }

// handle processes one packet from the server, on the reader goroutine.
func (c *Client) handle(cn *conn, p packet.Packet) error {
	switch p := p.(type) {
	case *packet.Publish:
		return c.onPublish(cn, p)
	case *packet.Ack:
		c.logAck("Received", p)
		if p.Kind == packet.PUBREL {
			// Through the delivery queue, so that PUBCOMP follows the
			// PUBREC of the message it completes.
			c.dq.push(item{cn: cn, id: p.PacketID, rel: true})
			return nil
		}
		c.onAck(cn, p)
	case *packet.Suback:
		c.logf("Received SUBACK")
		c.onSuback(cn, p)
	case *packet.Unsuback:
		c.logf("Received UNSUBACK (Mid: %d)", p.PacketID)
		c.onUnsuback(cn, p)
	case *packet.Pingresp:
		c.logf("Received PINGRESP")
		cn.pingAt.Store(0)
	case *packet.Disconnect:
		c.logf("Received DISCONNECT %s %s", ReasonText(cn.version, packet.DISCONNECT, p.ReasonCode), propsString(&p.Properties))
		return &ReasonError{Packet: packet.DISCONNECT, Version: cn.version, Code: p.ReasonCode, Reason: p.Properties.ReasonString}
	default:
		return &violation{packet.ProtocolError, fmt.Sprintf("unexpected %v", p.Type())}
	}
	return nil
}
