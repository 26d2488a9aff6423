// Package cluster makes several mast nodes one broker on an embedded NATS
// cluster (issue 8).
//
// Each node embeds a nats-server in cluster mode (routes between nodes,
// its client port on loopback for this process only) and talks to it
// through an in-process nats.go connection. A Node implements
// broker.Remote:
//
//   - Interest: the broker counts the local sessions of each distinct
//     non-shared MQTT filter and announces the first and the last; the
//     node holds one NATS subscription per subject of those filters
//     (counted per subject, as "a" and "a/#" share "mqtt.a"), so NATS
//     interest propagation is the cluster's routing table.
//   - Forward: a message published on this node is published on its
//     subject when some node has interest (the account's interest check
//     costs ~0.1 µs; the publish ~1 µs), in a small binary envelope
//     (QoS, retain, properties, origin, sequence). Retained messages go
//     to every node on their own root, so each node keeps them.
//   - Received messages go, one at a time and in order, to the handler
//     set by Attach (broker.Server.DeliverRemote), which routes them
//     locally only. NoEcho keeps a node's own forwards from coming back;
//     the origin's sequence number drops the extra copies NATS sends
//     when a subject matches several of the node's subscriptions.
//
// The mapping between MQTT topics and filters and NATS subjects
// (subject.go) is injective, keeps MQTT's literal '*' and '>' literal,
// gives '$'-topics their own root so that a leading wildcard never
// reaches them, and maps "a/#" to the two subjects that together match
// what it matches in MQTT ("a" and "a.>").
//
// This is the first step: core NATS only, so cross-node delivery is at
// most once whatever the QoS (QoS 1 and 2 are delivered at their QoS by
// the receiving node, but a message lost between nodes is not resent).
// No JetStream, no replicated sessions, no cross-node shared
// subscriptions yet.
package cluster
