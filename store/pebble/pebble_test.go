package pebble_test

import (
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
