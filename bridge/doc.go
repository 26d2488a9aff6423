// Package bridge connects a mast broker to another MQTT broker, as
// Mosquitto's bridges do: a bridge is a client of the remote broker
// (package client) and an internal client of the local one
// (broker.Internal), and it carries the messages of its topic patterns
// out (local to remote), in (remote to local) or both ways, renaming them
// with a local and a remote prefix.
//
// # Delivery
//
// A message travels at the lower of its own QoS and its topic's QoS, with
// its retain flag, and with its MQTT 5 properties when the bridge speaks
// MQTT 5.
//
// Out: the local broker hands a message to the bridge's session; the
// bridge publishes it remotely and acknowledges it locally only once
// Publish has returned (PUBACK for QoS 1, PUBCOMP for QoS 2). Until then
// the message holds a place in the session's in-flight window, and later
// ones wait in its queue (limits.max_inflight_messages,
// limits.max_queued_messages), across reconnections. A message whose
// fate is unknown after a lost connection is sent again: at least once.
// QoS 0 messages are dropped while the remote broker is unreachable. The
// bridge's local session lives in memory: what it holds is lost if mast
// stops. Messages on one topic keep their order; messages on different
// topics may overtake each other (each topic takes one of a few lanes,
// so that one round trip does not hold up every topic).
//
// In: a remote message is published locally, and the client acknowledges
// it to the remote broker once the local broker holds it (durably, when
// a persistent session must keep it): at least once, and exactly once
// for QoS 2 while the bridge runs. With a persistent session
// (clean_session false, the default) the remote broker keeps QoS 1/2
// messages for the bridge while it is disconnected.
//
// # Loops
//
// What a bridge publishes locally never goes back out through the same
// bridge: its local subscriptions are No Local. What it publishes
// remotely does not come back with MQTT 5 (its remote subscriptions are
// No Local too). Before MQTT 5 the remote broker does send it back; the
// bridge recognises its own message by topic and payload and drops it.
// Two brokers that each configure a bridge to the other can still loop:
// configure the bridge on one side only.
//
// Retained messages: a live retained message crosses with its flag (with
// MQTT 3.1.1 only out; a 3.1.1 broker clears the flag of live messages it
// sends, so use MQTT 5 for retained messages coming in). Retained
// messages matching an out topic are sent when the bridge starts, except
// those the bridge itself brought in.
package bridge
