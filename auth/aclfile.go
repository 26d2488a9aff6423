package auth

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// LoadACLFile reads and parses the Mosquitto ACL file at path.
func LoadACLFile(path string) (*ACL, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: ACL file: %w", err)
	}
	return ParseACL(path, data)
}

// ParseACL parses a Mosquitto ACL file; name is used in errors, which name
// the line. The syntax is Mosquitto's:
//
//	# comment
//	topic [read|write|readwrite|deny] TOPIC     (readwrite when omitted)
//	user NAME
//	pattern [read|write|readwrite|deny] PATTERN
//
// Topic lines before the first user line are for anonymous clients; those
// after "user NAME" for that user, until the next user line. TOPIC runs to
// the end of the line and may hold spaces. Where Mosquitto is stricter
// about spacing (it splits on single spaces only) this parser also
// accepts tabs and indented comments; every line Mosquitto accepts means
// the same here, and every line it refuses is an error here too.
func ParseACL(name string, data []byte) (*ACL, error) {
	var rules []Rule
	user, anonymous := "", true
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		fail := func(err error) (*ACL, error) {
			return nil, &FileError{File: name, Line: n, Err: err}
		}
		line = strings.Trim(line, blanks)
		if line == "" || line[0] == '#' {
			continue
		}
		word, rest := cutField(line)
		switch word {
		case "user":
			if rest == "" {
				return fail(errors.New("missing user name"))
			}
			user, anonymous = rest, false
		case "topic", "pattern":
			if rest == "" {
				return fail(errors.New("empty topic"))
			}
			r := Rule{Pattern: word == "pattern", Access: RuleReadWrite}
			first, topic := cutField(rest)
			if topic == "" {
				// A single word is the topic ("topic read" is the topic "read").
				topic = first
			} else {
				a, ok := parseRuleAccess(first)
				if !ok {
					return fail(fmt.Errorf("invalid access %q: want read, write, readwrite or deny", first))
				}
				r.Access = a
			}
			r.Topic = topic
			if !r.Pattern {
				r.User, r.Anonymous = user, anonymous
			}
			if err := r.check(); err != nil {
				return fail(err)
			}
			rules = append(rules, r)
		default:
			return fail(fmt.Errorf("unknown directive %q: want topic, pattern or user", word))
		}
	}
	a, err := NewACL(rules)
	if err != nil {
		return nil, &FileError{File: name, Err: err} // unreachable: each rule was checked
	}
	return a, nil
}

// cutField splits s at its first run of blanks, trimming them.
func cutField(s string) (word, rest string) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.Trim(s[i:], blanks)
}
