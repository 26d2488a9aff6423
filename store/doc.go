// Package store is the persistence contract of the broker: what must
// survive a restart (persistent sessions with their subscriptions and will,
// outbound QoS 1/2 messages queued or in flight, inbound QoS 2 packet ids
// not yet released, retained messages) and how it is written (batches,
// committed atomically, durable before Commit returns when asked to sync).
//
// Implementations: store/pebble, the embedded default, and store/memory for
// ephemeral brokers and tests. Every implementation must pass the
// conformance suite in store/storetest.
//
// The broker writes only what the durability contract needs: clean
// sessions and QoS 0 messages never reach a store.
package store
