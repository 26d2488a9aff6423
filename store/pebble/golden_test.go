package pebble_test

// Golden data directories, one per format version and one per way a
// directory can be damaged, checked in under testdata/ (the Mosquitto
// habit: every persistence format version, corrupt and truncated ones
// included, has files that a test opens). They are written by
//
//	go test ./store/pebble -run TestGolden -update
//
// which writes testdata/v<FormatVersion> and the damaged variants derived
// from it; directories of older versions are never rewritten. Tests open
// copies: Pebble writes to a directory it opens.

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cpebble "github.com/cockroachdb/pebble/v2"

	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/store/pebble"
	"github.com/mastmq/mast/store/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden data directories of the current format version")

var goldenDir = filepath.Join("testdata", fmt.Sprintf("v%d", pebble.FormatVersion))

// damaged lists the variants derived from the current version's golden
// directory: how each is made and what opening and loading it must say.
var damaged = []struct {
	name string
	// make damages dir, a copy of the golden directory.
	make func(t *testing.T, dir string)
	// err is what Open, or else Load, must fail with; nil: both succeed.
	err error
	// says is text the error must hold.
	says []string
}{
	// A write cut short by a crash: the log's torn last record is
	// dropped, everything before it is kept.
	{"torn-wal", func(t *testing.T, dir string) { truncate(t, largest(t, dir, "*.log"), 0.6) }, nil, nil},
	{"garbled-sst", func(t *testing.T, dir string) { garble(t, largest(t, dir, "*.sst"), 0.3) },
		store.ErrCorrupt, []string{"move the data directory aside", "mast store export"}},
	{"truncated-sst", func(t *testing.T, dir string) { truncate(t, largest(t, dir, "*.sst"), 0.5) },
		store.ErrCorrupt, []string{"move the data directory aside"}},
	{"garbled-manifest", func(t *testing.T, dir string) { garble(t, liveManifest(t, dir), 0.5) },
		store.ErrCorrupt, []string{"move the data directory aside"}},
	{"truncated-manifest", func(t *testing.T, dir string) { truncate(t, liveManifest(t, dir), 0.5) },
		store.ErrCorrupt, []string{"move the data directory aside"}},
	{"missing-manifest-marker", func(t *testing.T, dir string) { remove(t, one(t, dir, "marker.manifest.*")) },
		store.ErrCorrupt, []string{"without the MANIFEST marker"}},
	{"future-version", func(t *testing.T, dir string) { rawSet(t, dir, "\x00meta/version", be32(pebble.FormatVersion+1)) },
		store.ErrVersion, []string{"written by a newer mast", fmt.Sprintf("format version %d", pebble.FormatVersion+1)}},
	{"bad-version", func(t *testing.T, dir string) { rawSet(t, dir, "\x00meta/version", []byte{1}) },
		store.ErrCorrupt, []string{"format version of 1 bytes"}},
	{"bad-record", func(t *testing.T, dir string) { rawSet(t, dir, "\x04house", []byte{0xff}) },
		store.ErrCorrupt, []string{"retained record \"house\"", "move the data directory aside"}},
}

