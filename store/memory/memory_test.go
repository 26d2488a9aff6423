package memory_test

import (
	"testing"

	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/store/memory"
	"github.com/mastmq/mast/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dir string) store.Store { return memory.New() }, storetest.Ephemeral())
}
