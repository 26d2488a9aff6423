package auth_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mastmq/mast/auth"
)

// aclWith100Rules is 100 topic rules for one user, in the shapes real
// files have (literal, +, #, a deny), plus a few users and patterns.
func aclWith100Rules(b *testing.B) *auth.ACL {
	var s strings.Builder
	s.WriteString("topic read public/#\n")
	for u := range 5 {
		fmt.Fprintf(&s, "user other%d\ntopic readwrite other%d/#\n", u, u)
	}
	s.WriteString("user alice\n")
	for i := range 100 {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&s, "topic read site/%d/+/temperature\n", i)
		case 1:
			fmt.Fprintf(&s, "topic write site/%d/cmd/#\n", i)
		case 2:
			fmt.Fprintf(&s, "topic readwrite site/%d/status\n", i)
		default:
			fmt.Fprintf(&s, "topic deny site/%d/secret/#\n", i)
		}
	}
	s.WriteString("pattern readwrite users/%u/#\npattern read clients/%c/#\npattern deny users/%u/private\n")
	a, err := auth.ParseACL("bench", []byte(s.String()))
	if err != nil {
		b.Fatal(err)
	}
	return a
}

func BenchmarkACLAllow(b *testing.B) {
	a := aclWith100Rules(b)
	alice := &auth.Client{ClientID: "sensor-gw-17", Username: "alice", HasUsername: true}
	for _, c := range []struct {
		name   string
		topic  string
		access auth.Access
		want   bool
	}{
		{"topic-rule/read-allowed", "site/96/kitchen/temperature", auth.Read, true},
		{"topic-rule/read-denied", "site/99/secret/key", auth.Read, false},
		{"topic-rule/write-allowed", "site/97/cmd/reboot/now", auth.Write, true},
		{"pattern/%u-allowed", "users/alice/inbox", auth.Read, true},
		{"pattern/%c-allowed", "clients/sensor-gw-17/x", auth.Read, true},
		{"no-match/denied", "elsewhere/entirely/deep/topic", auth.Read, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			if a.Allow(alice, c.topic, c.access) != c.want {
				b.Fatalf("Allow(%q) != %v", c.topic, c.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				a.Allow(alice, c.topic, c.access)
			}
		})
	}
	b.Run("subscribe/wildcard", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a.Allow(alice, "site/+/+/temperature", auth.Subscribe)
		}
	})
}

func BenchmarkHashVerify(b *testing.B) {
	for _, c := range []struct {
		alg  string
		iter int
	}{{auth.AlgSHA512PBKDF2, auth.DefaultIterations}, {auth.AlgSHA512PBKDF2, 10000}, {auth.AlgSHA512, 0}} {
		h, err := auth.NewHash([]byte("password"), c.alg, c.iter)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%s-%d", c.alg, c.iter), func(b *testing.B) {
			for b.Loop() {
				h.Verify([]byte("password"))
			}
		})
	}
}
