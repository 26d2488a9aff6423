package broker

import (
	"sync"
	"time"

	"github.com/mastmq/mast/packet"
)

// outItem is one entry of a connection's outbound queue: a control packet,
// or a publish delivery encoded by the writer.
type outItem struct {
	pkt   packet.Packet
	d     delivery
	size  int  // counted in conn.outBytes
	close bool // close the connection once everything before is written
}

// writeBufs recycles write buffers so that idle connections hold none.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// enqueue queues a control packet. With -v its "Sending" line is logged
// now, in the order of the packets it answers, as Mosquitto's console
// shows it, not later from the writer.
func (c *conn) enqueue(p packet.Packet) {
	if c.srv.verbose {
		c.logSent(p)
	}
	c.push(outItem{pkt: p}, 0, false)
}

// enqueuePublish queues a PUBLISH. QoS 0 messages are dropped and counted
// when the connection's queue is over its byte bound; QoS 1/2 are already
// bounded by the session's in-flight window.
func (c *conn) enqueuePublish(d delivery) {
	size := 0
	if d.msg != nil {
		size = d.msg.size
	}
	if !c.push(outItem{d: d}, size, d.qos == 0) {
		c.srv.stats.dropped.Add(1)
		c.dropped.Add(1)
	}
}

// push appends to the outbound queue and wakes the writer. With bounded
// set it refuses the item when the queue is over its byte bound.
func (c *conn) push(it outItem, size int, bounded bool) bool {
	c.outMu.Lock()
	if c.outClosed {
		c.outMu.Unlock()
		return true
	}
	if bounded && c.outBytes+size > c.srv.lim().MaxOutboundBytes {
		c.outMu.Unlock()
		return false
	}
	if it.close {
		c.outClosed = true
	}
	it.size = size
	c.outq = append(c.outq, it)
	c.outBytes += size
	start := !c.writing
	c.writing = true
	wake := c.wake // nil unless the writer is waiting for more
	c.outMu.Unlock()
	if start {
		// A writer runs only while the connection is busy, so an idle
		// connection holds no writer goroutine or buffer.
		go c.writeLoop()
	} else if wake != nil {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	return true
}

// writerIdle is how long a writer waits for more to write before it
// exits: long enough that a busy connection keeps its writer, short
// enough that idle ones soon hold none. A writer that has written only
// answers after which a client usually waits or goes quiet (CONNACK,
// SUBACK, UNSUBACK, PINGRESP) exits at once.
const writerIdle = time.Second

// closeAfterWrites asks the writer to close the connection once what is
// queued has been written.
func (c *conn) closeAfterWrites() {
	c.push(outItem{close: true}, 0, false)
}

// waitOutbound blocks while the outbound queue is over its byte bound, or
// until the connection ends.
func (c *conn) waitOutbound() {
	for {
		c.outMu.Lock()
		full := c.outBytes > c.srv.lim().MaxOutboundBytes/2 && !c.outClosed
		if !full {
			c.outMu.Unlock()
			return
		}
		if c.drained == nil {
			c.drained = make(chan struct{}, 1)
		}
		drained := c.drained
		exited := c.writerExitedLocked()
		c.outMu.Unlock()
		select {
		case <-drained:
		case <-exited:
			return
		}
	}
}

// writeLoop drains the outbound queue, coalescing everything queued into
// one write, and exits when the queue is empty: at once when only
// answers were written (see writerIdle), otherwise after writerIdle. On
// exit the queue's array and the wake channel go too.
func (c *conn) writeLoop() {
	var batch []outItem
	var idle *time.Timer
	defer func() {
		if idle != nil {
			idle.Stop()
		}
	}()
	linger := false
	for {
		c.outMu.Lock()
		drained := c.drained
		if len(c.outq) == 0 {
			c.outBytes = 0
			if !linger {
				c.stopWriterLocked()
				c.outMu.Unlock()
				signal(drained)
				return
			}
			if c.wake == nil {
				c.wake = make(chan struct{}, 1)
			}
			wake := c.wake
			c.outMu.Unlock()
			signal(drained)
			if idle == nil {
				idle = time.NewTimer(writerIdle)
			} else {
				idle.Reset(writerIdle)
			}
			select {
			case <-wake:
				continue
			case <-idle.C:
			}
			c.outMu.Lock()
			if len(c.outq) > 0 {
				c.outMu.Unlock()
				continue
			}
			c.stopWriterLocked()
			c.outMu.Unlock()
			return
		}
		batch, c.outq = c.outq, batch[:0]
		for i := range batch {
			c.outBytes -= batch[i].size
		}
		c.outMu.Unlock()
		signal(drained)
		closing, more, err := c.writeBatch(batch)
		linger = linger || more
		clear(batch)
		if err != nil || closing {
			c.outMu.Lock()
			c.outClosed = true
			c.outq = nil
			c.outMu.Unlock()
			c.unparkToClose() // before the descriptor can be reused
			c.nc.Close()
			c.outMu.Lock()
			c.writerGone = true
			exited := c.writerDone
			c.outMu.Unlock()
			if exited != nil {
				close(exited)
			}
			return
		}
	}
}

// writerExited returns a channel closed once the writer has closed the
// connection. It is made on demand: most connections never need it.
func (c *conn) writerExited() <-chan struct{} {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	return c.writerExitedLocked()
}

func (c *conn) writerExitedLocked() <-chan struct{} {
	if c.writerGone {
		return closedChan
	}
	if c.writerDone == nil {
		c.writerDone = make(chan struct{})
	}
	return c.writerDone
}

// closedChan is a channel that is always closed.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// stopWriterLocked records that the writer exits. c.outMu is held.
func (c *conn) stopWriterLocked() {
	c.writing = false
	c.wake = nil
	c.outq = nil
}

func signal(ch chan struct{}) {
	if ch == nil {
		return
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

// writeBatch encodes and writes a batch. It reports whether a close item
// was reached and whether it held more than answers (see writerIdle).
func (c *conn) writeBatch(batch []outItem) (closing, more bool, err error) {
	bp := writeBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		if cap(buf) <= 1<<20 {
			*bp = buf[:0]
			writeBufs.Put(bp)
		}
	}()
	now := time.Now()
	for i := range batch {
		it := &batch[i]
		if it.close {
			closing = true
			break
		}
		if it.pkt != nil {
			switch it.pkt.Type() {
			case packet.CONNACK, packet.SUBACK, packet.UNSUBACK, packet.PINGRESP:
			default:
				more = true
			}
			var encErr error
			buf, encErr = packet.Append(buf, c.version, it.pkt)
			if encErr != nil {
				c.srv.log.Error("encoding failed", "client", c.clientID, "type", it.pkt.Type(), "err", encErr)
				continue
			}
			c.srv.stats.packetsOutByType[it.pkt.Type()&15].Add(1)
		} else {
			more = true
			buf = c.appendPublish(buf, &it.d, now)
		}
		if len(buf) >= 64<<10 {
			if err := c.write(buf); err != nil {
				return false, more, err
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		if err := c.write(buf); err != nil {
			return false, more, err
		}
	}
	return closing, more, nil
}

func (c *conn) write(b []byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.lim().WriteTimeout))
	n, err := c.nc.Write(b)
	c.srv.stats.bytesSent.Add(uint64(n))
	return err
}

// appendPublish encodes one delivery with this subscriber's header: packet
// id, QoS, retain, DUP, topic alias, subscription identifiers and the
// remaining message expiry.
func (c *conn) appendPublish(buf []byte, d *delivery, now time.Time) []byte {
	m := d.msg
	if m == nil {
		return buf
	}
	if d.qos == 0 && m.expired(now) {
		// [MQTT-3.3.2-5] A QoS 1/2 message in flight has started its
		// delivery: it is resent even when late [MQTT-4.4.0-1].
		return buf
	}
	p := packet.Publish{
		Dup:      d.dup,
		QoS:      d.qos,
		Retain:   d.retain,
		Topic:    m.topic,
		PacketID: d.pid,
		Payload:  m.payload,
	}
	if c.version == packet.Version5 {
		if m.props != nil {
			p.Properties = *m.props
		}
		if !m.expiry.IsZero() {
			p.Properties.MessageExpiry = m.remainingExpiry(now)
			p.Properties.Set(packet.PropMessageExpiry)
		}
		p.Properties.SubscriptionIDs = d.subIDs
		c.applyOutAlias(&p)
	}
	start := len(buf)
	out, err := p.Append(buf, c.version)
	if err != nil {
		c.srv.log.Error("encoding PUBLISH failed", "client", c.clientID, "err", err)
		return buf[:start]
	}
	if c.maxOut > 0 && len(out)-start > int(c.maxOut) {
		// Larger than the client accepts: dropped for it alone
		// [MQTT-3.1.2-25]. A QoS 1/2 one is done with, so that it does
		// not hold the in-flight window forever.
		c.srv.stats.dropped.Add(1)
		if d.qos > 0 && c.sess != nil {
			c.sess.ack(d.pid)
		}
		return buf[:start]
	}
	// One counter per delivery: the totals and PacketsOut[PUBLISH] are
	// sums the Stats snapshot makes.
	c.srv.stats.sentByQoS[d.qos%3].Add(1)
	if o := c.srv.opts.Observer; o != nil {
		o.DeliveryLatency(now.Sub(m.arrived))
	}
	if c.srv.verbose {
		c.logPublish("Sending PUBLISH to", &p)
	}
	return out
}

// applyOutAlias replaces the topic by an alias when the client accepts
// aliases: the first message on a topic sends topic and alias, later ones
// the alias alone.
func (c *conn) applyOutAlias(p *packet.Publish) {
	if c.aliasMaxOut == 0 {
		return
	}
	if a, ok := c.outAliases[p.Topic]; ok {
		p.Properties.TopicAlias = a
		p.Properties.Set(packet.PropTopicAlias)
		p.Topic = ""
		return
	}
	if len(c.outAliases) >= int(c.aliasMaxOut) {
		return
	}
	if c.outAliases == nil {
		c.outAliases = make(map[string]uint16)
	}
	a := uint16(len(c.outAliases) + 1)
	c.outAliases[p.Topic] = a
	p.Properties.TopicAlias = a
	p.Properties.Set(packet.PropTopicAlias)
}
