// Package loadgen is the load generator behind `mast bench`: it connects
// many MQTT clients to a broker, publishes and subscribes by scenario, and
// reports throughput, loss, duplicates and latency, plus the broker
// process's CPU and memory when given its PID.
//
// Scenarios: pub (publishers only), sub (subscribers only), conn (many idle
// connections with one subscription each), fanin (P publishers, one
// wildcard subscriber), fanout (one publisher, S subscribers on one topic),
// pairs (N publisher/subscriber pairs, a topic per pair), latency (pairs at
// a fixed total rate) and retained (N retained messages, then a subscriber
// to all of them).
//
// The generator must not be what limits the measurement, so the per-message
// path allocates nothing: each publisher encodes its PUBLISH once and
// rewrites the packet identifier, sequence number and timestamp in place;
// subscribers slice incoming packets out of their read buffer and parse
// only PUBLISH and the acks, by hand. Every payload carries a run id, a
// publisher id, a sequence number and the send time (see MinSize), from
// which subscribers count distinct messages and duplicates per publisher
// and record latency in an HDR histogram. Loss is what the publishers sent
// to a subscriber's topics minus what it received distinct, after a drain.
package loadgen
