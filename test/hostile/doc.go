// Package hostile holds black-box tests of mast against hostile and broken
// clients: sockets that never send CONNECT or dribble it a byte at a time,
// half-open connections, floods of connections and of oversized packets, a
// subscriber that never reads, wildcard subscription storms, 65,535-level
// topics, and a grep of the real binary's debug console for every password
// the tests used.
//
// After each attack a test checks that the broker still serves a fresh
// client (CONNECT, SUBSCRIBE, PUBLISH round trip), that the counter (or,
// where the broker has none, the log line) for what was refused moved, and,
// where memory is the point, that the process's heap stayed under a bound
// stated at the top of the test.
//
// The package has no code of its own; everything is in _test.go files.
// Every broker listens on 127.0.0.1 port 0. The password test runs the
// mast binary, built by TestMain, and Debian's mosquitto_pub
// (scripts/install-test-deps.sh); a missing peer fails, it is never skipped.
//
// Run with: go test -race ./test/hostile/
package hostile
