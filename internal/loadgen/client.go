package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mastmq/mast/packet"
)

// handshakeTimeout bounds dialling, CONNECT/CONNACK and SUBSCRIBE/SUBACK.
const handshakeTimeout = 10 * time.Second

// Buffer sizes by role: a busy subscriber reads in large chunks, a busy
// publisher writes in large chunks, and an idle connection of the conn
// scenario stays small so that tens of thousands of them fit.
type bufSizes struct{ read, write int }

var (
	subBufs  = bufSizes{64 << 10, 4 << 10}
	pubBufs  = bufSizes{4 << 10, 64 << 10}
	idleBufs = bufSizes{512, 128}
)

// client is one MQTT connection. Its reader goroutine owns the tracker and
// answers the broker (acks, PUBREL); writes from any goroutine go through
// wmu.
type client struct {
	run     *runner
	id      string
	index   int
	version byte
	nc      net.Conn
	r       reader

	wmu       sync.Mutex
	bw        *bufio.Writer
	lastWrite atomic.Int64 // Unix ns of the last flush, for keep alive

	closing  atomic.Bool
	reading  bool          // the reader goroutine was started (startReader)
	done     chan struct{} // closed when the reader goroutine returns
	pong     chan struct{}
	subacked chan error

	// Subscriber side.
	tr      *tracker
	latency bool
	recv    atomic.Uint64 // messages counted, duplicates included
	unique  atomic.Uint64

	// Publisher side.
	sent    atomic.Uint64
	acked   atomic.Uint64 // QoS 1 PUBACK / QoS 2 PUBCOMP received
	refused atomic.Uint64 // v5 acks with a failure reason code
	window  chan struct{}
}

// dial opens the network connection for client index i. TCP keep-alive
// is left off: MQTT's own keep alive covers it, and the four setsockopt
// calls per connection are CPU the broker under test would not get.
func (r *runner) dial(ctx context.Context, i int, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: handshakeTimeout, KeepAlive: -1}
	if len(r.local) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: r.local[i%len(r.local)]}
		d.Control = bindNoPort
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if r.cfg.TLS != nil {
		tc := tls.Client(nc, r.tlsConfig)
		hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		return tc, nil
	}
	return nc, nil
}

// connect dials client index (the dial'th connection of the run), sends
// CONNECT and waits for a successful CONNACK. It then runs setup, if not
// nil, before the reader goroutine starts, so that setup may still read
// from the connection itself (subscribeNow), and starts the reader. It
// returns the time from dial to CONNACK.
func (r *runner) connect(ctx context.Context, dial, index int, id string, bufs bufSizes, setup func(*client) error) (*client, time.Duration, error) {
	start := time.Now()
	addr := r.cfg.Addr
	if r.cfg.SubAddr != "" && strings.HasPrefix(id, r.cfg.ClientPrefix+"s") {
		addr = r.cfg.SubAddr // a subscriber, on another node
	}
	nc, err := r.dial(ctx, dial, addr)
	if err != nil {
		return nil, 0, err
	}
	c := &client{
		run: r, id: id, index: index, version: r.cfg.Version, nc: nc,
		r:        reader{br: bufio.NewReaderSize(nc, bufs.read), max: 1 << 28},
		bw:       bufio.NewWriterSize(nc, bufs.write),
		done:     make(chan struct{}),
		pong:     make(chan struct{}, 1),
		subacked: make(chan error, 1),
	}
	nc.SetDeadline(time.Now().Add(handshakeTimeout))
	cp := &packet.Connect{
		Version:    r.cfg.Version,
		CleanStart: r.cfg.Clean,
		KeepAlive:  r.cfg.KeepAlive,
		ClientID:   id,
	}
	if r.cfg.Version == packet.Version5 && r.cfg.SessionExpiry > 0 {
		cp.Properties.SessionExpiry = r.cfg.SessionExpiry
		cp.Properties.Set(packet.PropSessionExpiry)
	}
	b, err := packet.Append(nil, r.cfg.Version, cp)
	if err == nil {
		err = c.write(b, true)
	}
	if err == nil {
		err = c.readConnack()
	}
	elapsed := time.Since(start)
	if err == nil && setup != nil {
		err = setup(c)
	}
	if err != nil {
		c.abort() // a reader setup started stops quietly
		return nil, 0, err
	}
	nc.SetDeadline(time.Time{})
	c.startReader()
	return c, elapsed, nil
}

