// Package memory is a store.Store that keeps everything in memory, for
// ephemeral brokers (mast serve --memory) and tests. It holds each record
// encoded as store/pebble does, so it copies, normalises and rejects
// records exactly as the disk store does, and nothing survives Close.
//
// It passes the conformance suite of store/storetest except the tests
// that reopen a store.
package memory
