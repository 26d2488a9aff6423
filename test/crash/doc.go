// Package crash holds the crash test of the durability contract: the real
// mast binary is killed with SIGKILL at random moments under load and
// restarted on the same data directory, and nothing acknowledged may be
// lost. Set MAST_CRASH_ROUNDS for more rounds than the default 20.
package crash
