package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mastmq/mast/auth"
)

// The seed corpus is in testdata/fuzz; f.Add adds the sample files.

func FuzzParsePasswordFile(f *testing.F) {
	f.Add([]byte("alice:$7$101$esC4Z+LS1n9swBXA$PUo7e2fCuaJdTeeqfWW4Kj/ecM6FfEcZN+NgeEn35+GY9X0OBnMDil67X8Ll2Av26Avx10tTp2Q3bjWg3OqqXA==\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := auth.ParsePasswordFile("fuzz", data)
		if err != nil {
			var fe *auth.FileError
			if !errors.As(err, &fe) || fe.Line < 1 || fe.Line > strings.Count(string(data), "\n")+1 {
				t.Fatalf("error %v does not name a line of the file", err)
			}
			return
		}
		for _, u := range p.Users() {
			// Authenticate is not tried: the iteration counts come from
			// the input and may be in the billions.
			if u == "" || strings.ContainsAny(u, ":\n") || u != strings.Trim(u, " \t\r\v\f") {
				t.Fatalf("user %q", u)
			}
		}
		if err := p.Authenticate(context.Background(), &auth.Client{ClientID: "anon"}); !errors.Is(err, auth.ErrNotAuthorized) {
			t.Fatalf("anonymous: %v", err)
		}
	})
}

// aclText writes rules back as an ACL file.
func aclText(rules []auth.Rule) string {
	var b strings.Builder
	user := ""
	for _, r := range rules {
		if !r.Pattern && !r.Anonymous && r.User != user {
			user = r.User
			b.WriteString("user " + user + "\n")
		}
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}

func FuzzParseACL(f *testing.F) {
	f.Add([]byte(sampleACL), "alice", "alice-1", "a/x/y")
	f.Add([]byte("topic read $SYS/#\npattern write %c/%u/+\n"), "u", "c/d", "c/d/u/x")
	f.Fuzz(func(t *testing.T, data []byte, username, clientID, topic string) {
		a, err := auth.ParseACL("fuzz", data)
		if err != nil {
			var fe *auth.FileError
			if !errors.As(err, &fe) || fe.Line < 1 {
				t.Fatalf("error %v does not name a line", err)
			}
			return
		}
		rules := a.Rules()
		// The rules written back parse to the same rules.
		again, err := auth.ParseACL("again", []byte(aclText(rules)))
		if err != nil {
			t.Fatalf("written back:\n%s\n%v", aclText(rules), err)
		}
		if got := again.Rules(); len(got) != len(rules) {
			t.Fatalf("%d rules, then %d", len(rules), len(got))
		} else {
			for i := range got {
				if got[i] != rules[i] {
					t.Fatalf("rule %d: %+v, then %+v", i, rules[i], got[i])
				}
			}
		}
		// And a file ACL agrees with one built from its rules.
		built, err := auth.NewACL(rules)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []*auth.Client{anon(clientID), user(username, clientID)} {
			for _, acc := range []auth.Access{auth.Read, auth.Write, auth.Subscribe} {
				if a.Allow(c, topic, acc) != built.Allow(c, topic, acc) {
					t.Fatalf("%s %q differs", acc, topic)
				}
			}
		}
	})
}