// startReader starts the reader goroutine, once; only the goroutine that
// connects calls it.
func (c *client) startReader() {
	if c.reading {
		return
	}
	c.reading = true
	c.run.conns.Add(1)
	go c.readLoop()
}

// readConnack reads the CONNACK and checks its code, which is the second
// byte of the body at every protocol level (§3.2.2).
func (c *client) readConnack() error {
	first, body, err := c.r.next()
	if err != nil {
		return fmt.Errorf("waiting for CONNACK: %w", err)
	}
	if t := packet.Type(first >> 4); t != packet.CONNACK {
		return fmt.Errorf("expected CONNACK, got %v", t)
	}
	if len(body) < 2 {
		return fmt.Errorf("%w: CONNACK", errMalformed)
	}
	if rc := body[1]; rc != 0 {
		return fmt.Errorf("connection refused: CONNACK code 0x%02x", rc)
	}
	return nil
}

// write writes b, flushing when asked.
func (c *client) write(b []byte, flush bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.bw.Write(b)
	if flush && err == nil {
		err = c.bw.Flush()
		c.lastWrite.Store(time.Now().UnixNano())
	}
	return err
}

// flush writes out what is buffered.
func (c *client) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.bw.Buffered() == 0 {
		return nil
	}
	c.lastWrite.Store(time.Now().UnixNano())
	return c.bw.Flush()
}

// subscribeNow subscribes and reads the SUBACK itself, before the reader
// goroutine runs (a setup of connect): no goroutine is woken and no timer
// set for it. Only for a clean session, where nothing can come before
// the SUBACK.
func (c *client) subscribeNow(filter string, qos byte) error {
	if err := c.subscribe(filter, qos); err != nil {
		return err
	}
	first, body, err := c.r.next()
	if err != nil {
		return fmt.Errorf("waiting for SUBACK: %w", err)
	}
	if t := packet.Type(first >> 4); t != packet.SUBACK {
		return fmt.Errorf("expected SUBACK, got %v", t)
	}
	return c.checkSuback(first, body)
}

// subscribe sends a SUBSCRIBE; the reader goroutine reports its SUBACK on
// c.subacked.
func (c *client) subscribe(filter string, qos byte) error {
	b, err := packet.Append(nil, c.version, &packet.Subscribe{
		PacketID:      1,
		Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}},
	})
	if err != nil {
		return err
	}
	return c.write(b, true)
}

// subscribeFor subscribes in a setup of connect: at once with a clean
// session, otherwise (queued messages may come first) through the reader
// goroutine, once it runs.
func (c *client) subscribeFor(ctx context.Context, filter string, qos byte) error {
	if c.run.cfg.Clean {
		return c.subscribeNow(filter, qos)
	}
	c.nc.SetDeadline(time.Time{})
	c.startReader()
	if err := c.subscribe(filter, qos); err != nil {
		return err
	}
	return c.waitSuback(ctx)
}

