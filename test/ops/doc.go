// Package ops holds operations tests that run the real mast binary as a
// child process, the way an operator runs it: configuration reload on
// SIGHUP and through the admin API (ACL and password files, listeners,
// the log file reopened for logrotate), and a full disk under the data
// directory (a small tmpfs mounted by the test; the tests that need it
// skip, saying so, where mounting is not allowed).
//
// The package has no code of its own; everything is in _test.go files.
// Every listener is on 127.0.0.1.
//
// Run with: go test -race ./test/ops/
package ops
