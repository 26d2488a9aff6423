// Package cluster makes several mast nodes one broker on an embedded NATS
// cluster (issue 8).
//
// Each node embeds a nats-server in cluster mode (routes between nodes,
// authenticated with Options.Secret; its client port on loopback for this
// process only) and talks to it through in-process nats.go connections.
// A Node implements broker.Remote and broker.SessionKeeper.
//
// Routing (cluster.go), on core NATS:
//
//   - Interest: the broker counts the local sessions of each distinct
//     MQTT filter and announces the first and the last; the node holds
//     one NATS subscription per subject of those filters (counted per
//     subject, as "a" and "a/#" share "mqtt.a"), so NATS interest
//     propagation is the cluster's routing table. A shared subscription
//     ($share/group/filter) is a NATS queue group on a second connection
//     that echoes, so NATS picks one node with members for each message,
//     this node included (its own members first).
//   - Forward: a message published on this node is published on its
//     subject when some node has interest, in a small binary envelope
//     (QoS, retain, properties, origin run and sequence, which make the
//     message's cluster id). Retained messages go to every node on their
//     own root.
//   - Received messages go, one at a time and in order, to
//     broker.Server.DeliverRemote, which routes them locally only; the
//     origin's sequence drops the copies NATS sends when a subject
//     matches several of the node's subscriptions.
//
// The mapping between MQTT topics and filters and NATS subjects
// (subject.go) is injective, keeps MQTT's literal '*' and '>' literal,
// gives '$'-topics their own root so that a leading wildcard never
// reaches them, and maps "a/#" to the two subjects that together match
// what it matches in MQTT ("a" and "a.>").
//
// Replicated state (keeper.go), with JetStream, in a fixed set of three
// replicated streams, never one per session or subscription:
//
//   - the mast_sessions key-value bucket: one record per persistent
//     session (subscriptions, will, expiry, owner node, checkpoint). The
//     owner is claimed by compare-and-set; a node that connects a client
//     whose session another node holds asks that node to release it (it
//     closes the old connection and hands over the queued messages and
//     the ids its client acknowledged last); a node whose write is
//     refused has lost the session and drops its copy. Every node
//     follows the bucket to know which topics some persistent session
//     needs, wherever it is.
//   - MAST_LOG: each QoS 1/2 message that some persistent session needs,
//     written before the publisher is acknowledged (resent with the same
//     message id across a leader change). A session that moves, or whose
//     node is lost, is replayed from its checkpoint (the arrival of the
//     oldest message its client had not acknowledged, less a margin for
//     clocks and messages on their way); ids its session already has are
//     skipped.
//   - MAST_RETAINED: the last retained message of each topic, so a node
//     that was away catches up.
//
// A session whose owner leaves the cluster is adopted, after a grace
// period, by one surviving node (compare-and-set again), which publishes
// its will once and keeps its queue. A node that leaves in order writes
// each session's last checkpoint first. The partition policy
// (Options.Partition) says whether persistent state needs a quorum.
//
// status.go reports members, routes and the streams' leaders and
// replica lag for the admin API, metrics and $SYS.
package cluster
