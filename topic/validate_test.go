package topic_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mastmq/mast/topic"
)

// Cases shared by the name and filter tests: rules common to both.
var commonCases = []struct {
	name string
	s    string
	ok   bool
	rule string
}{
	{"one character", "a", true, "MQTT-4.7.3-1"},
	{"empty", "", false, "MQTT-4.7.3-1"},
	{"only a separator", "/", true, "§4.7.1.1"},
	{"leading separator", "/a", true, "§4.7.1.1"},
	{"trailing separator", "a/", true, "§4.7.1.1"},
	{"empty middle level", "a//b", true, "§4.7.1.1"},
	{"space", "a b/c d", true, "§4.7.3"},
	{"dollar topic", "$SYS/broker/load", true, "§4.7.2"},
	{"65535 bytes", strings.Repeat("a", 65535), true, "MQTT-4.7.3-3"},
	{"65536 bytes", strings.Repeat("a", 65536), false, "MQTT-4.7.3-3"},
	{"null character", "a\x00b", false, "MQTT-4.7.3-2"},
	{"multibyte UTF-8", "häuser/Küche/温度/🌡", true, "MQTT-1.5.4-1"},
	{"U+FFFD encoded", "a\uFFFDb", true, "MQTT-1.5.4-1"},
	{"invalid byte", "a\xffb", false, "MQTT-1.5.4-1"},
	{"truncated sequence", "a\xe6\xb8", false, "MQTT-1.5.4-1"},
	{"overlong '/'", "a\xc0\xafb", false, "MQTT-1.5.4-1"},
	{"encoded surrogate U+D800", "a\xed\xa0\x80", false, "MQTT-1.5.4-1"},
	{"control character", "a\x01b", true, "§1.5.4 SHOULD NOT only"},
}

func TestValidateName(t *testing.T) {
	cases := append([]struct {
		name string
		s    string
		ok   bool
		rule string
	}{
		{"plus", "a/+", false, "MQTT-3.3.2-2 MQTT-4.7.1-1"},
		{"hash", "a/#", false, "MQTT-3.3.2-2 MQTT-4.7.1-1"},
		{"plus inside a level", "a+b", false, "MQTT-4.7.1-1"},
		{"hash inside a level", "a#b", false, "MQTT-4.7.1-1"},
		{"share prefix is just a name", "$share/g/a", true, "§4.8.2"},
	}, commonCases...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := topic.ValidateName(c.s)
			if c.ok && err != nil {
				t.Fatalf("ValidateName(%.40q) = %v, want nil [%s]", c.s, err, c.rule)
			}
			if !c.ok && !errors.Is(err, topic.ErrInvalid) {
				t.Fatalf("ValidateName(%.40q) = %v, want ErrInvalid [%s]", c.s, err, c.rule)
			}
		})
	}
}

