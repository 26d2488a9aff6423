// Package bridge holds the bridge tests: two in-process mast brokers
// bridged to each other, and mast bridged to a real Mosquitto (Debian's
// /usr/sbin/mosquitto, installed by scripts/install-test-deps.sh; the test
// fails, never skips, when it is missing), carrying QoS 0, 1 and 2 both
// ways with topic prefixes, retained messages, no loops, and reconnection
// after the remote broker restarts.
//
// The package has no code of its own; everything is in _test.go files.
// Every broker listens on 127.0.0.1 port 0 (Mosquitto on a free port).
//
// Run with: go test -race ./test/bridge/
package bridge
