package auth

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// This file holds the topic matching the ACL needs, written to follow
// Mosquitto's mosquitto_topic_matches_sub: "+" matches one level, "#" any
// number of trailing levels including none ("a/#" matches "a"), and a
// topic starting with "$" is not matched by a wildcard in the first level
// [MQTT-4.7.2-1]. The broker's trie (package topic) answers "who is
// subscribed"; this answers "may this client", and also compares two
// filters, which the trie does not need.

// checkFilter reports whether s is a topic filter Mosquitto would accept
// in an ACL file (mosquitto_sub_topic_check): wildcards fill a whole
// level, "#" only the last.
func checkFilter(s string) error {
	switch {
	case s == "":
		return errors.New("empty topic")
	case len(s) > 65535:
		return errors.New("topic longer than 65535 bytes")
	case !utf8.ValidString(s):
		return errors.New("topic is not valid UTF-8")
	case strings.IndexByte(s, 0) >= 0:
		return errors.New("topic contains U+0000")
	}
	for rest, more := s, true; more; {
		var level string
		level, rest, more = strings.Cut(rest, "/")
		if strings.ContainsAny(level, "+#") {
			switch {
			case level == "#" && more:
				return errors.New("'#' must be the last level of a topic filter")
			case level != "+" && level != "#":
				return errors.New("a wildcard must fill a whole topic level")
			}
		}
	}
	return nil
}

func wildcard(level string) bool { return level == "+" || level == "#" }

// firstLevel returns the first level of a filter or topic.
func firstLevel(s string) string {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i]
	}
	return s
}

// matchFilter reports whether topic (a topic name) matches filter. The
// filter may be a string or a byte slice (an expanded pattern built in a
// stack buffer), so that the check does not allocate.
func matchFilter[F ~string | ~[]byte](filter F, topic string) bool {
	if len(filter) == 0 || len(topic) == 0 {
		return false
	}
	if topic[0] == '$' && (filter[0] == '+' || filter[0] == '#') {
		return false // [MQTT-4.7.2-1]
	}
	fi, ti := 0, 0
	for {
		fe := fi
		for fe < len(filter) && filter[fe] != '/' {
			fe++
		}
		te := ti
		for te < len(topic) && topic[te] != '/' {
			te++
		}
		switch {
		case fe-fi == 1 && filter[fi] == '#':
			return true
		case fe-fi == 1 && filter[fi] == '+':
		default:
			if fe-fi != te-ti {
				return false
			}
			for i := 0; i < fe-fi; i++ {
				if filter[fi+i] != topic[ti+i] {
					return false
				}
			}
		}
		fmore, tmore := fe < len(filter), te < len(topic)
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			// The topic ended: only a final "#" still matches ("a/#" matches "a").
			return len(filter)-fe == 2 && filter[fe+1] == '#'
		case !fmore:
			return false
		}
		fi, ti = fe+1, te+1
	}
}

// dollarApart reports whether no topic can match both a and b because of
// the "$" rule: one starts with a wildcard, the other with a "$" level.
func dollarApart(a, b string) bool {
	fa, fb := firstLevel(a), firstLevel(b)
	return wildcard(fa) && strings.HasPrefix(fb, "$") || wildcard(fb) && strings.HasPrefix(fa, "$")
}

// overlaps reports whether some topic name matches both filters.
func overlaps(a, b string) bool {
	if dollarApart(a, b) {
		return false
	}
	for {
		la, ra, amore := strings.Cut(a, "/")
		lb, rb, bmore := strings.Cut(b, "/")
		if la == "#" || lb == "#" {
			return true
		}
		if la != "+" && lb != "+" && la != lb {
			return false
		}
		switch {
		case !amore && !bmore:
			return true
		case !amore:
			return rb == "#"
		case !bmore:
			return ra == "#"
		}
		a, b = ra, rb
	}
}

// covers reports whether every topic name matching f also matches d.
func covers(d, f string) bool {
	if wildcard(firstLevel(d)) && strings.HasPrefix(firstLevel(f), "$") {
		return false
	}
	if f == "#" {
		f = "+/#" // the same topics: "#" has no parent level to match
	}
	for {
		ld, rd, dmore := strings.Cut(d, "/")
		lf, rf, fmore := strings.Cut(f, "/")
		switch {
		case ld == "#":
			return true
		case lf == "#":
			return false // f also matches its parent and deeper levels
		case ld != "+" && (lf == "+" || ld != lf):
			return false
		}
		switch {
		case !dmore && !fmore:
			return true
		case !fmore:
			return rd == "#"
		case !dmore:
			return false
		}
		d, f = rd, rf
	}
}

// node is a level of a trie of ACL filters, so that a check costs one
// walk down the topic's levels however many rules there are.
type node struct {
	lit   map[string]*node
	plus  *node
	hash  *node
	allow Access // Read and Write bits of the allow rules ending here
	deny  bool   // a deny rule ends here
}

func (n *node) insert(filter string, allow Access, deny bool) {
	for rest, more := filter, true; more; {
		var level string
		level, rest, more = strings.Cut(rest, "/")
		var next **node
		switch level {
		case "+":
			next = &n.plus
		case "#":
			next = &n.hash
		default:
			if n.lit == nil {
				n.lit = make(map[string]*node)
			}
			c := n.lit[level]
			if c == nil {
				c = new(node)
				n.lit[level] = c
			}
			n = c
			continue
		}
		if *next == nil {
			*next = new(node)
		}
		n = *next
	}
	n.allow |= allow
	n.deny = n.deny || deny
}

// lookup returns whether a deny rule matches topic and the union of the
// access the matching allow rules grant.
func (n *node) lookup(topic string) (deny bool, allow Access) {
	var r hits
	n.walk(topic, topic[0] == '$', &r)
	return r.deny, r.allow
}

type hits struct {
	deny  bool
	allow Access
}

func (r *hits) add(n *node) {
	r.deny = r.deny || n.deny
	r.allow |= n.allow
}

// walk visits the rules matching topic below n; dollar is set at the root
// for a $-topic, which wildcards there do not match.
func (n *node) walk(topic string, dollar bool, r *hits) {
	if n.hash != nil && !dollar {
		r.add(n.hash)
	}
	level, rest, more := strings.Cut(topic, "/")
	if c := n.lit[level]; c != nil {
		c.reach(rest, more, r)
	}
	if n.plus != nil && !dollar {
		n.plus.reach(rest, more, r)
	}
}

func (n *node) reach(rest string, more bool, r *hits) {
	if !more {
		r.add(n)
		if n.hash != nil {
			r.add(n.hash)
		}
		return
	}
	n.walk(rest, false, r)
}
