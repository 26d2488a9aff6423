package pebble_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/store/pebble"
	"github.com/mastmq/mast/store/storetest"
)

func TestSecondOpenInProcessIsLocked(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	for _, d := range []string{dir, dir + "/.", filepath.Join(dir, "..", filepath.Base(dir))} {
		s2, err := pebble.Open(d, nil)
		if err == nil {
			s2.Close()
			t.Fatalf("second Open(%s) succeeded", d)
		}
		if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "in use by this process") {
			t.Errorf("second Open(%s) = %v, want store.ErrLocked saying who holds it", d, err)
		}
	}
	// Once closed, the directory can be opened again.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	open(t, dir).Close()
}

// TestLockChild is the child process of TestSecondProcessIsLocked.
func TestLockChild(t *testing.T) {
	dir := os.Getenv("MAST_LOCK_CHILD_DIR")
	if dir == "" {
		t.Skip("child process of TestSecondProcessIsLocked")
	}
	s, err := pebble.Open(dir, nil)
	if err == nil {
		s.Close()
		fmt.Println("RESULT: opened")
		return
	}
	fmt.Printf("RESULT: locked=%v: %v\n", errors.Is(err, store.ErrLocked), err)
}

func TestSecondProcessIsLocked(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	child := func() string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockChild$", "-test.v")
		cmd.Env = append(os.Environ(), "MAST_LOCK_CHILD_DIR="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if r, ok := strings.CutPrefix(line, "RESULT: "); ok {
				return r
			}
		}
		t.Fatalf("child said nothing:\n%s", out)
		return ""
	}
	got := child()
	want := fmt.Sprintf("locked=true: store/pebble: %s is in use by process %d, probably a running mast broker", s.Dir(), os.Getpid())
	if !strings.HasPrefix(got, want) {
		t.Errorf("child Open while this process holds the store:\n got %s\nwant %s...", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := child(); got != "opened" {
		t.Errorf("child Open after Close: %s", got)
	}
}

func TestMustExist(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	_, err := pebble.Open(dir, &pebble.Options{MustExist: true})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open(missing, MustExist) = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open(MustExist) created %s", dir)
	}
	// An empty directory holds no store either.
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := pebble.Open(dir, &pebble.Options{MustExist: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open(empty, MustExist) = %v, want fs.ErrNotExist", err)
	}
}

func TestOpenCreatesNestedDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "data")
	s := open(t, dir)
	var b store.Batch
	b.PutRetained(&store.Message{Topic: "x"})
	if err := s.Commit(&b, true); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	if n := len(storetest.Load(t, s).Retained); n != 1 {
		t.Fatalf("%d retained after reopen, want 1", n)
	}
}

func TestLostAndFoundIsNotForeign(t *testing.T) {
	// A data directory at the root of its own file system has lost+found.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "lost+found"), 0o700); err != nil {
		t.Fatal(err)
	}
	open(t, dir).Close()
}

func TestNotADirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pebble.Open(file, nil); !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("Open(file) = %v, want store.ErrCorrupt saying it is not a directory", err)
	}
}
