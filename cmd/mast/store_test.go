package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mastmq/mast/store"
	pebblestore "github.com/mastmq/mast/store/pebble"
	"github.com/mastmq/mast/store/storetest"
)

// runMast runs the mast command line with args and returns its exit code
// and output.
func runMast(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// sampleDir makes a data directory holding storetest.Sample.
func sampleDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	s, err := pebblestore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(storetest.Sample(), true); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestStoreExportImportRoundTrip(t *testing.T) {
	src := sampleDir(t)
	code, exported, stderr := runMast(t, "store", "export", "--data-dir", src)
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(exported, "\n"), "\n")
	if want := len(storetest.Sample().Ops); len(lines) != want {
		t.Fatalf("export wrote %d lines, want %d:\n%s", len(lines), want, exported)
	}
	for i, l := range lines {
		var head struct{ Kind string }
		if err := json.Unmarshal([]byte(l), &head); err != nil || head.Kind == "" {
			t.Fatalf("line %d is not an object with a kind (%v): %s", i+1, err, l)
		}
	}

	file := filepath.Join(t.TempDir(), "export.jsonl")
	if err := os.WriteFile(file, []byte(exported), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "new")
	code, stdout, stderr := runMast(t, "store", "import", "--data-dir", dst, "-i", file)
	if code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "imported 17 records") || !strings.Contains(stdout, "4 sessions, 4 outbound, 4 inbound, 5 retained") {
		t.Errorf("import said %q", stdout)
	}
	out := filepath.Join(t.TempDir(), "again.jsonl")
	if code, _, stderr := runMast(t, "store", "export", "--data-dir", dst, "-o", out); code != 0 {
		t.Fatalf("second export: exit %d: %s", code, stderr)
	}
	again, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != exported {
		t.Fatalf("export after import differs:\nfirst  %s\nsecond %s", exported, again)
	}

	// And the store holds exactly the sample, every field of it.
	s, err := pebblestore.Open(dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var want storetest.Contents
	for _, op := range storetest.Sample().Ops {
		switch op.Kind {
		case store.PutSession:
			want.Sessions = append(want.Sessions, op.Session)
		case store.PutOutbound:
			want.Outbound = append(want.Outbound, op.Outbound)
		case store.PutInbound:
			want.Inbound = append(want.Inbound, storetest.Inbound{ClientID: op.ClientID, PacketID: op.PacketID})
		case store.PutRetained:
			want.Retained = append(want.Retained, op.Retained)
		}
	}
	if diff, ok := storetest.Equal(storetest.Load(t, s), &want); !ok {
		t.Fatal(diff)
	}
}

func TestStoreExportFormat(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, err := pebblestore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b store.Batch
	b.PutRetained(&store.Message{Topic: "house/main-light", Payload: []byte("on"), QoS: 1, Retain: true})
	b.PutSession(&store.Session{ClientID: "c1", Version: 5, Expiry: 60,
		Subscriptions: []store.Subscription{{Filter: "house/#", QoS: 1}}})
	if err := s.Commit(&b, true); err != nil {
		t.Fatal(err)
	}
	s.Close()
	code, stdout, stderr := runMast(t, "store", "export", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	want := `{"kind":"session","client_id":"c1","version":5,"expiry":60,"subscriptions":[{"filter":"house/#","qos":1}]}
{"kind":"retained","topic":"house/main-light","payload":"b24=","qos":1,"retain":true,"properties":null}
`
	if stdout != want {
		t.Fatalf("export:\n%s\nwant\n%s", stdout, want)
	}
}

func TestStoreInspect(t *testing.T) {
	dir := sampleDir(t)
	code, stdout, stderr := runMast(t, "store", "inspect", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, stderr)
	}
	fields := inspectFields(stdout)
	for k, v := range map[string]string{"format": "version 1", "directory": "size", "session": "4",
		"outbound": "4", "inbound": "4", "retained": "5", "total": "17"} {
		if !strings.HasPrefix(fields[k], v) {
			t.Errorf("inspect: %s %q, want %q...:\n%s", k, fields[k], v, stdout)
		}
	}
}

func TestStoreCompact(t *testing.T) {
	dir := sampleDir(t)
	code, stdout, stderr := runMast(t, "store", "compact", "--data-dir", dir)
	if code != 0 || !strings.HasPrefix(stdout, "compacted ") {
		t.Fatalf("compact: exit %d: %s%s", code, stdout, stderr)
	}
	code, stdout, _ = runMast(t, "store", "inspect", "--data-dir", dir)
	if code != 0 || !strings.HasPrefix(inspectFields(stdout)["total"], "17 ") {
		t.Fatalf("inspect after compact: exit %d:\n%s", code, stdout)
	}
}

// TestStoreRefusesLockedDirectory: every command refuses a directory a
// running broker holds.
func TestStoreRefusesLockedDirectory(t *testing.T) {
	dir := sampleDir(t)
	s, err := pebblestore.Open(dir, nil) // the "broker"
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(`{"kind":"inbound","client_id":"x","packet_id":1}`+"\n"), 0o644)
	for _, args := range [][]string{{"inspect"}, {"export"}, {"import", "-i", in}, {"compact"}} {
		code, _, stderr := runMast(t, append(append([]string{"store"}, args...), "--data-dir", dir)...)
		if code != 1 || !strings.Contains(stderr, "is in use by") || !strings.Contains(stderr, "stop it first") {
			t.Errorf("store %s on a held directory: exit %d, %q", args[0], code, stderr)
		}
	}
}

func TestStoreErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"store"}, 2, "usage: mast store"},
		{[]string{"store", "frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"store", "inspect", "--data-dir", missing}, 1, "no mast data directory at " + missing},
		{[]string{"store", "export", "--data-dir", missing}, 1, "no mast data directory"},
		{[]string{"store", "compact", "--data-dir", missing}, 1, "no mast data directory"},
		{[]string{"store", "inspect", "--data-dir", missing, "extra"}, 2, "unexpected argument"},
	} {
		code, _, stderr := runMast(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.says) {
			t.Errorf("mast %s: exit %d, %q; want exit %d saying %q", strings.Join(tc.args, " "), code, stderr, tc.code, tc.says)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("a command created %s", missing)
	}

	// Bad input stops an import at the record, saying which.
	dir := filepath.Join(t.TempDir(), "data")
	for _, tc := range []struct{ input, says string }{
		{`{"kind":"retained","topic":"a"}` + "\n" + `{"kind":"teapot"}`, `record 2: unknown kind "teapot"`},
		{`{"kind":"inbound","client_id":"x","packet_id":1,"colour":"red"}`, `record 1: json: unknown field "colour"`},
		{`{"kind":"retained","topic":"a"` + "\n", "record 1: unexpected EOF"},
		{`{"kind":"retained","topic":"a","qos":3}`, "records 1 to 1: store/pebble: op 0: retained \"a\": QoS 3 out of range"},
	} {
		in := filepath.Join(t.TempDir(), "in.jsonl")
		os.WriteFile(in, []byte(tc.input), 0o644)
		code, _, stderr := runMast(t, "store", "import", "--data-dir", dir, "-i", in)
		if code != 1 || !strings.Contains(stderr, tc.says) {
			t.Errorf("import %q: exit %d, %q; want exit 1 saying %q", tc.input, code, stderr, tc.says)
		}
	}
}

// inspectFields maps the first word of each line of inspect's output to
// the rest, spaces squeezed.
func inspectFields(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			m[f[0]] = strings.Join(f[1:], " ")
		}
	}
	return m
}
