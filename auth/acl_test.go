package auth_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mastmq/mast/auth"
)

const sampleACL = `# Rules for anonymous clients come first.
topic read public/#
topic write anon/in
topic deny public/secret

user alice
topic read a/#
topic deny a/secret/#
topic write a/out
topic readwrite shared/+/data
topic read $SYS/broker/#
topic a/both

user bob
topic write b/#
topic read b/in

# A second section for alice adds to the first.
user alice
topic read more/alice

# Patterns apply to everyone, wherever they stand.
pattern readwrite users/%u/#
pattern deny users/%u/private
pattern read clients/%c/#
pattern write up/%c/%u
pattern write open/#
pattern read 100%/%c
`

func mustACL(t testing.TB, text string) *auth.ACL {
	t.Helper()
	a, err := auth.ParseACL("test.acl", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func user(name, id string) *auth.Client {
	return &auth.Client{ClientID: id, Username: name, HasUsername: true}
}

func anon(id string) *auth.Client { return &auth.Client{ClientID: id} }

func TestACLAllow(t *testing.T) {
	a := mustACL(t, sampleACL)
	alice, bob, carol := user("alice", "alice-1"), user("bob", "bob-1"), user("carol", "carol-1")
	for _, c := range []struct {
		client *auth.Client
		topic  string
		access auth.Access
		want   bool
	}{
		// Anonymous clients get the rules before the first user line.
		{anon("x"), "public/news", auth.Read, true},
		{anon("x"), "public/news", auth.Write, false},
		{anon("x"), "public/secret", auth.Read, false}, // deny wins, wherever it stands
		{anon("x"), "anon/in", auth.Write, true},
		{anon("x"), "a/x", auth.Read, false},
		// ... and named users do not.
		{alice, "public/news", auth.Read, false},
		{user("", "e"), "public/news", auth.Read, false}, // an empty user name is a user name
		// A user's rules.
		{alice, "a/x/y", auth.Read, true},
		{alice, "a/x/y", auth.Write, false},
		{alice, "a/secret", auth.Read, false},
		{alice, "a/secret/deeper", auth.Read, false},
		{alice, "a/secretive", auth.Read, true},
		{alice, "a/out", auth.Write, true},
		{alice, "a/out", auth.Read, true}, // a/# grants it
		{alice, "a/both", auth.Write, true},
		{alice, "shared/7/data", auth.Write, true},
		{alice, "shared/7/8/data", auth.Write, false},
		{alice, "more/alice", auth.Read, true}, // the second section
		{alice, "more/alice", auth.Write, false},
		{bob, "b/x/y", auth.Write, true},
		{bob, "b/in", auth.Read, true},
		{bob, "b/out", auth.Read, false},
		{bob, "a/x", auth.Read, false},
		// $-topics need a rule that starts with $.
		{alice, "$SYS/broker/uptime", auth.Read, true},
		{alice, "$SYS/other", auth.Read, false},
		// Patterns, for users with a section and without.
		{alice, "users/alice/x", auth.Write, true},
		{alice, "users/alice", auth.Read, true},
		{alice, "users/alice/private", auth.Read, false},
		{alice, "users/bob/x", auth.Read, false},
		{carol, "users/carol/x", auth.Read, true},
		{carol, "clients/carol-1/t", auth.Read, true},
		{carol, "clients/carol-1/t", auth.Write, false},
		{carol, "clients/carol-2/t", auth.Read, false},
		{carol, "up/carol-1/carol", auth.Write, true},
		{carol, "up/carol-1/bob", auth.Write, false},
		{carol, "open/x", auth.Write, true},
		{carol, "100%/carol-1", auth.Read, true}, // a lone % is itself
		// %u patterns skip clients without a user name; %c ones do not.
		{anon("dev"), "users//x", auth.Read, false},
		{anon("dev"), "clients/dev/x", auth.Read, true},
		{anon("dev"), "open/x", auth.Write, true},
		// A client id with a / spans levels, as Mosquitto's text
		// substitution has it.
		{anon("dev/1"), "clients/dev/1/x", auth.Read, true},
		// A user name or client id holding a wildcard gets nothing from
		// patterns, but keeps its topic rules.
		{anon("c+1"), "open/x", auth.Write, false},
		{anon("c#"), "clients/c#/x", auth.Read, false},
		{anon("c+1"), "public/x", auth.Read, true},
		{user("da#ve", "d"), "open/x", auth.Write, false},
		// The user-list deny comes before patterns; a user-list allow too.
		{alice, "a/secret", auth.Read, false},
		// Nothing is granted by default, and bad questions are denied.
		{carol, "elsewhere", auth.Read, false},
		{alice, "", auth.Read, false},
		{alice, "a/x", 0, false},
		{nil, "a/x", auth.Read, false},
	} {
		if got := a.Allow(c.client, c.topic, c.access); got != c.want {
			who := "anonymous"
			if c.client != nil && c.client.HasUsername {
				who = "user " + c.client.Username
			}
			if c.client != nil {
				who += " (" + c.client.ClientID + ")"
			}
			t.Errorf("%s %s %q: %v, want %v", who, c.access, c.topic, got, c.want)
		}
	}
}

func TestACLUserRuleBeatsPatternDeny(t *testing.T) {
	// Mosquitto checks the user's own rules to the end before any pattern:
	// an allow there is final, even against a pattern deny.
	a := mustACL(t, "user alice\ntopic read x/#\npattern deny x/%u\n")
	if !a.Allow(user("alice", "c"), "x/alice", auth.Read) {
		t.Error("the pattern deny overrode alice's own allow")
	}
	if a.Allow(user("bob", "c"), "x/bob", auth.Read) {
		t.Error("bob got access")
	}
}

func TestACLEmpty(t *testing.T) {
	a := mustACL(t, "# nothing\n")
	for _, c := range []*auth.Client{anon("x"), user("alice", "a")} {
		for _, acc := range []auth.Access{auth.Read, auth.Write, auth.Subscribe} {
			if a.Allow(c, "t", acc) {
				t.Errorf("an empty ACL allows %s", acc)
			}
		}
	}
}

func TestACLSubscribe(t *testing.T) {
	a := mustACL(t, sampleACL)
	alice, bob, carol := user("alice", "alice-1"), user("bob", "bob-1"), user("carol", "carol-1")
	for _, c := range []struct {
		client *auth.Client
		filter string
		want   bool
	}{
		// Granted whenever some topic under the filter may be read, even if
		// others may not: the delivery check sorts them out.
		{alice, "a/#", true},
		{alice, "#", true},
		{alice, "+/x", true},
		{alice, "a/secret/x", false}, // wholly under a deny
		{alice, "a/secret/#", false},
		{alice, "a/+/x", true},
		{alice, "$SYS/#", true},
		{alice, "$SYS/broker/load", true},
		{alice, "$SYS/other", false},
		{alice, "b/#", false},
		{alice, "users/alice/#", true},
		{alice, "users/alice/private", false},
		// Only users/alice/private could be read, and a deny takes it; but
		// no one rule covers the whole filter, so the check errs towards
		// granting, and every delivery will be denied.
		{alice, "users/+/private", true},
		{alice, "users/+/x", true},
		{alice, "$share/g/a/#", true},
		{alice, "$share/g/b/#", false},
		{bob, "b/#", true}, // b/in is readable
		{bob, "b/out", false},
		{carol, "clients/carol-1/#", true},
		{carol, "clients/+/x", true},
		{carol, "clients/carol-2/#", false},
		{carol, "open/#", false}, // write only
		{anon("x"), "public/#", true},
		{anon("x"), "public/secret", false},
		{anon("x"), "#", true},
		{anon("x"), "users/#", false},
		{anon("c+1"), "clients/#", false},
		{alice, "a/#/x", false}, // not a filter
		{alice, "", false},
	} {
		if got := a.Allow(c.client, c.filter, auth.Subscribe); got != c.want {
			t.Errorf("%s subscribe %q: %v, want %v", c.client.Username, c.filter, got, c.want)
		}
	}
}

func TestParseACLErrors(t *testing.T) {
	for _, c := range []struct {
		name, text string
		line       int
		msg        string
	}{
		{"unknown access", "\ntopic readonly a/b\n", 2, `invalid access "readonly"`},
		{"user without name", "user\n", 1, "missing user name"},
		{"user with blanks only", "user   \t\n", 1, "missing user name"},
		{"empty topic", "topic\n", 1, "empty topic"},
		{"bad wildcard", "user a\ntopic read a/b#\n", 2, "wildcard"},
		{"hash not last", "pattern read #/%u\n", 1, "last level"},
		{"unknown directive", "# ok\ntopics read a\n", 2, `unknown directive "topics"`},
		{"stray word", "alice\n", 1, "unknown directive"},
	} {
		_, err := auth.ParseACL("x.acl", []byte(c.text))
		var fe *auth.FileError
		if !errors.As(err, &fe) || fe.File != "x.acl" || fe.Line != c.line || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want x.acl line %d saying %s", c.name, err, c.line, c.msg)
		}
	}
}

func TestParseACLSyntax(t *testing.T) {
	a := mustACL(t, "topic read\n"+ // a lone word is the topic: readwrite "read"
		"  # indented comment\r\n"+
		"user  bob smith \r\n"+ // user names may hold spaces
		"topic\tdeny\ta b  \n"+ // topics too; tabs as blanks
		"topic x/y\n")
	want := []auth.Rule{
		{Anonymous: true, Access: auth.RuleReadWrite, Topic: "read"},
		{User: "bob smith", Access: auth.RuleDeny, Topic: "a b"},
		{User: "bob smith", Access: auth.RuleReadWrite, Topic: "x/y"},
	}
	got := a.Rules()
	if len(got) != len(want) {
		t.Fatalf("rules %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("rule %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if !a.Allow(anon("x"), "read", auth.Write) || !a.Allow(user("bob smith", "c"), "x/y", auth.Read) {
		t.Error("rules not applied")
	}
}

func TestLoadACLFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acl")
	if err := os.WriteFile(path, []byte(sampleACL), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := auth.LoadACLFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Allow(user("alice", "x"), "a/b", auth.Read) {
		t.Error("loaded ACL does not allow")
	}
	if _, err := auth.LoadACLFile(path + ".missing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestNewACLSameAsFile builds the sample's rules directly, as YAML would,
// and checks the two ACLs agree.
func TestNewACLSameAsFile(t *testing.T) {
	fromFile := mustACL(t, sampleACL)
	fromRules, err := auth.NewACL(fromFile.Rules())
	if err != nil {
		t.Fatal(err)
	}
	clients := []*auth.Client{anon("x"), user("alice", "alice-1"), user("bob", "b"), user("carol", "carol-1")}
	for _, c := range clients {
		for _, tp := range []string{"public/x", "a/x", "a/secret", "users/alice/x", "clients/carol-1/x", "b/in", "open/1"} {
			for _, acc := range []auth.Access{auth.Read, auth.Write, auth.Subscribe} {
				if fromFile.Allow(c, tp, acc) != fromRules.Allow(c, tp, acc) {
					t.Errorf("%s %s %s differs", c.Username, acc, tp)
				}
			}
		}
	}
}

func TestNewACLErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		rule auth.Rule
		msg  string
	}{
		{"no access", auth.Rule{User: "a", Topic: "x"}, "access"},
		{"no one", auth.Rule{Access: auth.RuleRead, Topic: "x"}, "needs a user"},
		{"both", auth.Rule{User: "a", Anonymous: true, Access: auth.RuleRead, Topic: "x"}, "not both"},
		{"pattern with user", auth.Rule{User: "a", Pattern: true, Access: auth.RuleRead, Topic: "x/%u"}, "takes no user"},
		{"bad topic", auth.Rule{User: "a", Access: auth.RuleRead, Topic: "x#"}, "wildcard"},
	} {
		_, err := auth.NewACL([]auth.Rule{{Anonymous: true, Access: auth.RuleRead, Topic: "ok"}, c.rule})
		if err == nil || !strings.Contains(err.Error(), "rule 2") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want rule 2 saying %q", c.name, err, c.msg)
		}
	}
}

func TestRuleAccessText(t *testing.T) {
	var rules []auth.Rule
	in := `[{"user":"a","access":"readwrite","topic":"x/#"},{"pattern":true,"access":"deny","topic":"p/%c"}]`
	if err := json.Unmarshal([]byte(in), &rules); err != nil {
		t.Fatal(err)
	}
	if rules[0].Access != auth.RuleReadWrite || rules[1].Access != auth.RuleDeny || !rules[1].Pattern {
		t.Fatalf("%+v", rules)
	}
	out, err := json.Marshal(rules)
	if err != nil || string(out) != in {
		t.Errorf("round trip: %s %v", out, err)
	}
	if err := json.Unmarshal([]byte(`[{"access":"all"}]`), &rules); err == nil {
		t.Error("access all accepted")
	}
	if s := (auth.Rule{Pattern: true, Access: auth.RuleWrite, Topic: "a/%u"}).String(); s != "pattern write a/%u" {
		t.Errorf("String: %q", s)
	}
}

func TestACLAllocations(t *testing.T) {
	a := mustACL(t, sampleACL)
	alice, carol := user("alice", "alice-1"), user("carol", "carol-1")
	for _, c := range []struct {
		client *auth.Client
		topic  string
	}{
		{alice, "a/x/y"},                   // topic rule
		{alice, "zzz/not/matched"},         // through every pattern
		{carol, "clients/carol-1/t"},       // pattern
		{anon("dev"), "clients/dev/x/y/z"}, // pattern, anonymous
	} {
		if n := testing.AllocsPerRun(100, func() { a.Allow(c.client, c.topic, auth.Read) }); n != 0 {
			t.Errorf("Allow(%s, %q) allocates %v times", c.client.Username, c.topic, n)
		}
	}
}
