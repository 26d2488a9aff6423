package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mastmq/mast/packet"
)

// conn is one network connection: its reader and writer goroutines, the
// limits agreed in CONNECT / CONNACK, topic aliases and keepalive. The
// session (in-flight messages, subscriptions) lives in Client and outlives
// it.
type conn struct {
	c       *Client
	nc      net.Conn
	br      *bufio.Reader
	version byte

	// What the server set in CONNACK.
	recvMax   int    // QoS 1/2 PUBLISH we may have unacknowledged [MQTT-3.3.4-7]
	maxPacket int    // largest packet we may send, 0 for no limit [MQTT-3.2.2-15]
	aliasMax  uint16 // topic aliases we may use [MQTT-3.3.2-9]
	maxQoS    byte   // [MQTT-3.2.2-11]
	retainOK  bool   // [MQTT-3.2.2-14]
	keepAlive time.Duration
	pingWait  time.Duration

	// What we set in CONNECT.
	maxIn      int    // largest packet we accept, 0 for no limit
	inAliasMax uint16 // topic aliases the server may use
	inRecvMax  int    // QoS 1/2 PUBLISH the server may have unacknowledged

	sent int // QoS 1/2 PUBLISH on this connection not yet acknowledged; Client.mu

	inAliases map[uint16]string // reader goroutine only
	inUnacked atomic.Int32      // QoS 1/2 PUBLISH received, not yet acknowledged

	outMu   sync.Mutex
	out     []byte         // encoded packets waiting for the writer
	spare   []byte         // the writer's previous buffer, reused
	waiters []chan<- error // told when out has been written (QoS 0 Publish)
	aliases map[string]uint16
	final   bool  // DISCONNECT queued: send nothing more [MQTT-3.14.4-1]
	finErr  error // why the writer closes after writing out
	shut    bool  // closed: enqueueing fails

	wake      chan struct{}
	done      chan struct{} // closed when the connection is closed
	closeOnce sync.Once
	err       error // why it closed; read after done

	lastSent atomic.Int64 // unix nanoseconds
	lastRecv atomic.Int64
	pingAt   atomic.Int64 // when the outstanding PINGREQ was sent, 0 if none

	wg sync.WaitGroup // reader and writer
}