func TestValidateFilter(t *testing.T) {
	cases := append([]struct {
		name string
		s    string
		ok   bool
		rule string
	}{
		{"hash alone", "#", true, "MQTT-4.7.1-2"},
		{"hash last", "a/b/#", true, "MQTT-4.7.1-2"},
		{"hash after empty level", "/#", true, "MQTT-4.7.1-2"},
		{"hash not last", "a/#/b", false, "MQTT-4.7.1-2"},
		{"hash twice", "#/#", false, "MQTT-4.7.1-2"},
		{"hash glued after", "a/b#", false, "MQTT-4.7.1-2"},
		{"hash glued before", "a/#b", false, "MQTT-4.7.1-2"},
		{"hash then separator", "#/", false, "MQTT-4.7.1-2"},
		{"plus alone", "+", true, "MQTT-4.7.1-3"},
		{"plus levels", "+/a/+/+", true, "MQTT-4.7.1-3"},
		{"plus and hash", "+/#", true, "MQTT-4.7.1-3"},
		{"plus empty levels", "+//+/", true, "MQTT-4.7.1-3"},
		{"plus glued after", "a+", false, "MQTT-4.7.1-3"},
		{"plus glued before", "a/+b", false, "MQTT-4.7.1-3"},
		{"plus doubled", "a/++", false, "MQTT-4.7.1-3"},
		{"plus and hash glued", "a/+#", false, "MQTT-4.7.1-2"},
		{"shared", "$share/g/a/b", true, "MQTT-4.8.2-1"},
		{"shared wildcards", "$share/g/+/#", true, "MQTT-4.8.2-1"},
		{"shared hash", "$share/consumers/#", true, "MQTT-4.8.2-1"},
		{"shared leading separator", "$share/g//a", true, "MQTT-4.8.2-2"},
		{"shared only a separator", "$share/g//", true, "MQTT-4.8.2-2"},
		{"shared empty group", "$share//a", false, "MQTT-4.8.2-1"},
		{"shared nothing", "$share/", false, "MQTT-4.8.2-1"},
		{"shared no filter", "$share/g", false, "MQTT-4.8.2-2"},
		{"shared empty filter", "$share/g/", false, "MQTT-4.8.2-2"},
		{"shared group with plus", "$share/g+/a", false, "MQTT-4.8.2-2"},
		{"shared group plus", "$share/+/a", false, "MQTT-4.8.2-2"},
		{"shared group with hash", "$share/#/a", false, "MQTT-4.8.2-2"},
		{"shared bad inner hash", "$share/g/a/#/b", false, "MQTT-4.7.1-2"},
		{"shared bad inner plus", "$share/g/a+", false, "MQTT-4.7.1-3"},
		{"share without slash is plain", "$share", true, "MQTT-4.8.2-1"},
		{"$sharex is plain", "$sharex/+", true, "MQTT-4.8.2-1"},
	}, commonCases...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := topic.ValidateFilter(c.s)
			if c.ok && err != nil {
				t.Fatalf("ValidateFilter(%.40q) = %v, want nil [%s]", c.s, err, c.rule)
			}
			if !c.ok && !errors.Is(err, topic.ErrInvalid) {
				t.Fatalf("ValidateFilter(%.40q) = %v, want ErrInvalid [%s]", c.s, err, c.rule)
			}
		})
	}
}

func TestErrorNamesRule(t *testing.T) {
	err := topic.ValidateFilter("a/#/b")
	if !strings.Contains(err.Error(), "MQTT-4.7.1-2") || !strings.HasPrefix(err.Error(), "invalid topic") {
		t.Fatalf("error %q should start with ErrInvalid's text and name the rule", err)
	}
}

func TestParseShared(t *testing.T) {
	cases := []struct {
		in, group, filter string
		shared            bool
	}{
		{"$share/g/a/b", "g", "a/b", true},
		{"$share/consumer1/sport/tennis/+", "consumer1", "sport/tennis/+", true},
		{"$share/consumer1//finance", "consumer1", "/finance", true},
		{"$share/g/#", "g", "#", true},
		{"a/b", "", "a/b", false},
		{"$share", "", "$share", false},
		{"$SYS/#", "", "$SYS/#", false},
	}
	for _, c := range cases {
		g, f, s := topic.ParseShared(c.in)
		if g != c.group || f != c.filter || s != c.shared {
			t.Errorf("ParseShared(%q) = %q, %q, %v; want %q, %q, %v", c.in, g, f, s, c.group, c.filter, c.shared)
		}
	}
}

func TestHasWildcard(t *testing.T) {
	for s, want := range map[string]bool{"a/b": false, "a/+": true, "#": true, "$share/g/a": false, "": false} {
		if got := topic.HasWildcard(s); got != want {
			t.Errorf("HasWildcard(%q) = %v", s, got)
		}
	}
}

func TestValidateAllocs(t *testing.T) {
	name, filter := "house/room1/sensor/temperature", "house/+/sensor/#"
	if n := testing.AllocsPerRun(100, func() {
		_ = topic.ValidateName(name)
		_ = topic.ValidateFilter(filter)
		_ = topic.ValidateFilter("a/#/b")
	}); n != 0 {
		t.Fatalf("validation allocates %v times", n)
	}
}
