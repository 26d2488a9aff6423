package topic

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// MaxLen is the longest topic name or filter in bytes: it is a UTF-8 Encoded
// String on the wire, with a two-byte length [MQTT-4.7.3-3].
const MaxLen = 65535

// SharePrefix starts every shared-subscription filter [MQTT-4.8.2-1].
const SharePrefix = "$share/"

// ErrInvalid is wrapped by every error ValidateName and ValidateFilter return.
var ErrInvalid = errors.New("invalid topic")

// The validation errors are fixed values so that rejecting a flood of bad
// topics does not allocate. Each names the statement it enforces.
var (
	errEmpty       = invalid("empty [MQTT-4.7.3-1]")
	errTooLong     = invalid("longer than 65535 bytes [MQTT-4.7.3-3]")
	errUTF8        = invalid("not well-formed UTF-8 [MQTT-1.5.4-1]")
	errNull        = invalid("contains U+0000 [MQTT-4.7.3-2]")
	errWildName    = invalid("wildcard in a topic name [MQTT-3.3.2-2] [MQTT-4.7.1-1]")
	errHash        = invalid("'#' not alone as the last level [MQTT-4.7.1-2]")
	errPlus        = invalid("'+' not a whole level [MQTT-4.7.1-3]")
	errShareName   = invalid("empty share name [MQTT-4.8.2-1]")
	errShareWild   = invalid("share name contains '+' or '#' [MQTT-4.8.2-2]")
	errShareFilter = invalid("no topic filter after the share name [MQTT-4.8.2-2]")
)

func invalid(why string) error { return &validationError{why} }

type validationError struct{ why string }

func (e *validationError) Error() string { return ErrInvalid.Error() + ": " + e.why }
func (e *validationError) Unwrap() error { return ErrInvalid }

// checkString applies the rules common to names and filters: at least one
// character [MQTT-4.7.3-1], at most MaxLen bytes [MQTT-4.7.3-3], well-formed
// UTF-8 without surrogates [MQTT-1.5.4-1] and without U+0000 [MQTT-4.7.3-2]
// [MQTT-1.5.4-2]. Control and non-characters are allowed: the spec says
// SHOULD NOT for senders and only MAY close for receivers (§1.5.4), and
// Mosquitto-era clients do send them. It reports whether s holds a wildcard
// character.
func checkString(s string) (wild bool, err error) {
	if len(s) == 0 {
		return false, errEmpty
	}
	if len(s) > MaxLen {
		return false, errTooLong
	}
	// Whole-string scans run a word or a vector at a time; a byte loop
	// testing each rule costs twice as much on typical topics.
	if !utf8.ValidString(s) {
		// ValidString also rejects encoded surrogates and overlong
		// forms [MQTT-1.5.4-1].
		return false, errUTF8
	}
	if strings.IndexByte(s, 0) >= 0 {
		return false, errNull
	}
	wild = strings.IndexByte(s, '+') >= 0 || strings.IndexByte(s, '#') >= 0
	return wild, nil
}

// ValidateName checks a topic name as used in PUBLISH (and in a will):
// non-empty [MQTT-4.7.3-1], at most 65535 bytes [MQTT-4.7.3-3], well-formed
// UTF-8 [MQTT-1.5.4-1] without U+0000 [MQTT-4.7.3-2], and no wildcard
// characters [MQTT-3.3.2-2] [MQTT-4.7.1-1]. The returned error wraps
// ErrInvalid.
func ValidateName(name string) error {
	wild, err := checkString(name)
	if err != nil {
		return err
	}
	if wild {
		return errWildName
	}
	return nil
}

// ValidateFilter checks a topic filter as used in SUBSCRIBE and UNSUBSCRIBE,
// including a shared "$share/{group}/{filter}" one. On top of the rules for
// names except wildcards: '#' only on its own as the last level
// [MQTT-4.7.1-2]; '+' only as a whole level [MQTT-4.7.1-3]; for a shared
// filter, a group name of at least one character [MQTT-4.8.2-1] without '+'
// or '#' (it cannot hold '/', which ends it) followed by '/' and a filter
// [MQTT-4.8.2-2]. The returned error wraps ErrInvalid.
func ValidateFilter(filter string) error {
	wild, err := checkString(filter)
	if err != nil {
		return err
	}
	if strings.HasPrefix(filter, SharePrefix) {
		rest := filter[len(SharePrefix):]
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			if rest == "" {
				return errShareName
			}
			return errShareFilter
		}
		group := rest[:i]
		if group == "" {
			return errShareName
		}
		if strings.ContainsAny(group, "+#") {
			return errShareWild
		}
		filter = rest[i+1:]
		if filter == "" {
			return errShareFilter
		}
	}
	if !wild {
		return nil
	}
	for pos := 0; pos <= len(filter); {
		e := levelEnd(filter, pos)
		level := filter[pos:e]
		switch {
		case level == "+":
		case level == "#":
			if e != len(filter) {
				return errHash
			}
		case strings.IndexByte(level, '#') >= 0:
			return errHash
		case strings.IndexByte(level, '+') >= 0:
			return errPlus
		}
		pos = e + 1
	}
	return nil
}

// ParseShared splits a shared-subscription filter "$share/{group}/{filter}"
// into its group and inner filter. Any other filter is returned unchanged
// with shared false. Call it on a filter ValidateFilter accepted.
func ParseShared(filter string) (group, inner string, shared bool) {
	if !strings.HasPrefix(filter, SharePrefix) {
		return "", filter, false
	}
	rest := filter[len(SharePrefix):]
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return "", filter, false
	}
	return rest[:i], rest[i+1:], true
}

// HasWildcard reports whether filter contains '+' or '#'.
func HasWildcard(filter string) bool {
	return strings.ContainsAny(filter, "+#")
}

// levelEnd returns the index of the '/' ending the level that starts at pos,
// or len(s) for the last level. The next level starts at levelEnd+1, and a
// position past len(s) means every level has been consumed: that is how the
// matchers walk levels without splitting strings.
func levelEnd(s string, pos int) int {
	if i := strings.IndexByte(s[pos:], '/'); i >= 0 {
		return pos + i
	}
	return len(s)
}

// Match reports whether the topic name matches the (non-shared) topic
// filter. '+' matches one level, empty ones included; '#' matches the rest,
// including nothing, so "a/#" matches "a" [MQTT-4.7.1-2]; a filter starting
// with a wildcard does not match a name starting with '$' [MQTT-4.7.2-1].
// It is the reference the indexes are tested against, and does not validate
// its arguments.
func Match(filter, name string) bool {
	if name != "" && name[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false // [MQTT-4.7.2-1]
	}
	fp, np := 0, 0
	for fp <= len(filter) {
		fe := levelEnd(filter, fp)
		fl := filter[fp:fe]
		if fl == "#" {
			return true
		}
		if np > len(name) {
			return false
		}
		ne := levelEnd(name, np)
		if fl != "+" && fl != name[np:ne] {
			return false
		}
		fp, np = fe+1, ne+1
	}
	return np > len(name)
}