// dial opens the transport to u.
func (c *Client) dial(ctx context.Context, u *url.URL) (net.Conn, error) {
	if c.opts.Dial != nil {
		return c.opts.Dial(ctx, u)
	}
	var d net.Dialer
	switch u.Scheme {
	case "unix":
		return d.DialContext(ctx, "unix", u.Path)
	case "ws", "wss":
		return nil, fmt.Errorf("client: %s:// servers need Options.Dial", u.Scheme)
	}
	addr := u.Host
	if u.Port() == "" {
		port := "1883"
		if isTLS(u) {
			port = "8883"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	if !isTLS(u) {
		return d.DialContext(ctx, "tcp", addr)
	}
	cfg := &tls.Config{}
	if c.opts.TLSConfig != nil {
		cfg = c.opts.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	td := tls.Dialer{NetDialer: &d, Config: cfg}
	return td.DialContext(ctx, "tcp", addr)
}

// connect tries the servers in order and returns the first connection
// whose CONNACK accepts us. A refusal ends the attempt at once (another
// server would refuse the same credentials); network errors move on to
// the next server.
func (c *Client) connect(ctx context.Context, first bool) (*conn, *packet.Connack, error) {
	var lastErr error
	for _, u := range c.opts.servers {
		cn, ack, err := c.connectTo(ctx, u, first)
		if err == nil {
			return cn, ack, nil
		}
		lastErr = err
		var re *ReasonError
		if errors.As(err, &re) || ctx.Err() != nil {
			break
		}
	}
	return nil, nil, lastErr
}

func (c *Client) connectTo(ctx context.Context, u *url.URL, first bool) (*conn, *packet.Connack, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.ConnectTimeout)
	defer cancel()
	nc, err := c.dial(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	// Bound the handshake by ctx: a deadline now, and an expired one if ctx
	// is cancelled before it ends.
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	cn, ack, err := c.handshake(nc, first)
	if !stop() || err != nil {
		nc.Close()
		if err == nil || ctx.Err() != nil {
			err = fmt.Errorf("client: connect to %s: %w", u.Redacted(), context.Cause(ctx))
		}
		return nil, nil, err
	}
	nc.SetDeadline(time.Time{})
	return cn, ack, nil
}

// connectPacket builds CONNECT. Reconnects of a v5 client whose session
// outlives the connection ask to resume it.
func (c *Client) connectPacket(first bool) *packet.Connect {
	o := c.opts
	c.mu.Lock()
	id := c.clientID
	c.mu.Unlock()
	p := &packet.Connect{
		Version:    o.Version,
		CleanStart: o.CleanStart,
		KeepAlive:  o.keepAlive,
		ClientID:   id,
	}
	if o.Version == packet.Version5 {
		p.Properties = o.ConnectProperties
		p.Properties.Clear(packet.PropSessionExpiry)
		if exp := c.sessionExpiry(); exp > 0 {
			p.Properties.SessionExpiry = exp
			p.Properties.Set(packet.PropSessionExpiry)
			if !first {
				p.CleanStart = false
			}
		}
	}
	if w := o.Will; w != nil {
		p.WillFlag = true
		p.WillTopic = w.Topic
		p.WillPayload = w.Payload
		if p.WillPayload == nil {
			p.WillPayload = []byte{}
		}
		p.WillQoS = w.QoS
		p.WillRetain = w.Retain
		if o.Version == packet.Version5 {
			p.WillProperties = w.Properties
		}
	}
	if o.Username != "" {
		p.UsernameFlag = true
		p.Username = o.Username
	}
	if o.Password != nil {
		p.PasswordFlag = true
		p.Password = o.Password
	}
	return p
}

// sessionExpiry is the v5 Session Expiry Interval sent in CONNECT.
func (c *Client) sessionExpiry() uint32 {
	if c.opts.Version != packet.Version5 {
		return 0
	}
	if !c.opts.CleanStart && c.opts.SessionExpiry == 0 {
		return SessionExpiryNever
	}
	return c.opts.SessionExpiry
}

// handshake sends CONNECT and reads CONNACK.
func (c *Client) handshake(nc net.Conn, first bool) (*conn, *packet.Connack, error) {
	o := c.opts
	p := c.connectPacket(first)
	b, err := packet.Append(nil, o.Version, p)
	if err != nil {
		return nil, nil, fmt.Errorf("client: CONNECT: %w", err)
	}
	c.logConnect(p)
	if _, err := nc.Write(b); err != nil {
		return nil, nil, err
	}
	cn := &conn{
		c:         c,
		nc:        nc,
		br:        bufio.NewReaderSize(nc, 32<<10),
		version:   o.Version,
		recvMax:   65535,
		maxQoS:    2,
		retainOK:  true,
		keepAlive: time.Duration(o.keepAlive) * time.Second,
		inRecvMax: 65535,
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	if o.Version == packet.Version5 {
		cp := &p.Properties
		if cp.Has(packet.PropMaximumPacketSize) {
			cn.maxIn = int(cp.MaximumPacketSize)
		}
		if cp.Has(packet.PropTopicAliasMaximum) {
			cn.inAliasMax = cp.TopicAliasMaximum
		}
		if cp.Has(packet.PropReceiveMaximum) && cp.ReceiveMaximum > 0 {
			cn.inRecvMax = int(cp.ReceiveMaximum)
		}
	}
	rp, err := packet.Read(cn.br, o.Version, cn.maxIn)
	if err != nil {
		return nil, nil, fmt.Errorf("client: reading CONNACK: %w", err)
	}
	ack, ok := rp.(*packet.Connack)
	if !ok {
		return nil, nil, fmt.Errorf("client: %v before CONNACK: %w", rp.Type(), packet.ErrProtocol)
	}
	c.logConnack(o.Version, ack)
	if ack.ReasonCode != 0 {
		return nil, ack, &ReasonError{Packet: packet.CONNACK, Version: o.Version,
			Code: ack.ReasonCode, Reason: ack.Properties.ReasonString}
	}
	if o.Version == packet.Version5 {
		ap := &ack.Properties
		if ap.Has(packet.PropReceiveMaximum) && ap.ReceiveMaximum > 0 {
			cn.recvMax = int(ap.ReceiveMaximum)
		}
		if ap.Has(packet.PropMaximumPacketSize) {
			cn.maxPacket = int(ap.MaximumPacketSize)
		}
		if ap.Has(packet.PropTopicAliasMaximum) && o.TopicAliases {
			cn.aliasMax = ap.TopicAliasMaximum
			cn.aliases = make(map[string]uint16)
		}
		if ap.Has(packet.PropMaximumQoS) {
			cn.maxQoS = ap.MaximumQoS
		}
		if ap.Has(packet.PropRetainAvailable) {
			cn.retainOK = ap.RetainAvailable != 0
		}
		if ap.Has(packet.PropServerKeepAlive) {
			// [MQTT-3.2.2-21]
			cn.keepAlive = time.Duration(ap.ServerKeepAlive) * time.Second
		}
	}
	cn.pingWait = o.pingWait(cn.keepAlive)
	now := time.Now().UnixNano()
	cn.lastSent.Store(now)
	cn.lastRecv.Store(now)
	return cn, ack, nil
}

// start runs the reader and the writer.
func (cn *conn) start() {
	cn.wg.Add(2)
	go cn.readLoop()
	go cn.writeLoop()
}

// close closes the connection at once; err says why. Later calls do
// nothing. QoS 0 publishes waiting for their write fail.
func (cn *conn) close(err error) {
	cn.closeOnce.Do(func() {
		cn.err = err
		cn.outMu.Lock()
		cn.shut = true
		waiters := cn.waiters
		cn.waiters = nil
		cn.out = nil
		cn.outMu.Unlock()
		for _, w := range waiters {
			w <- fmt.Errorf("%w: %w", ErrConnectionLost, err)
		}
		close(cn.done)
		cn.nc.Close()
	})
}

// finish queues DISCONNECT (v5 only when d is not nil) as the last packet;
// the writer closes the connection, with err as the reason, once it is
// written.
func (cn *conn) finish(d *packet.Disconnect, err error) {
	cn.outMu.Lock()
	if cn.shut || cn.final {
		cn.outMu.Unlock()
		return
	}
	if d != nil {
		if b, e := packet.Append(cn.out, cn.version, d); e == nil {
			cn.out = b
		}
	}
	cn.final = true
	cn.finErr = err
	cn.outMu.Unlock()
	cn.signal()
}

// fail ends the connection because the server broke the protocol: a v5
// server is told why with DISCONNECT [MQTT-4.13.1-1].
func (cn *conn) fail(code byte, err error) {
	cn.c.logf("Protocol violation by the server: %v", err)
	var d *packet.Disconnect
	if cn.version == packet.Version5 {
		d = &packet.Disconnect{ReasonCode: code}
		cn.c.logf("Sending DISCONNECT")
	}
	cn.finish(d, fmt.Errorf("%w: %w", ErrConnectionLost, err))
}

func (cn *conn) signal() {
	select {
	case cn.wake <- struct{}{}:
	default:
	}
}

// send encodes p into the outbound buffer; done, if not nil, is told when
// it has been written.
func (cn *conn) send(p packet.Packet, done chan<- error) error {
	cn.outMu.Lock()
	if cn.shut || cn.final {
		cn.outMu.Unlock()
		return ErrConnectionLost
	}
	n := len(cn.out)
	b, err := packet.Append(cn.out, cn.version, p)
	if err != nil {
		cn.outMu.Unlock()
		return fmt.Errorf("client: %v: %w", p.Type(), err)
	}
	if cn.maxPacket > 0 && len(b)-n > cn.maxPacket {
		cn.out = b[:n]
		cn.outMu.Unlock()
		return fmt.Errorf("%w (%d bytes, maximum %d)", ErrPacketTooLarge, len(b)-n, cn.maxPacket)
	}
	cn.out = b
	if done != nil {
		cn.waiters = append(cn.waiters, done)
	}
	cn.outMu.Unlock()
	cn.signal()
	return nil
}

// sendPublish sends p, replacing its topic by an alias when aliases are on
// [MQTT-3.3.2-9]: the first PUBLISH on a topic maps a new alias, later
// ones send it with an empty topic. p itself is left as it was, so that a
// resend on another connection carries the topic [MQTT-3.3.2-7].
func (cn *conn) sendPublish(p *packet.Publish, done chan<- error) error {
	cn.c.logPublish("Sending", cn.version, p)
	if cn.aliases == nil {
		return cn.send(p, done)
	}
	q := *p
	cn.outMu.Lock()
	a, ok := cn.aliases[p.Topic]
	if !ok && len(cn.aliases) < int(cn.aliasMax) {
		a = uint16(len(cn.aliases) + 1) // never 0 [MQTT-3.3.2-8]
		cn.aliases[p.Topic] = a
	} else if ok {
		q.Topic = ""
	}
	cn.outMu.Unlock()
	if a != 0 {
		q.Properties.TopicAlias = a
		q.Properties.Set(packet.PropTopicAlias)
	}
	err := cn.send(&q, done)
	if err != nil && a != 0 && !ok {
		// The mapping never reached the server.
		cn.outMu.Lock()
		if cn.aliases[p.Topic] == a && int(a) == len(cn.aliases) {
			delete(cn.aliases, p.Topic)
		}
		cn.outMu.Unlock()
	}
	return err
}

// sendAck sends PUBACK, PUBREC, PUBREL or PUBCOMP; on a closed connection
// it does nothing (the session resends what needs it after reconnecting).
func (cn *conn) sendAck(kind packet.Type, id uint16) {
	a := &packet.Ack{Kind: kind, PacketID: id}
	cn.c.logAck("Sending", a)
	if cn.send(a, nil) == nil && (kind == packet.PUBACK || kind == packet.PUBCOMP) {
		if cn.inUnacked.Add(-1) < 0 {
			cn.inUnacked.Store(0)
		}
	}
}

// check reports why p cannot be sent on this connection.
func (cn *conn) check(p *packet.Publish) error {
	if p.QoS > cn.maxQoS {
		return fmt.Errorf("%w: QoS %d above the server's maximum QoS %d", ErrNotSupported, p.QoS, cn.maxQoS)
	}
	if p.Retain && !cn.retainOK {
		return fmt.Errorf("%w: retained messages", ErrNotSupported)
	}
	return nil
}

// writeLoop drains the outbound buffer, coalescing whatever has been
// queued since the last write into one write, and keeps the connection
// alive.
func (cn *conn) writeLoop() {
	defer cn.wg.Done()
	var timer *time.Timer
	var tick <-chan time.Time
	if cn.keepAlive > 0 {
		timer = time.NewTimer(cn.keepAlive)
		defer timer.Stop()
		tick = timer.C
	}
	for {
		select {
		case <-cn.done:
			return
		case <-tick:
			if err := cn.keepalive(timer); err != nil {
				cn.close(err)
				return
			}
			continue
		case <-cn.wake:
		}
		cn.outMu.Lock()
		buf, waiters, final, finErr := cn.out, cn.waiters, cn.final, cn.finErr
		if len(buf) > 0 {
			// Producers append to the spare buffer while this one is written.
			cn.out, cn.spare, cn.waiters = cn.spare[:0], nil, nil
		}
		cn.outMu.Unlock()
		if len(buf) > 0 {
			cn.nc.SetWriteDeadline(time.Now().Add(cn.c.opts.WriteTimeout))
			_, err := cn.nc.Write(buf)
			for _, w := range waiters {
				if err != nil {
					w <- fmt.Errorf("%w: %w", ErrConnectionLost, err)
				} else {
					w <- nil
				}
			}
			if err != nil {
				cn.close(fmt.Errorf("%w: %w", ErrConnectionLost, err))
				return
			}
			cn.lastSent.Store(time.Now().UnixNano())
			if cap(buf) <= 1<<20 {
				cn.outMu.Lock()
				cn.spare = buf[:0]
				cn.outMu.Unlock()
			}
		}
		if final {
			cn.close(finErr)
			return
		}
	}
}

// keepalive sends PINGREQ when nothing has been sent or received for the
// keepalive interval (the server allows 1.5 times it [MQTT-3.1.2-22]; the
// client must send something within it [MQTT-3.1.2-20]) and declares the
// connection dead when PINGRESP takes longer than the ping timeout. It
// resets timer to its next deadline.
func (cn *conn) keepalive(timer *time.Timer) error {
	now := time.Now()
	if at := cn.pingAt.Load(); at != 0 {
		deadline := time.Unix(0, at).Add(cn.pingWait)
		if !now.Before(deadline) {
			cn.c.logf("No PINGRESP within %v: closing the connection", cn.pingWait)
			return fmt.Errorf("%w: %w", ErrConnectionLost, ErrPingTimeout)
		}
		timer.Reset(deadline.Sub(now))
		return nil
	}
	idle := time.Unix(0, min(cn.lastSent.Load(), cn.lastRecv.Load()))
	due := idle.Add(cn.keepAlive)
	if now.Before(due) {
		timer.Reset(due.Sub(now))
		return nil
	}
	cn.pingAt.Store(now.UnixNano())
	cn.c.logf("Sending PINGREQ")
	if err := cn.send(&packet.Pingreq{}, nil); err != nil {
		return nil // closing anyway
	}
	timer.Reset(cn.pingWait)
	return nil
}

// readLoop reads and handles packets until the connection ends.
func (cn *conn) readLoop() {
	defer cn.wg.Done()
	for {
		p, err := packet.Read(cn.br, cn.version, cn.maxIn)
		if err != nil {
			switch {
			case errors.Is(err, packet.ErrTooLarge), errors.Is(err, packet.ErrMalformed),
				errors.Is(err, packet.ErrProtocol):
				cn.fail(packet.ReasonCodeOf(err), err)
			default:
				cn.close(fmt.Errorf("%w: %w", ErrConnectionLost, err))
			}
			return
		}
		cn.lastRecv.Store(time.Now().UnixNano())
		if err := cn.c.handle(cn, p); err != nil {
			var re *ReasonError
			var v *violation
			switch {
			case errors.As(err, &re):
				cn.close(fmt.Errorf("%w: %w", ErrConnectionLost, err))
			case errors.As(err, &v):
				cn.fail(v.code, err)
			default:
				cn.fail(packet.ReasonCodeOf(err), err)
			}
			return
		}
	}
}
