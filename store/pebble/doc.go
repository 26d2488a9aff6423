// Package pebble is the embedded default store.Store: a data directory
// holding a Pebble database (github.com/cockroachdb/pebble/v2, Pebble's
// format pinned to FormatValueSeparation so that a Pebble upgrade never
// ratchets a directory out of an older mast's reach).
//
// # Durability
//
// Commit writes the batch to Pebble's write-ahead log. With sync it waits
// for the log's fsync; concurrent synced commits share one fsync, because
// Pebble's commit pipeline syncs every record queued behind the one being
// synced (group commit: 16 committing goroutines get about 7 commits per
// fsync, see BenchmarkCommit). Without sync the record is in the log file
// when Commit returns, so it survives a killed process but not a power
// loss until the next synced commit or Sync. A crash that tears the last
// log record loses that record only (testdata/damaged/torn-wal).
//
// # Format version 1
//
// Every key starts with a byte naming its kind, so one ordered scan
// visits sessions, then outbound messages, then inbound ids, then
// retained messages, as store.Store.Load promises:
//
//	key                                               value
//	0x00 "meta/version"                               format version, uint32 big-endian (1)
//	0x01 clientID                                     session
//	0x02 esc(clientID) 0x00 0x01 seq:uint64 BE        outbound message
//	0x03 esc(clientID) 0x00 0x01 packetID:uint16 BE   (empty)
//	0x04 topic                                        retained message, without its topic
//
// esc writes each 0x00 byte of the client id as 0x00 0xFF, and 0x00 0x01
// ends it. MQTT strings exclude U+0000, but the layout does not depend on
// the broker having checked: no client id's outbound or inbound prefix is
// a prefix of another client's keys, so DeleteSession removes a client's
// messages with two range deletions ([prefix, prefix with 0x01 raised to
// 0x02)) without touching "client/x" or "client\x00x", and byte order of
// keys is byte order of client ids, then numeric order of sequences.
// Session and retained keys need no terminator: the id or topic is the
// rest of the key.
//
// Values are the compact binary encoding of store/internal/codec (flags
// byte, uvarints, length-prefixed bytes; nil and empty told apart; no
// field names). Keys carry the client id, sequence, packet id and topic,
// so values do not repeat them. A retained message of a 27-byte topic and
// 16-byte payload takes about 15 bytes on disk after Pebble's prefix and
// block compression, and 176 bytes of heap once loaded (the Message, 112
// bytes, and one allocation for its topic, publisher, properties and
// payload); 1,000,000 load in about 0.7 s (BenchmarkLoadRetained).
//
// A change to the layout or the encoding is a new format version: bump
// FormatVersion, teach Open to read (or migrate) the old one, and add
// golden directories for the new one under testdata/ (see golden_test.go).
//
// # What Open refuses
//
// Open never deletes or rewrites anything to make a directory usable. It
// refuses, with an error wrapping:
//   - store.ErrCorrupt: files mast did not write (anything but Pebble's
//     files and lost+found) before touching the directory; a Pebble
//     database without mast's version key; Pebble files without the
//     MANIFEST marker; and Pebble's own corruption errors (bad checksums,
//     malformed MANIFEST, tables missing or of the wrong size) at Open or
//     Load, all with the advice to move the directory aside or restore a
//     backup, and that `mast store export` may save what is readable;
//   - store.ErrVersion: a format version newer than FormatVersion, or a
//     Pebble format this Pebble does not know;
//   - store.ErrLocked: a directory another process (named by its pid
//     where the system tells) or another Open in this process holds.
//
// The version is read with Pebble in read-only mode first, so a refused
// directory is left exactly as it was.
//
// # A full disk
//
// Commit refuses a batch with store.ErrFull, writing nothing, when the
// disk's free space (measured every Options.SpaceCheckInterval, less what
// was written since) would fall below Options.MinFreeBytes (64 MiB by
// default). That reserve is what lets Pebble flush and compact, and what
// keeps a write from failing half-way; writes resume by themselves once
// space is freed. If the file system fails a log write anyway (the reserve
// was turned off, or another process filled the disk faster than the
// reserve), Pebble stops its commit pipeline: Commit returns the error,
// wrapping store.ErrFull for ENOSPC, that batch may or may not survive a
// restart, every later Commit and Sync fails the same way, and reads go
// on. What was committed before stays intact; restarting the broker
// once space is freed resumes writing. A failure of Pebble's background
// work to write its MANIFEST stops the process, as Pebble intends.
package pebble
