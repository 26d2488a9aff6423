package pebble_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/store/pebble"
	"github.com/mastmq/mast/store/storetest"
)

// mountTmpfs mounts a tmpfs of the given size for the test, or skips the
// test where mounting is not allowed (not root, or no CAP_SYS_ADMIN);
// TestFullDiskInjected covers a full disk there.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); TestFullDiskInjected covers a full disk", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file until the file system is full, and returns its
// path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			return path
		}
	}
}

func openFull(t *testing.T, dir string, minFree int64) *pebble.Store {
	t.Helper()
	s, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger(t), MinFreeBytes: minFree, SpaceCheckInterval: -1})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func bigBatch(topic string, n int) *store.Batch {
	var b store.Batch
	b.PutRetained(&store.Message{Topic: topic, Payload: bytes.Repeat([]byte{'x'}, n)})
	return &b
}

// TestFullDiskRefused: on a disk whose free space is below the reserve,
// Commit refuses with store.ErrFull before writing anything, the store
// stays readable, and writes resume once space is freed.
func TestFullDiskRefused(t *testing.T) {
	mnt := mountTmpfs(t, "32m")
	dir := filepath.Join(mnt, "data")
	s := openFull(t, dir, 4<<20)
	sample := storetest.Sample()
	if err := s.Commit(sample, true); err != nil {
		t.Fatal(err)
	}
	before := storetest.Load(t, s)

	filler := fill(t, mnt)
	// Leave 1 MiB free: less than the reserve, more than the batch.
	fi, _ := os.Stat(filler)
	if err := os.Truncate(filler, fi.Size()-1<<20); err != nil {
		t.Fatal(err)
	}
	err := s.Commit(bigBatch("refused", 100<<10), true)
	if !errors.Is(err, store.ErrFull) || !strings.Contains(err.Error(), "nothing written") {
		t.Fatalf("Commit on a full disk = %v, want store.ErrFull saying nothing was written", err)
	}
	t.Logf("Commit: %v", err)
	checkSame(t, storetest.Load(t, s), before)
	if _, err := s.Stats(); err != nil {
		t.Fatalf("Stats on a full disk: %v", err)
	}

	// Space freed: writes go on without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(bigBatch("after", 10), true); err != nil {
		t.Fatalf("Commit after space was freed: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openFull(t, dir, 4<<20)
	defer s.Close()
	want := storetest.Load(t, s)
	var topics []string
	for _, m := range want.Retained {
		topics = append(topics, m.Topic)
	}
	if !strings.Contains(strings.Join(topics, " "), "after") || strings.Contains(strings.Join(topics, " "), "refused") {
		t.Fatalf("retained topics after reopen: %v, want \"after\" and not \"refused\"", topics)
	}
}

// TestFullDiskDuringWrite: with no reserve, the file system itself
// refuses the write. Commit says store.ErrFull, the store stays readable
// and refuses further writes, and after a restart with space freed what
// was committed before is intact.
func TestFullDiskDuringWrite(t *testing.T) {
	mnt := mountTmpfs(t, "32m")
	dir := filepath.Join(mnt, "data")
	s := openFull(t, dir, -1)
	if err := s.Commit(storetest.Sample(), true); err != nil {
		t.Fatal(err)
	}
	before := storetest.Load(t, s)
	filler := fill(t, mnt)

	err := s.Commit(bigBatch("failed", 256<<10), true)
	if !errors.Is(err, store.ErrFull) {
		t.Fatalf("Commit on a full disk = %v, want store.ErrFull", err)
	}
	t.Logf("Commit: %v", err)
	if err := s.Commit(bigBatch("later", 1), false); !errors.Is(err, store.ErrFull) {
		t.Fatalf("Commit after the failure = %v, want store.ErrFull", err)
	}
	if _, err := s.Stats(); err != nil {
		t.Fatalf("Stats after the failure: %v", err)
	}
	s.Close() // may report the failed log; the data is what matters

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s = openFull(t, dir, -1)
	defer s.Close()
	checkSame(t, storetest.Load(t, s), before, "failed")
}

// TestFullDiskInjected is TestFullDiskDuringWrite on any machine: a
// fault-injecting file system fails the log's writes with ENOSPC.
func TestFullDiskInjected(t *testing.T) {
	dir := t.TempDir()
	var full atomic.Bool
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if full.Load() && op.Kind.ReadOrWrite() == errorfs.OpIsWrite && op.Kind != errorfs.OpFileClose &&
			op.Kind != errorfs.OpRemove && op.Kind != errorfs.OpLock {
			return &os.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
		}
		return nil
	})
	fs := errorfs.Wrap(vfs.Default, inj)
	s, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger(t), FS: fs, MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(storetest.Sample(), true); err != nil {
		t.Fatal(err)
	}
	before := storetest.Load(t, s)
	full.Store(true)
	err = s.Commit(bigBatch("failed", 1<<10), true)
	if !errors.Is(err, store.ErrFull) {
		t.Fatalf("Commit with ENOSPC = %v, want store.ErrFull", err)
	}
	t.Logf("Commit: %v", err)
	if err := s.Sync(); !errors.Is(err, store.ErrFull) {
		t.Fatalf("Sync after the failure = %v, want store.ErrFull", err)
	}
	checkSame(t, storetest.Load(t, s), before, "failed")
	s.Close()
	full.Store(false)

	s = open(t, dir)
	defer s.Close()
	checkSame(t, storetest.Load(t, s), before, "failed")
}

// checkSame fails unless got holds what want does, allowing only extra
// retained messages on the given topics (a write whose outcome the
// failure left unknown).
func checkSame(t *testing.T, got, want *storetest.Contents, maybe ...string) {
	t.Helper()
	g := *got
	g.Retained = nil
	for _, m := range got.Retained {
		extra := false
		for _, topic := range maybe {
			extra = extra || m.Topic == topic
		}
		if !extra {
			g.Retained = append(g.Retained, m)
		}
	}
	if diff, ok := storetest.Equal(&g, want); !ok {
		t.Fatal(fmt.Sprint("contents changed: ", diff))
	}
}
