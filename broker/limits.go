package broker

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Limits that protect the broker from hostile or broken clients. Each is
// counted when hit (Stats) and logged.

// errTopicLimit is returned for a topic beyond MaxTopicLength or
// MaxTopicLevels.
var errTopicLimit = errors.New("topic exceeds the configured length or level limit")

// checkTopicLimits applies MaxTopicLength and MaxTopicLevels to a name or
// filter.
func (s *Server) checkTopicLimits(t string) error {
	if max := s.lim().MaxTopicLength; max > 0 && len(t) > max {
		s.stats.topicLimit.Add(1)
		return fmt.Errorf("%w: %d bytes, limit %d", errTopicLimit, len(t), max)
	}
	if max := s.lim().MaxTopicLevels; max > 0 && strings.Count(t, "/")+1 > max {
		s.stats.topicLimit.Add(1)
		return fmt.Errorf("%w: more than %d levels", errTopicLimit, max)
	}
	return nil
}

// bucket is a token bucket: rate tokens a second, up to burst.
type bucket struct {
	tokens float64
	last   time.Time
}

// take removes one token, refilling first. It returns how long to wait
// for a token when there is none (and then takes it in advance).
func (b *bucket) take(now time.Time, rate, burst float64) time.Duration {
	if b.last.IsZero() {
		b.tokens = burst
	} else {
		b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / rate * float64(time.Second))
}

// connRate limits new connections per remote IP address.
type connRate struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

// allow reports whether ip may open a connection now.
func (r *connRate) allow(ip string, now time.Time, rate float64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.buckets == nil {
		r.buckets = make(map[string]*bucket)
	}
	if now.Sub(r.swept) > time.Minute {
		// Forget addresses idle long enough to have a full bucket, so the
		// map stays bounded by recent addresses.
		for k, b := range r.buckets {
			if now.Sub(b.last).Seconds()*rate > 2*rate {
				delete(r.buckets, k)
			}
		}
		r.swept = now
	}
	b := r.buckets[ip]
	if b == nil {
		b = &bucket{}
		r.buckets[ip] = b
	}
	burst := max(rate, 1)
	if b.take(now, rate, burst) > 0 {
		b.tokens++ // refused: give the token back
		return false
	}
	return true
}

func remoteIP(nc net.Conn) string {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return nc.RemoteAddr().String()
}

// admit applies MaxConnections (total and per listener) and the
// per-address connection rate to a new socket. s.mu is held.
func (s *Server) admitLocked(nc net.Conn, lo *ListenerOptions) error {
	if max := s.lim().MaxConnections; max > 0 && len(s.conns) >= max {
		s.stats.refusedMaxConn.Add(1)
		return fmt.Errorf("maximum of %d connections reached", max)
	}
	if lo != nil && lo.MaxConnections > 0 && lo.active >= lo.MaxConnections {
		s.stats.refusedMaxConn.Add(1)
		return fmt.Errorf("maximum of %d connections on this listener reached", lo.MaxConnections)
	}
	if rate := s.lim().ConnectionRate; rate > 0 && !s.connRate.allow(remoteIP(nc), time.Now(), rate) {
		s.stats.refusedRate.Add(1)
		return fmt.Errorf("more than %g connections a second from %s", rate, remoteIP(nc))
	}
	return nil
}

// throttle makes a client that publishes faster than PublishRate wait:
// its reader stops reading, which TCP passes back to the client.
func (c *conn) throttle() {
	rate := c.srv.lim().PublishRate
	if rate <= 0 {
		return
	}
	burst := float64(c.srv.lim().PublishBurst)
	if burst <= 0 {
		burst = rate
	}
	if wait := c.pubRate.take(time.Now(), rate, burst); wait > 0 {
		c.srv.stats.throttled.Add(1)
		time.Sleep(wait)
	}
}
