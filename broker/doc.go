// Package broker is the MQTT server: it accepts connections, runs sessions
// and their QoS state machines, enforces keepalive, publishes wills, routes
// messages through the subscription trie, keeps retained messages and
// publishes $SYS statistics.
//
// A connection has one goroutine that reads and decodes packets and one
// writer that drains the connection's outbound queue, coalescing queued
// packets into one write. Routing runs on the publisher's reader goroutine:
// it matches the topic against the trie and hands one immutable message to
// each matching session; the writer of each subscriber encodes its own
// PUBLISH header around the shared payload.
//
// Lock order (never acquire leftwards while holding rightwards):
//
//	Server.mu -> session.mu -> conn.outMu
//
// The trie and the retained index have their own locks and call nothing of
// ours while holding them.
package broker
