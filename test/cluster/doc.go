// Package cluster holds the multi-process cluster tests (issue 8): three
// real `mast serve` processes, each with its own data directory and an
// embedded NATS node, joined by routes, and driven by MQTT 3.1.1 and 5.0
// clients. They check routing across nodes, session resume on another
// node, failover after SIGKILL, a rolling restart under load and, where
// the machine allows network namespaces, a network partition.
//
// Every test logs one line per stream and subscriber: published,
// acknowledged, delivered, duplicates, lost; an acknowledged message that
// never arrives fails the test. Each node's console is kept in a file and
// printed when a test fails.
//
// TestMain builds cmd/mast once; MAST_CLUSTER_BIN names a binary to use
// instead (one built from another revision, say).
package cluster