// foreign directories are written by the test, not derived.
var foreign = []struct {
	name string
	make func(t *testing.T, dir string)
	says []string
}{
	{"foreign-files", func(t *testing.T, dir string) {
		write(t, filepath.Join(dir, "notes.txt"), []byte("not a database\n"))
		write(t, filepath.Join(dir, "photo.jpg"), []byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F'})
		write(t, filepath.Join(dir, "000001.sst"), []byte("random bytes that look like a table by name"))
	}, []string{"not a mast data directory", "notes.txt", "photo.jpg"}},
	{"pebble-without-version", func(t *testing.T, dir string) {
		db, err := cpebble.Open(dir, &cpebble.Options{FormatMajorVersion: cpebble.FormatValueSeparation, Logger: discard{}})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Set([]byte("some-other-app/key"), []byte("value"), cpebble.Sync); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}, []string{"not a mast data directory", "without mast's format version key"}},
}

func TestGoldenUpdate(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite the golden directories")
	}
	if err := os.RemoveAll(goldenDir); err != nil {
		t.Fatal(err)
	}
	// Tables hold the sample after Compact; a second batch stays in the
	// write-ahead log only, so both paths of reading are covered.
	s := open(t, goldenDir)
	b := storetest.Sample()
	half := len(b.Ops) / 2
	if err := s.Commit(&store.Batch{Ops: b.Ops[:half]}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(&store.Batch{Ops: b.Ops[half:]}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(); err != nil { // everything in one table
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Make a last batch that only the log holds.
	s = open(t, goldenDir)
	var last store.Batch
	last.PutRetained(&store.Message{Topic: "log/only", Payload: []byte("in the WAL"), Retain: true})
	if err := s.Commit(&last, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(goldenDir, "LOCK"))
	for _, d := range damaged {
		dir := filepath.Join("testdata", "damaged", d.name)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		copyDir(t, goldenDir, dir)
		d.make(t, dir)
		os.Remove(filepath.Join(dir, "LOCK"))
	}
	for _, f := range foreign {
		dir := filepath.Join("testdata", "damaged", f.name)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		f.make(t, dir)
		os.Remove(filepath.Join(dir, "LOCK"))
	}
}

// goldenWant is what the golden directory of the current version holds.
func goldenWant() *storetest.Contents {
	b := storetest.Sample()
	b.PutRetained(&store.Message{Topic: "log/only", Payload: []byte("in the WAL"), Retain: true})
	var c storetest.Contents
	for _, op := range b.Ops {
		switch op.Kind {
		case store.PutSession:
			c.Sessions = append(c.Sessions, op.Session)
		case store.PutOutbound:
			c.Outbound = append(c.Outbound, op.Outbound)
		case store.PutInbound:
			c.Inbound = append(c.Inbound, storetest.Inbound{ClientID: op.ClientID, PacketID: op.PacketID})
		case store.PutRetained:
			c.Retained = append(c.Retained, op.Retained)
		}
	}
	return &c
}

// TestGolden opens the golden directory of every format version this
// package reads and checks its exact contents.
func TestGolden(t *testing.T) {
	dir := copyDir(t, goldenDir, t.TempDir())
	s := open(t, dir)
	defer s.Close()
	if diff, ok := storetest.Equal(storetest.Load(t, s), goldenWant()); !ok {
		t.Fatalf("golden %s: %s", goldenDir, diff)
	}
}

// TestGoldenEncoding checks that this build writes the golden directory's
// records byte for byte: a change to the encoding must come with a new
// format version.
func TestGoldenEncoding(t *testing.T) {
	golden := rawDump(t, copyDir(t, goldenDir, t.TempDir()))
	dir := t.TempDir()
	s := open(t, dir)
	b := storetest.Sample()
	b.PutRetained(&store.Message{Topic: "log/only", Payload: []byte("in the WAL"), Retain: true})
	if err := s.Commit(b, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	now := rawDump(t, dir)
	if !slices.Equal(golden, now) {
		for i := range max(len(golden), len(now)) {
			var g, n string
			if i < len(golden) {
				g = golden[i]
			}
			if i < len(now) {
				n = now[i]
			}
			if g != n {
				t.Fatalf("record %d differs from %s:\ngolden %.300s\nnow    %.300s\n"+
					"an encoding change needs a new FormatVersion and golden directory", i, goldenDir, g, n)
			}
		}
	}
}

func TestGoldenDamaged(t *testing.T) {
	for _, d := range damaged {
		t.Run(d.name, func(t *testing.T) {
			dir := checkDamaged(t, filepath.Join("testdata", "damaged", d.name), d.err, d.says)
			if d.err == nil {
				// The golden contents less the batch only the log held.
				want := goldenWant()
				want.Retained = want.Retained[:len(want.Retained)-1]
				s := open(t, dir)
				defer s.Close()
				if diff, ok := storetest.Equal(storetest.Load(t, s), want); !ok {
					t.Fatal(diff)
				}
			}
		})
	}
	for _, f := range foreign {
		t.Run(f.name, func(t *testing.T) {
			src := filepath.Join("testdata", "damaged", f.name)
			dir := checkDamaged(t, src, store.ErrCorrupt, f.says)
			// Refusing a directory leaves it as it was.
			if before, after := listDir(t, src), listDir(t, dir); !slices.Equal(before, after) {
				t.Errorf("files before %v, after %v", before, after)
			}
		})
	}
}

// checkDamaged opens a copy of src and loads it, expecting want (with the
// text says) from Open or, failing that, from Load.
func checkDamaged(t *testing.T, src string, want error, says []string) (dir string) {
	t.Helper()
	dir = copyDir(t, src, t.TempDir())
	s, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger(t)})
	if err == nil {
		err = s.Load(store.Visitor{
			Session:  func(*store.Session) error { return nil },
			Outbound: func(*store.Outbound) error { return nil },
			Inbound:  func(string, uint16) error { return nil },
			Retained: func(*store.Message) error { return nil },
		})
		s.Close()
	}
	if want == nil {
		if err != nil {
			t.Fatalf("Open and Load: %v", err)
		}
		return dir
	}
	if !errors.Is(err, want) {
		t.Fatalf("Open and Load: %v, want %v", err, want)
	}
	for _, text := range says {
		if !strings.Contains(err.Error(), text) {
			t.Errorf("error %q does not say %q", err, text)
		}
	}
	t.Logf("error: %v", err)
	return dir
}

// rawDump lists every key and value of a Pebble directory in order.
func rawDump(t *testing.T, dir string) []string {
	t.Helper()
	db, err := cpebble.Open(dir, &cpebble.Options{Logger: discard{}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, fmt.Sprintf("%q => %x", it.Key(), it.Value()))
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func rawSet(t *testing.T, dir, key string, value []byte) {
	t.Helper()
	db, err := cpebble.Open(dir, &cpebble.Options{Logger: discard{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte(key), value, cpebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// one is the single file of dir matching pattern.
func one(t *testing.T, dir, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil || len(m) != 1 {
		t.Fatalf("%s in %s: %v %v, want one file", pattern, dir, m, err)
	}
	return m[0]
}

// largest is the largest file of dir matching pattern.
func largest(t *testing.T, dir, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil || len(m) == 0 {
		t.Fatalf("%s in %s: %v", pattern, dir, err)
	}
	var best string
	var size int64 = -1
	for _, p := range m {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > size {
			best, size = p, fi.Size()
		}
	}
	return best
}

// liveManifest is the MANIFEST the marker names.
func liveManifest(t *testing.T, dir string) string {
	t.Helper()
	marker := one(t, dir, "marker.manifest.*")
	name := filepath.Base(marker)
	return filepath.Join(dir, name[strings.Index(name, "MANIFEST-"):])
}

// garble flips the bytes of a 64-byte stretch starting at frac of the
// file.
func garble(t *testing.T, path string, frac float64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := int(float64(len(b)) * frac)
	for i := at; i < at+64 && i < len(b); i++ {
		b[i] ^= 0x5a
	}
	write(t, path, b)
}

func truncate(t *testing.T, path string, frac float64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, int64(float64(fi.Size())*frac)); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyDir copies the files of src into dst and returns dst.
func copyDir(t *testing.T, src, dst string) string {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dst, e.Name()), b)
	}
	return dst
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if d.Name() != "LOCK" { // Pebble's lock file, made by opening
				names = append(names, fmt.Sprintf("%s:%d", d.Name(), fi.Size()))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// discard is a Pebble logger that drops everything but fatal errors.
type discard struct{}

func (discard) Infof(string, ...any)              {}
func (discard) Errorf(string, ...any)             {}
func (discard) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
