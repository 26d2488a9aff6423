package pebble_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/store/pebble"
	"github.com/mastmq/mast/store/storetest"
)

func open(t *testing.T, dir string) *pebble.Store {
	t.Helper()
	s, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger(t)})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dir string) store.Store { return open(t, dir) })
}

// A cluster node keeps its replicas in the data directory's cluster
// subdirectory: the store opens and reopens around it.
func TestClusterDirAllowed(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, pebble.ClusterDir), 0o700); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	s.Close()
}
