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
//
// Beyond what the declarations say, every store (and the conformance
// suite checks each point):
//   - keeps no reference to a committed batch or its records, so the
//     caller may reuse them once Commit returns; Load hands the visitor
//     records of its own, to keep or change;
//   - rejects whole a batch with an op it cannot store (an unknown kind,
//     a missing record, a QoS or retain handling above 2);
//   - reads back nil and empty slices as written, and times as the same
//     instant (not the zone or the monotonic reading);
//   - applies a batch's ops in order, so a put after a delete of the same
//     key stands;
//   - removes with DeleteSession the outbound and inbound records of the
//     client even when it has no session record;
//   - returns ErrClosed from every method after Close, a second Close
//     included.
//
// A Commit that fails has not made its batch durable, but unless the
// error says nothing was written (ErrFull from a store's free-space
// reserve, a rejected op, ErrClosed) the batch may still turn up after a
// restart: treat it as not acknowledged, not as absent.
package store
