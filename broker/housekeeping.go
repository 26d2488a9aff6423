package broker

import "time"

// housekeeping runs every timer-driven chore in one loop that reads like a
// list: session expiry, delayed wills, $SYS.
func (s *Server) housekeeping() {
	defer close(s.hkDone)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	sys := newSysPublisher(s)
	for {
		select {
		case <-s.quit:
			return
		case now := <-tick.C:
			s.fireDueWills(now)
			s.expireSessions(now)
			sys.maybePublish(now)
		}
	}
}

// fireDueWills publishes wills whose delay has passed [MQTT-3.1.3-9].
func (s *Server) fireDueWills(now time.Time) {
	var due []*message
	s.mu.Lock()
	for sess, at := range s.wills {
		if now.Before(at) {
			continue
		}
		delete(s.wills, sess)
		sess.mu.Lock()
		if sess.will != nil && sess.conn == nil {
			due = append(due, sess.will)
			sess.will = nil
		}
		sess.willAt = time.Time{}
		sess.mu.Unlock()
	}
	s.mu.Unlock()
	for _, m := range due {
		s.publishWill(m)
	}
}

// expireSessions ends offline sessions whose expiry interval has passed
// [MQTT-3.1.2-23] (§4.1.0).
func (s *Server) expireSessions(now time.Time) {
	var fire []*message
	var orphans []delivery
	s.mu.Lock()
	for _, sess := range s.sessions {
		sess.mu.Lock()
		due := sess.conn == nil && !sess.expireAt.IsZero() && !now.Before(sess.expireAt)
		sess.mu.Unlock()
		if !due {
			continue
		}
		if s.verbose {
			s.log.Debug("Expiring client " + sess.id + " due to timeout.")
		}
		f, o := s.endSessionLocked(sess)
		fire = append(fire, f...)
		orphans = append(orphans, o...)
	}
	s.mu.Unlock()
	for _, m := range fire {
		s.publishWill(m)
	}
	s.redispatch(orphans)
}

func timeSince(t time.Time) time.Duration { return time.Since(t) }
