// Package cluster will make several mast nodes one broker on an embedded
// NATS cluster (issue 8). What exists so far is the mapping between MQTT
// topics and filters and NATS subjects, on which cross-node routing rests:
// it is injective, keeps MQTT's literal '*' and '>' literal, gives
// '$'-topics their own root so that a leading wildcard never reaches them,
// and maps "a/#" to the two subjects that together match what it matches
// in MQTT ("a" and "a.>").
package cluster
