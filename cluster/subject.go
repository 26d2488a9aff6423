package cluster

import (
	"strings"
)

// Subject roots: ordinary topics and '$' topics live apart, so that a
// filter starting with a wildcard, which MQTT forbids from matching a
// '$' topic [MQTT-4.7.2-1], cannot match one in NATS either.
const (
	rootTopics = "mqtt"
	rootSystem = "msys"
)

// emptyLevel is the token for an empty MQTT level ("a//b", "/a"): NATS
// has no empty tokens, and escaping never yields a lone '%'.
const emptyLevel = "%"

// needsEscape reports the bytes that cannot appear in a NATS subject
// token as themselves: the separator, the wildcards, white space and
// control bytes, and '%', the escape character.
func needsEscape(b byte) bool {
	return b == '.' || b == '*' || b == '>' || b == '%' || b <= ' ' || b == 0x7F
}

const hexDigits = "0123456789ABCDEF"

func appendToken(dst []byte, level string) []byte {
	if level == "" {
		return append(dst, emptyLevel...)
	}
	for i := 0; i < len(level); i++ {
		b := level[i]
		if needsEscape(b) {
			dst = append(dst, '%', hexDigits[b>>4], hexDigits[b&15])
			continue
		}
		dst = append(dst, b)
	}
	return dst
}

func root(topic string) string {
	if strings.HasPrefix(topic, "$") {
		return rootSystem
	}
	return rootTopics
}

// TopicSubject maps an MQTT topic name to its NATS subject.
func TopicSubject(topic string) string {
	b := make([]byte, 0, len(topic)+8)
	b = append(b, root(topic)...)
	for level := range strings.SplitSeq(topic, "/") {
		b = append(b, '.')
		b = appendToken(b, level)
	}
	return string(b)
}

// FilterSubjects maps a (non-shared) MQTT topic filter to the NATS
// subjects that together match exactly the subjects of the topics it
// matches: one subject, or two for a trailing '#' ("a/#" matches "a" as
// well as everything below it [MQTT-4.7.1-2]).
func FilterSubjects(filter string) []string {
	levels := strings.Split(filter, "/")
	b := make([]byte, 0, len(filter)+8)
	b = append(b, root(filter)...)
	for i, level := range levels {
		switch {
		case level == "#":
			if i == 0 {
				// "#" alone: every ordinary topic has at least one level.
				return []string{string(append(b, ".>"...))}
			}
			parent := string(b)
			return []string{parent, parent + ".>"}
		case level == "+":
			b = append(b, ".*"...)
		default:
			b = append(b, '.')
			b = appendToken(b, level)
		}
	}
	return []string{string(b)}
}

// SubjectTopic maps a subject made by TopicSubject back to its topic. It
// reports false for a subject of another shape.
func SubjectTopic(subject string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, rootTopics+".")
	if !ok {
		if rest, ok = strings.CutPrefix(subject, rootSystem+"."); !ok {
			return "", false
		}
	}
	var b strings.Builder
	for i, tok := range strings.Split(rest, ".") {
		if i > 0 {
			b.WriteByte('/')
		}
		if tok == emptyLevel {
			continue
		}
		for j := 0; j < len(tok); j++ {
			c := tok[j]
			if c != '%' {
				b.WriteByte(c)
				continue
			}
			if j+2 >= len(tok) {
				return "", false
			}
			hi, lo := unhex(tok[j+1]), unhex(tok[j+2])
			if hi < 0 || lo < 0 {
				return "", false
			}
			b.WriteByte(byte(hi<<4 | lo))
			j += 2
		}
	}
	t := b.String()
	if (root(t) == rootSystem) != strings.HasPrefix(subject, rootSystem+".") {
		return "", false
	}
	return t, true
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
