package client

// idSet hands out packet identifiers. PUBLISH (QoS 1, 2), SUBSCRIBE and
// UNSUBSCRIBE share one space, and an identifier stays in use until its
// exchange completes [MQTT-2.2.1-3]; 0 is never used [MQTT-2.2.1-2].
type idSet struct {
	used [65536 / 64]uint64
	next uint16
	n    int
}

// alloc returns a free identifier and marks it used, or 0 when all 65535
// are in use.
func (s *idSet) alloc() uint16 {
	if s.n >= 65535 {
		return 0
	}
	for {
		s.next++
		if s.next == 0 {
			s.next = 1
		}
		id := s.next
		if s.used[id>>6]&(1<<(id&63)) == 0 {
			s.used[id>>6] |= 1 << (id & 63)
			s.n++
			return id
		}
	}
}

func (s *idSet) free(id uint16) {
	if id != 0 && s.used[id>>6]&(1<<(id&63)) != 0 {
		s.used[id>>6] &^= 1 << (id & 63)
		s.n--
	}
}

func (s *idSet) reset() { *s = idSet{next: s.next} }
