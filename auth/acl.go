package auth

import (
	"errors"
	"fmt"
	"strings"
)

// RuleAccess is what an ACL rule grants, or deny.
type RuleAccess uint8

// The access an ACL rule can give. The zero value is not valid: a rule
// says what it grants.
const (
	RuleRead RuleAccess = iota + 1
	RuleWrite
	RuleReadWrite
	RuleDeny
)

var ruleAccessNames = [...]string{RuleRead: "read", RuleWrite: "write", RuleReadWrite: "readwrite", RuleDeny: "deny"}

func (a RuleAccess) valid() bool { return a >= RuleRead && a <= RuleDeny }

func (a RuleAccess) String() string {
	if a.valid() {
		return ruleAccessNames[a]
	}
	return fmt.Sprintf("RuleAccess(%d)", uint8(a))
}

// MarshalText writes read, write, readwrite or deny.
func (a RuleAccess) MarshalText() ([]byte, error) {
	if !a.valid() {
		return nil, fmt.Errorf("auth: invalid rule access %d", uint8(a))
	}
	return []byte(ruleAccessNames[a]), nil
}

// UnmarshalText reads read, write, readwrite or deny, so that a Rule can
// be read from YAML or JSON.
func (a *RuleAccess) UnmarshalText(b []byte) error {
	v, ok := parseRuleAccess(string(b))
	if !ok {
		return fmt.Errorf("auth: access %q is not read, write, readwrite or deny", b)
	}
	*a = v
	return nil
}

func parseRuleAccess(s string) (RuleAccess, bool) {
	for a, name := range ruleAccessNames {
		if a != 0 && s == name {
			return RuleAccess(a), true
		}
	}
	return 0, false
}

// grants returns the access bits an allow rule gives.
func (a RuleAccess) grants() Access {
	switch a {
	case RuleRead:
		return Read
	case RuleWrite:
		return Write
	case RuleReadWrite:
		return Read | Write
	}
	return 0
}

// Rule is one line of a Mosquitto ACL file, with the user it applies to
// made explicit, so that the same rules can come from YAML.
//
// A topic rule (Pattern false) applies to the clients with user name User,
// or, with Anonymous set, to the clients that sent no user name; exactly
// one of the two. A pattern rule applies to every client and takes
// neither: %u in Topic stands for the client's user name (a client without
// one is not matched by the rule) and %c for its client id.
type Rule struct {
	User      string     `yaml:"user,omitempty" json:"user,omitempty"`
	Anonymous bool       `yaml:"anonymous,omitempty" json:"anonymous,omitempty"`
	Pattern   bool       `yaml:"pattern,omitempty" json:"pattern,omitempty"`
	Access    RuleAccess `yaml:"access" json:"access"`
	Topic     string     `yaml:"topic" json:"topic"`
}

// String returns the rule as an ACL file line (without the user line
// that precedes it).
func (r Rule) String() string {
	kind := "topic"
	if r.Pattern {
		kind = "pattern"
	}
	return kind + " " + r.Access.String() + " " + r.Topic
}

func (r Rule) check() error {
	if !r.Access.valid() {
		return errors.New("access must be read, write, readwrite or deny")
	}
	if err := checkFilter(r.Topic); err != nil {
		return err
	}
	switch {
	case r.Pattern && (r.User != "" || r.Anonymous):
		return errors.New("a pattern applies to every client; it takes no user and no anonymous")
	case !r.Pattern && r.User != "" && r.Anonymous:
		return errors.New("a topic rule is for one user or for anonymous clients, not both")
	case !r.Pattern && r.User == "" && !r.Anonymous:
		return errors.New("a topic rule needs a user, or anonymous")
	}
	return nil
}

// ACL is an Authorizer that follows Mosquitto 2.0's acl_file rules:
//
//   - A client with a user name gets the topic rules of that user (all its
//     "user" sections together); a client without one gets the topic rules
//     given before the first "user" line. Pattern rules apply to every
//     client, wherever they stand in the file.
//   - Read and Write: the client's topic rules are checked first. If a deny
//     rule matches the topic, access is denied; else if a rule matching the
//     topic grants the access, it is allowed. Otherwise the pattern rules
//     are checked the same way (deny first), with %u and %c replaced; a
//     client whose user name or client id holds + or # gets nothing from
//     patterns. Anything not allowed is denied, and an ACL with no rules
//     denies everything.
//   - A $-topic is matched only by a rule starting with "$" ("#" does not
//     reach $SYS).
//   - Subscribe: Mosquitto 2.0 grants every SUBSCRIBE and filters each
//     delivery with a Read check. ACL denies a filter only when no topic
//     the filter matches could be read: no rule granting read overlaps it,
//     or one deny rule covers all of it. Every message Mosquitto would
//     deliver is thus still delivered (the broker must check Read at each
//     delivery), while a client asking for what it can never see gets a
//     failure code in its SUBACK rather than silence. "$share/group/" is
//     stripped before the check.
//
// An ACL never changes after it is built; it is safe for concurrent use.
// To reload, build a new one and swap it in whole.
type ACL struct {
	rules    []Rule
	anon     *ruleSet
	users    map[string]*ruleSet
	patDeny  []pattern
	patAllow []pattern
}

// ruleSet is the topic rules of one user, or of anonymous clients.
type ruleSet struct {
	root   node
	allows []aclFilter // in order, for Subscribe checks
	denies []string
}

type aclFilter struct {
	filter string
	access Access
}

// pattern is a pattern rule split at its %c and %u.
type pattern struct {
	raw    string
	parts  []patternPart // nil when the pattern has no %c or %u
	hasU   bool
	access Access
}

type patternPart struct {
	lit string
	sub byte // 0 for a literal, else 'c' or 'u'
}