// waitSuback waits for the SUBACK of subscribe.
func (c *client) waitSuback(ctx context.Context) error {
	t := time.NewTimer(handshakeTimeout)
	defer t.Stop()
	select {
	case err := <-c.subacked:
		return err
	case <-t.C:
		return errors.New("no SUBACK in time")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ping sends PINGREQ.
func (c *client) ping() error {
	return c.write([]byte{byte(packet.PINGREQ) << 4, 0}, true)
}

// fail records why the connection stopped, unless we were closing it.
func (c *client) fail(err error) {
	select {
	case c.subacked <- err:
	default:
	}
	if c.closing.Load() {
		return
	}
	c.run.addError(fmt.Errorf("%s: %w", c.id, err))
}

// close sends DISCONNECT and closes the connection, then waits for the
// reader goroutine.
func (c *client) close() {
	if c.closing.Swap(true) {
		<-c.done
		return
	}
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.write([]byte{byte(packet.DISCONNECT) << 4, 0}, true)
	c.nc.Close()
	<-c.done
}

// abort closes the connection at once, unblocking a writer stuck on a
// broker that stopped reading.
func (c *client) abort() {
	c.closing.Store(true)
	c.nc.Close()
}

// readLoop reads until the connection ends, counting messages and
// answering QoS 1/2 flows. Replies are batched: flushed when no further
// packet is already buffered.
func (c *client) readLoop() {
	defer close(c.done)
	defer c.run.conns.Add(-1)
	var out []byte
	var now int64
	for {
		first, body, err := c.r.next()
		if err != nil {
			c.fail(err)
			return
		}
		if c.r.filled {
			// One clock read per read from the socket, not per message.
			now = time.Now().UnixNano()
		}
		switch packet.Type(first >> 4) {
		case packet.PUBLISH:
			p, ok := parsePublish(first, body, c.version)
			if !ok {
				c.fail(fmt.Errorf("%w: PUBLISH", errMalformed))
				return
			}
			c.onMessage(p.payload, now)
			switch p.qos {
			case 1:
				out = appendAck(out, packet.PUBACK, p.id)
			case 2:
				out = appendAck(out, packet.PUBREC, p.id)
			}
		case packet.PUBREL:
			id, _, ok := parseAck(body)
			if !ok {
				c.fail(fmt.Errorf("%w: PUBREL", errMalformed))
				return
			}
			out = appendAck(out, packet.PUBCOMP, id)
		case packet.PUBACK, packet.PUBCOMP:
			_, reason, ok := parseAck(body)
			if !ok {
				c.fail(fmt.Errorf("%w: ack", errMalformed))
				return
			}
			c.release(reason)
		case packet.PUBREC:
			id, reason, ok := parseAck(body)
			if !ok {
				c.fail(fmt.Errorf("%w: PUBREC", errMalformed))
				return
			}
			if reason >= 0x80 {
				c.release(reason) // the flow ends here (§4.3.3)
			} else {
				out = appendAck(out, packet.PUBREL, id)
			}
		case packet.SUBACK:
			select {
			case c.subacked <- c.checkSuback(first, body):
			default:
			}
		case packet.PINGRESP:
			select {
			case c.pong <- struct{}{}:
			default:
			}
		case packet.DISCONNECT:
			reason := ""
			if len(body) > 0 {
				reason = fmt.Sprintf(" (reason 0x%02x)", body[0])
			}
			c.fail(fmt.Errorf("broker sent DISCONNECT%s", reason))
			return
		}
		if len(out) > 0 && !c.r.buffered() {
			if err := c.write(out, true); err != nil {
				c.fail(err)
				return
			}
			out = out[:0]
		}
	}
}

// checkSuback checks the codes of a SUBACK: after the packet identifier,
// and in v5 the properties, one code per filter (§3.9.3).
func (c *client) checkSuback(first byte, body []byte) error {
	if first&0x0f != 0 || len(body) < 3 {
		return fmt.Errorf("%w: SUBACK", errMalformed)
	}
	codes := body[2:]
	if c.version == packet.Version5 {
		pl, n, ok := varInt(codes)
		if !ok || len(codes) < n+pl+1 {
			return fmt.Errorf("%w: SUBACK", errMalformed)
		}
		codes = codes[n+pl:]
	}
	for _, rc := range codes {
		if rc >= 0x80 {
			return fmt.Errorf("subscription refused: SUBACK code 0x%02x", rc)
		}
	}
	return nil
}

// onMessage counts one received PUBLISH.
func (c *client) onMessage(payload []byte, now int64) {
	if c.tr == nil {
		return
	}
	before := c.tr.unique
	if c.tr.message(payload, now, c.latency) {
		c.recv.Add(1)
		if c.tr.unique != before {
			c.unique.Add(1)
		}
	}
}

// release frees one slot of the publisher's in-flight window.
func (c *client) release(reason byte) {
	if reason >= 0x80 {
		c.refused.Add(1)
	}
	c.acked.Add(1)
	if c.window != nil {
		select {
		case <-c.window:
		default: // an ack for nothing in flight: ignore
		}
	}
}
