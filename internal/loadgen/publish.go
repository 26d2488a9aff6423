package loadgen

import (
	"strconv"
	"time"
)

// publish runs publisher c until the run stops or it has sent cfg.Count
// messages. Messages are paced against a schedule from r.start (plus
// offset, which spreads publishers over one interval) rather than by
// sleeping a fixed gap, so a late message does not push back the rest.
// Writes go into c's buffer and are flushed every cfg.Batch messages and
// whenever the publisher is about to wait (rate, window), so nothing sits
// unsent while it waits.
func (r *runner) publish(c *client, pub uint32, topic string, offset time.Duration) {
	cfg := &r.cfg
	payload := newPayload(cfg.Size, cfg.run, pub)
	retained := cfg.Scenario == "retained"
	tmpl := newTemplate(cfg.Version, cfg.QoS, retained, topic, payload)
	var topicBuf, pkt []byte
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.Rate)
	}
	start := r.start.Add(offset)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()

	var id uint16
	var seq uint64
	n := 0
	failed := false
	flush := func() bool {
		n = 0
		if failed {
			return false
		}
		if err := c.flush(); err != nil {
			failed = true
			c.fail(err)
			if !retained {
				// What never left the buffer was not sent. Packets are all
				// the template's size.
				c.wmu.Lock()
				unsent := uint64(c.bw.Buffered() / len(tmpl.buf))
				c.wmu.Unlock()
				c.sent.Add(-unsent)
				seq -= unsent
			}
			return false
		}
		return true
	}
loop:
	for cfg.Count == 0 || seq < uint64(cfg.Count) {
		if r.stopping.Load() {
			break
		}
		if interval > 0 {
			if wait := time.Until(start.Add(time.Duration(seq) * interval)); wait > 0 {
				if !flush() {
					break
				}
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-r.stop:
					break loop
				}
			}
		}
		if c.window != nil {
			select {
			case c.window <- struct{}{}:
			default:
				if !flush() {
					break loop
				}
				select {
				case c.window <- struct{}{}:
				case <-r.stop:
					break loop
				}
			}
			if id++; id == 0 {
				id = 1
			}
		}
		now := time.Now().UnixNano()
		var b []byte
		if retained {
			// One topic per message: TOPIC/SEQ.
			topicBuf = strconv.AppendUint(append(append(topicBuf[:0], topic...), '/'), seq, 10)
			putSeqTime(payload, seq, now)
			pkt = appendPublish(pkt[:0], cfg.Version, cfg.QoS, true, topicBuf, id, payload)
			b = pkt
		} else {
			b = tmpl.stamp(id, seq, now)
		}
		c.wmu.Lock()
		_, err := c.bw.Write(b)
		c.wmu.Unlock()
		if err != nil {
			flush() // fails too, and uncounts what is still buffered
			break
		}
		seq++
		c.sent.Add(1)
		if n++; n >= cfg.Batch && !flush() {
			return
		}
	}
	flush()
}

// clearRetained publishes an empty retained message to each topic the
// retained scenario used, which removes them [MQTT-3.3.1-10].
func (r *runner) clearRetained(c *client, topic string, count uint64) error {
	var topicBuf, pkt []byte
	for seq := uint64(0); seq < count; seq++ {
		topicBuf = strconv.AppendUint(append(append(topicBuf[:0], topic...), '/'), seq, 10)
		pkt = appendPublish(pkt[:0], r.cfg.Version, 0, true, topicBuf, 0, nil)
		if err := c.write(pkt, false); err != nil {
			return err
		}
	}
	return c.flush()
}

// sync waits until the broker has handled everything c sent before: a
// broker answers one connection's packets in order, so the PINGRESP to a
// PINGREQ sent last comes after them.
func (c *client) sync(timeout time.Duration) error {
	select {
	case <-c.pong: // a stale answer to a keep-alive ping
	default:
	}
	if err := c.ping(); err != nil {
		return err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.pong:
		return nil
	case <-c.done:
		return errConnClosed
	case <-t.C:
		return errSyncTimeout
	}
}