func compilePattern(raw string, access Access) pattern {
	p := pattern{raw: raw, access: access}
	// Scan left to right as Mosquitto does: "%c" and "%u" are replaced,
	// any other "%" is itself.
	start := 0
	for i := 0; i+1 < len(raw); i++ {
		if raw[i] != '%' || (raw[i+1] != 'c' && raw[i+1] != 'u') {
			continue
		}
		if start < i {
			p.parts = append(p.parts, patternPart{lit: raw[start:i]})
		}
		p.parts = append(p.parts, patternPart{sub: raw[i+1]})
		p.hasU = p.hasU || raw[i+1] == 'u'
		i++
		start = i + 1
	}
	if p.parts != nil && start < len(raw) {
		p.parts = append(p.parts, patternPart{lit: raw[start:]})
	}
	return p
}

// applies reports whether the pattern can match for c: one with %u does
// not for a client without a user name.
func (p *pattern) applies(c *Client) bool { return !p.hasU || c.HasUsername }

func (p *pattern) expand(buf []byte, c *Client) []byte {
	for _, part := range p.parts {
		switch part.sub {
		case 'c':
			buf = append(buf, c.ClientID...)
		case 'u':
			buf = append(buf, c.Username...)
		default:
			buf = append(buf, part.lit...)
		}
	}
	return buf
}

func (p *pattern) expanded(c *Client) string {
	if p.parts == nil {
		return p.raw
	}
	return string(p.expand(nil, c))
}

func (p *pattern) match(buf []byte, c *Client, topic string) bool {
	if !p.applies(c) {
		return false
	}
	if p.parts == nil {
		return matchFilter(p.raw, topic)
	}
	return matchFilter(p.expand(buf, c), topic)
}

// NewACL builds an ACL from rules; rules for the same user add up, in
// order. The error names the first bad rule by its index.
func NewACL(rules []Rule) (*ACL, error) {
	a := &ACL{rules: append([]Rule(nil), rules...), users: make(map[string]*ruleSet)}
	for i, r := range rules {
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("auth: ACL rule %d (%s): %w", i+1, r, err)
		}
		allow, deny := r.Access.grants(), r.Access == RuleDeny
		if r.Pattern {
			p := compilePattern(r.Topic, allow)
			if deny {
				a.patDeny = append(a.patDeny, p)
			} else {
				a.patAllow = append(a.patAllow, p)
			}
			continue
		}
		set := a.anon
		if !r.Anonymous {
			set = a.users[r.User]
		}
		if set == nil {
			set = new(ruleSet)
			if r.Anonymous {
				a.anon = set
			} else {
				a.users[r.User] = set
			}
		}
		set.root.insert(r.Topic, allow, deny)
		if deny {
			set.denies = append(set.denies, r.Topic)
		} else {
			set.allows = append(set.allows, aclFilter{r.Topic, allow})
		}
	}
	return a, nil
}

// Rules returns the rules the ACL was built from, in order.
func (a *ACL) Rules() []Rule { return append([]Rule(nil), a.rules...) }

func (a *ACL) set(c *Client) *ruleSet {
	if c.HasUsername {
		return a.users[c.Username]
	}
	return a.anon
}

// patternsApply reports whether pattern rules may grant c anything: not
// when there are none, and not when its user name or client id holds a
// wildcard that would widen a pattern (Mosquitto denies those clients).
func (a *ACL) patternsApply(c *Client) bool {
	if len(a.patDeny)+len(a.patAllow) == 0 {
		return false
	}
	return !(c.HasUsername && strings.ContainsAny(c.Username, "+#")) && !strings.ContainsAny(c.ClientID, "+#")
}

// Allow implements Authorizer. access is one of Read, Write, Subscribe.
// Read and Write checks do not allocate when the client's id and user name
// are short (a pattern is expanded in a 256-byte stack buffer).
func (a *ACL) Allow(c *Client, topic string, access Access) bool {
	if c == nil || topic == "" {
		return false
	}
	if access&Subscribe != 0 {
		return a.allowSubscribe(c, topic)
	}
	want := access & (Read | Write)
	if want == 0 {
		return false
	}
	if set := a.set(c); set != nil {
		deny, allow := set.root.lookup(topic)
		if deny {
			return false
		}
		if allow&want != 0 {
			return true
		}
	}
	if !a.patternsApply(c) {
		return false
	}
	var buf [256]byte
	for i := range a.patDeny {
		if a.patDeny[i].match(buf[:0], c, topic) {
			return false
		}
	}
	for i := range a.patAllow {
		if p := &a.patAllow[i]; p.access&want != 0 && p.match(buf[:0], c, topic) {
			return true
		}
	}
	return false
}

// allowSubscribe denies a filter only when no topic it matches could be
// read; see the ACL doc. It errs towards allowing: what it lets through,
// the Read check at delivery still filters.
func (a *ACL) allowSubscribe(c *Client, filter string) bool {
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		if _, inner, ok := strings.Cut(rest, "/"); ok {
			filter = inner
		}
	}
	if checkFilter(filter) != nil {
		return false
	}
	if set := a.set(c); set != nil {
		for _, d := range set.denies {
			if covers(d, filter) {
				return false // this deny is checked before anything else
			}
		}
		for _, r := range set.allows {
			if r.access&Read != 0 && overlaps(r.filter, filter) {
				return true
			}
		}
	}
	if !a.patternsApply(c) {
		return false
	}
	for i := range a.patDeny {
		if p := &a.patDeny[i]; p.applies(c) && covers(p.expanded(c), filter) {
			return false
		}
	}
	for i := range a.patAllow {
		if p := &a.patAllow[i]; p.access&Read != 0 && p.applies(c) && overlaps(p.expanded(c), filter) {
			return true
		}
	}
	return false
}
