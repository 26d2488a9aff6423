package cluster_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mastmq/mast/cluster"
	"github.com/mastmq/mast/topic"
)

// natsMatch is NATS's subject matching: '*' one token, '>' one or more
// trailing tokens.
func natsMatch(sub, subject string) bool {
	st, tt := strings.Split(sub, "."), strings.Split(subject, ".")
	for i, s := range st {
		if s == ">" {
			return len(tt) > i
		}
		if i >= len(tt) || (s != "*" && s != tt[i]) {
			return false
		}
	}
	return len(st) == len(tt)
}

func validNATSSubject(s string) bool {
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
			return false
		}
		if strings.ContainsAny(tok, "*>") && tok != "*" && tok != ">" {
			return false
		}
	}
	return true
}

var alphabet = []string{"a", "b", "", "*", ">", ".", "%", " ", "$SYS", "$x", "é", "%25", "\x01"}

func randomTopic(r *rand.Rand) string {
	n := 1 + r.IntN(4)
	levels := make([]string, n)
	for i := range levels {
		levels[i] = alphabet[r.IntN(len(alphabet))]
		if r.IntN(4) == 0 {
			levels[i] += alphabet[r.IntN(len(alphabet))]
		}
	}
	return strings.Join(levels, "/")
}

func randomFilter(r *rand.Rand) string {
	n := 1 + r.IntN(4)
	levels := make([]string, n)
	for i := range levels {
		switch r.IntN(5) {
		case 0:
			levels[i] = "+"
		case 1:
			if i == n-1 {
				levels[i] = "#"
				continue
			}
			fallthrough
		default:
			levels[i] = alphabet[r.IntN(len(alphabet))]
		}
	}
	return strings.Join(levels, "/")
}

// TestMappingAgreesWithMQTT checks, over random topics and filters, that a
// filter's subjects match a topic's subject exactly when the MQTT filter
// matches the topic (the brute-force matcher of package topic), and that
// the topic mapping is injective and reversible.
func TestMappingAgreesWithMQTT(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[string]string{}
	for range 20000 {
		name := randomTopic(r)
		if topic.ValidateName(name) != nil {
			continue
		}
		subj := cluster.TopicSubject(name)
		if !validNATSSubject(subj) {
			t.Fatalf("topic %q gave invalid subject %q", name, subj)
		}
		if other, ok := seen[subj]; ok && other != name {
			t.Fatalf("topics %q and %q both map to %q", other, name, subj)
		}
		seen[subj] = name
		back, ok := cluster.SubjectTopic(subj)
		if !ok || back != name {
			t.Fatalf("SubjectTopic(%q) = %q, %v; want %q", subj, back, ok, name)
		}
		filter := randomFilter(r)
		if topic.ValidateFilter(filter) != nil {
			continue
		}
		want := topic.Match(filter, name)
		got := false
		for _, fs := range cluster.FilterSubjects(filter) {
			if !validNATSSubject(fs) {
				t.Fatalf("filter %q gave invalid subject %q", filter, fs)
			}
			got = got || natsMatch(fs, subj)
		}
		if got != want {
			t.Fatalf("filter %q topic %q: NATS match %v, MQTT match %v (subjects %v, %q)",
				filter, name, got, want, cluster.FilterSubjects(filter), subj)
		}
	}
}

func TestMappingExamples(t *testing.T) {
	cases := []struct{ in, want string }{
		{"house/sensor1", "mqtt.house.sensor1"},
		{"a//b", "mqtt.a.%.b"},
		{"a.b/*/>", "mqtt.a%2Eb.%2A.%3E"},
		{"$SYS/broker/uptime", "msys.$SYS.broker.uptime"},
	}
	for _, c := range cases {
		if got := cluster.TopicSubject(c.in); got != c.want {
			t.Errorf("TopicSubject(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := cluster.FilterSubjects("a/#"); len(got) != 2 || got[0] != "mqtt.a" || got[1] != "mqtt.a.>" {
		t.Errorf("FilterSubjects(a/#) = %v", got)
	}
	if got := cluster.FilterSubjects("+/x"); got[0] != "mqtt.*.x" {
		t.Errorf("FilterSubjects(+/x) = %v", got)
	}
}
