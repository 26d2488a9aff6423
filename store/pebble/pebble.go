package pebble

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/record"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/store/internal/codec"
)

// FormatVersion is the format of the data directory this package writes
// and the newest it reads: the key layout and value encoding of doc.go.
const FormatVersion uint32 = 1

// pebbleFormat pins Pebble's own on-disk format, so that upgrading Pebble
// never ratchets a data directory to a format an older mast cannot open.
const pebbleFormat = pebble.FormatValueSeparation

// DefaultMinFreeBytes is the free space Commit keeps in reserve when
// Options.MinFreeBytes is zero.
const DefaultMinFreeBytes = 64 << 20

// recovery is the advice given with every corruption error.
const recovery = "move the data directory aside and start with an empty one, or restore a backup; " +
	"`mast store export` may save what is still readable"

// Options configure Open. The zero value is the default.
type Options struct {
	// Logger receives Pebble's own messages: its information at
	// LevelPebble, its errors at Error level. Nil means slog.Default().
	Logger *slog.Logger
	// MinFreeBytes is the free disk space below which Commit refuses a
	// batch with store.ErrFull before writing any of it. The reserve is
	// what lets Pebble flush and compact on a nearly full disk, and what
	// keeps a full disk from failing a write half-way (after which the
	// store refuses all writes until reopened). Zero means
	// DefaultMinFreeBytes; negative turns the check off.
	MinFreeBytes int64
	// MustExist makes Open fail (with an error wrapping fs.ErrNotExist)
	// instead of creating a new store where there is none.
	MustExist bool
	// SpaceCheckInterval is how long a measure of the free space is
	// trusted (less what was written since) before Commit measures again;
	// it bounds how fast another process can fill the disk unnoticed
	// (MinFreeBytes per interval). Zero means 50ms; negative measures
	// before every Commit.
	SpaceCheckInterval time.Duration
	// CacheSize is the size in bytes of Pebble's block cache; zero is
	// Pebble's default (8 MiB).
	CacheSize int64
	// FS is the file system; nil is the operating system's. Tests wrap it
	// to count syncs or inject faults.
	FS vfs.FS
}

// Store is a store.Store in a Pebble database. Open it with Open.
type Store struct {
	dir     string
	fs      vfs.FS
	db      *pebble.DB
	lock    *pebble.Lock
	log     *slog.Logger
	minFree int64
	recheck int64 // nanoseconds; see Options.SpaceCheckInterval

	gate gate

	// The disk space guard: avail is the free space last measured less
	// what was written since, checked the time it was measured.
	spaceMu sync.Mutex
	avail   atomic.Int64
	checked atomic.Int64

	// broken is set once Pebble failed a write: its write-ahead log
	// refuses every later write, so Commit does not try.
	broken atomic.Pointer[error]
}

var (
	_ store.Store     = (*Store)(nil)
	_ store.Stats     = (*Store)(nil)
	_ store.Syncer    = (*Store)(nil)
	_ store.Compacter = (*Store)(nil)
)

// Open opens the mast data directory dir, creating it unless
// o.MustExist. It fails with an error wrapping
//   - store.ErrLocked when another process, or another Open in this one,
//     has the directory open;
//   - store.ErrCorrupt when dir holds files that are not a mast store's,
//     or data that cannot be read, with advice on how to recover;
//   - store.ErrVersion when the data was written by a newer format.
//
// Nothing is ever deleted to make a directory usable.
func Open(dir string, o *Options) (*Store, error) {
	if o == nil {
		o = &Options{}
	}
	s := &Store{fs: o.FS, log: o.Logger, minFree: o.MinFreeBytes}
	if s.fs == nil {
		s.fs = vfs.Default
		// One spelling per directory: Pebble tells a second Open in this
		// process by the lock file's path.
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("store/pebble: %w", err)
		}
		dir = abs
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			dir = real
		}
	}
	s.dir = dir
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.minFree == 0 {
		s.minFree = DefaultMinFreeBytes
	}
	switch {
	case o.SpaceCheckInterval == 0:
		s.recheck = int64(defaultSpaceCheckInterval)
	case o.SpaceCheckInterval > 0:
		s.recheck = int64(o.SpaceCheckInterval)
	}

	exists, err := s.checkDir(o.MustExist)
	if err != nil {
		return nil, err
	}
	if !exists {
		if err := s.fs.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("store/pebble: create data directory: %w", err)
		}
	}
	s.lock, err = pebble.LockDirectory(dir, s.fs)
	if err != nil {
		return nil, s.lockError(err)
	}
	popts := &pebble.Options{
		FS:                 s.fs,
		FormatMajorVersion: pebbleFormat,
		CacheSize:          o.CacheSize,
		Logger:             logger{s.log},
		ErrorIfNotExists:   exists,
	}
	el := pebble.MakeLoggingEventListener(logger{s.log})
	el.BackgroundError = func(err error) {
		if isNoSpace(err) {
			s.avail.Store(0) // measure again before the next commit
		}
		s.log.Error("store: background error", "dir", dir, "err", firstLine(err))
	}
	el.DataCorruption = func(info pebble.DataCorruptionInfo) {
		s.log.Error("store: corrupt file", "path", info.Path, "err", firstLine(info.Details))
	}
	popts.EventListener = &el
	if exists {
		// Read the format version before Pebble writes anything: a
		// directory refused is left as it was found.
		ro := *popts
		ro.ReadOnly = true
		ro.Lock = s.lock
		s.db, err = pebble.Open(dir, &ro)
		if err == nil {
			err = s.checkVersion(false)
			if cerr := s.db.Close(); err == nil && cerr != nil {
				err = s.classify("open", cerr)
			}
		} else {
			err = s.classify("open", err)
		}
		if err != nil {
			s.lock.Close()
			return nil, err
		}
	}
	popts.Lock = s.lock
	s.db, err = pebble.Open(dir, popts)
	if err != nil {
		s.lock.Close()
		return nil, s.classify("open", err)
	}
	if err := s.checkVersion(!exists); err != nil {
		s.db.Close()
		s.lock.Close()
		return nil, err
	}
	return s, nil
}

// checkDir refuses a directory that is not a mast store before anything
// is written to it, and reports whether a store exists there.
func (s *Store) checkDir(mustExist bool) (exists bool, err error) {
	fi, err := s.fs.Stat(s.dir)
	switch {
	case oserrorIsNotExist(err):
		if mustExist {
			return false, fmt.Errorf("store/pebble: no mast data directory at %s: %w", s.dir, fs.ErrNotExist)
		}
		return false, nil
	case err != nil:
		return false, fmt.Errorf("store/pebble: %w", err)
	case !fi.IsDir():
		return false, fmt.Errorf("store/pebble: %s is not a directory: %w", s.dir, store.ErrCorrupt)
	}
	names, err := s.fs.List(s.dir)
	if err != nil {
		return false, fmt.Errorf("store/pebble: %w", err)
	}
	var foreign, data []string
	hasMarker := false
	for _, n := range names {
		switch k := fileKind(n); k {
		case fileForeign:
			foreign = append(foreign, n)
		case fileManifestMarker:
			hasMarker = true
		case fileData:
			data = append(data, n)
		}
	}
	if len(foreign) > 0 {
		if len(foreign) > 3 {
			foreign = append(foreign[:3], "...")
		}
		return false, fmt.Errorf("store/pebble: %s is not a mast data directory: it holds files mast did not write (%s); "+
			"point the data directory at an empty or new directory: %w", s.dir, joinNames(foreign), store.ErrCorrupt)
	}
	if !hasMarker {
		if len(data) > 0 {
			return false, fmt.Errorf("store/pebble: %s: Pebble files (%s) without the MANIFEST marker that says which are live; %s: %w",
				s.dir, joinNames(data), recovery, store.ErrCorrupt)
		}
		if mustExist {
			return false, fmt.Errorf("store/pebble: no mast data directory at %s: %w", s.dir, fs.ErrNotExist)
		}
		return false, nil
	}
	return true, nil
}

// checkVersion reads the format version, or with write sets it in a
// new, empty store.
func (s *Store) checkVersion(write bool) error {
	v, closer, err := s.db.Get(versionKey)
	if errors.Is(err, pebble.ErrNotFound) {
		// A new store, or one whose first Open died before this point:
		// either way it is empty. A Pebble database with data but no
		// version was not written by mast.
		it, err := s.db.NewIter(nil)
		if err != nil {
			return s.classify("open", err)
		}
		nonEmpty := it.First()
		if err := it.Close(); err != nil {
			return s.classify("open", err)
		}
		if nonEmpty {
			return fmt.Errorf("store/pebble: %s is not a mast data directory: a Pebble database without mast's format version key: %w",
				s.dir, store.ErrCorrupt)
		}
		if !write {
			return nil
		}
		err = s.db.Set(versionKey, binary.BigEndian.AppendUint32(nil, FormatVersion), pebble.Sync)
		return s.classify("write format version", err)
	}
	if err != nil {
		return s.classify("read format version", err)
	}
	defer closer.Close()
	if len(v) != 4 {
		return fmt.Errorf("store/pebble: %s: format version of %d bytes; %s: %w", s.dir, len(v), recovery, store.ErrCorrupt)
	}
	switch ver := binary.BigEndian.Uint32(v); {
	case ver > FormatVersion:
		return fmt.Errorf("store/pebble: %s was written by a newer mast (format version %d; this mast reads up to %d): "+
			"run that mast, or use its `mast store export` and this one's `mast store import`: %w",
			s.dir, ver, FormatVersion, store.ErrVersion)
	case ver < 1:
		return fmt.Errorf("store/pebble: %s: unknown format version %d: %w", s.dir, ver, store.ErrVersion)
	}
	return nil
}

// Commit applies b atomically. With sync it returns once the write-ahead
// log holding b is synced; concurrent synced commits share one sync
// (Pebble's commit pipeline). A bad op rejects the whole batch. A batch
// that would leave less than Options.MinFreeBytes free is refused with
// store.ErrFull and nothing written; if the file system fails a write
// anyway, Commit returns its error (store.ErrFull for a full disk), the
// outcome of that batch is unknown, and the store refuses writes until it
// is reopened; what was committed before stays intact and readable.
func (s *Store) Commit(b *store.Batch, sync bool) error {
	if !s.gate.enter() {
		return store.ErrClosed
	}
	defer s.gate.leave()
	if errp := s.broken.Load(); errp != nil {
		return *errp
	}
	if len(b.Ops) == 0 {
		return nil
	}
	pb := s.db.NewBatch()
	defer pb.Close()
	var k, k2, v []byte
	for i := range b.Ops {
		op := &b.Ops[i]
		if err := codec.Check(op); err != nil {
			return fmt.Errorf("store/pebble: op %d: %w", i, err)
		}
		var err error
		switch op.Kind {
		case store.PutSession:
			k = sessionKey(k[:0], op.Session.ClientID)
			v = codec.AppendSession(v[:0], op.Session)
			err = pb.Set(k, v, nil)
		case store.DeleteSession:
			// The session takes its messages with it (store.DeleteSession).
			err = errors.Join(
				pb.Delete(sessionKey(k[:0], op.ClientID), nil),
				pb.DeleteRange(clientPrefix(k[:0], prefixOutbound, op.ClientID),
					clientPrefixEnd(k2[:0], prefixOutbound, op.ClientID), nil),
				pb.DeleteRange(clientPrefix(k[:0], prefixInbound, op.ClientID),
					clientPrefixEnd(k2[:0], prefixInbound, op.ClientID), nil))
		case store.PutOutbound:
			k = outboundKey(k[:0], op.Outbound.ClientID, op.Outbound.Seq)
			v = codec.AppendOutbound(v[:0], op.Outbound)
			err = pb.Set(k, v, nil)
		case store.DeleteOutbound:
			err = pb.Delete(outboundKey(k[:0], op.ClientID, op.Seq), nil)
		case store.PutInbound:
			err = pb.Set(inboundKey(k[:0], op.ClientID, op.PacketID), nil, nil)
		case store.DeleteInbound:
			err = pb.Delete(inboundKey(k[:0], op.ClientID, op.PacketID), nil)
		case store.PutRetained:
			k = retainedKey(k[:0], op.Retained.Topic)
			v = codec.AppendRetained(v[:0], op.Retained)
			err = pb.Set(k, v, nil)
		case store.DeleteRetained:
			err = pb.Delete(retainedKey(k[:0], op.Topic), nil)
		}
		if err != nil {
			return fmt.Errorf("store/pebble: op %d: %w", i, err)
		}
	}
	// A batch that only deletes is let through the reserve: it is what
	// frees space (acknowledged messages leaving a queue).
	if !deletesOnly(b) {
		if err := s.checkSpace(int64(pb.Len())); err != nil {
			return err
		}
	}
	wo := pebble.NoSync
	if sync {
		wo = pebble.Sync
	}
	if err := apply(pb.Commit, wo); err != nil {
		return s.writeFailed(err)
	}
	return nil
}

// apply runs a Pebble write. Pebble stops on a write-ahead log it cannot
// write (Logger.Fatalf, after the commit pipeline is done with the batch);
// apply turns that stop back into the error that caused it.
func apply(write func(*pebble.WriteOptions) error, wo *pebble.WriteOptions) (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(*fatal)
			if !ok {
				panic(r)
			}
			err = f
		}
	}()
	return write(wo)
}

// writeFailed records that Pebble failed a write and says so.
func (s *Store) writeFailed(err error) error {
	if isNoSpace(err) {
		err = fmt.Errorf("store/pebble: %s: the disk is full (%s); no more writes until the store is reopened "+
			"(restart the broker once space is freed); what was committed before is intact: %w", s.dir, firstLine(err), store.ErrFull)
	} else {
		err = fmt.Errorf("store/pebble: %s: write failed; no more writes until the store is reopened: %w", s.dir, err)
	}
	s.broken.CompareAndSwap(nil, &err)
	s.log.Error("store: write failed", "dir", s.dir, "err", err)
	return err
}

const defaultSpaceCheckInterval = 50 * time.Millisecond

// checkSpace refuses a write of n bytes that would eat into the reserve.
// It measures the free space every Options.SpaceCheckInterval, or sooner
// when the estimate (last measure less what was written since, counted
// twice: once to the log and once to a table) falls below the reserve.
func (s *Store) checkSpace(n int64) error {
	if s.minFree < 0 {
		return nil
	}
	now := time.Now().UnixNano()
	if s.avail.Add(-2*n) >= s.minFree && now-s.checked.Load() < s.recheck {
		return nil
	}
	s.spaceMu.Lock()
	defer s.spaceMu.Unlock()
	if s.avail.Load() >= s.minFree && now < s.checked.Load() {
		return nil // measured by another commit while this one waited
	}
	du, err := s.fs.GetDiskUsage(s.dir)
	if err != nil {
		// Cannot tell: let the write try, and try to measure again soon.
		s.avail.Store(s.minFree + 2*n)
		s.checked.Store(time.Now().UnixNano())
		return nil
	}
	avail := int64(min(du.AvailBytes, 1<<62))
	s.avail.Store(avail)
	s.checked.Store(time.Now().UnixNano())
	if avail-2*n < s.minFree {
		return fmt.Errorf("store/pebble: %s: %d bytes free, less than the %d kept in reserve; nothing written: %w",
			s.dir, avail, s.minFree, store.ErrFull)
	}
	return nil
}

// Sync makes every earlier Commit durable with one sync of the
// write-ahead log (store.Syncer).
func (s *Store) Sync() error {
	if !s.gate.enter() {
		return store.ErrClosed
	}
	defer s.gate.leave()
	if errp := s.broken.Load(); errp != nil {
		return *errp
	}
	logData := func(wo *pebble.WriteOptions) error { return s.db.LogData(nil, wo) }
	if err := apply(logData, pebble.Sync); err != nil {
		return s.writeFailed(err)
	}
	return nil
}

// Load visits every record in key order: sessions by client id, outbound
// messages by (client id, sequence), inbound ids by (client id, packet
// id), retained messages by topic. It reads a consistent snapshot; the
// visitor may call Commit. Unreadable data stops it with an error
// wrapping store.ErrCorrupt.
func (s *Store) Load(v store.Visitor) error {
	if !s.gate.enter() {
		return store.ErrClosed
	}
	defer s.gate.leave()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixSession}, UpperBound: []byte{prefixEnd}})
	if err != nil {
		return s.classify("load", err)
	}
	err = s.load(it, v)
	if cerr := it.Close(); err == nil && cerr != nil {
		err = s.classify("load", cerr)
	}
	return err
}

func (s *Store) load(it *pebble.Iterator, v store.Visitor) error {
	for p := byte(prefixSession); p < prefixEnd; p++ {
		switch {
		case p == prefixSession && v.Session == nil,
			p == prefixOutbound && v.Outbound == nil,
			p == prefixInbound && v.Inbound == nil,
			p == prefixRetained && v.Retained == nil:
			continue
		}
		for ok := it.SeekGE([]byte{p}); ok && it.Key()[0] == p; ok = it.Next() {
			key := it.Key()[1:]
			val, err := it.ValueAndErr()
			if err != nil {
				return s.classify("load", err)
			}
			if err := s.visit(v, p, key, val); err != nil {
				return err
			}
		}
		if err := it.Error(); err != nil {
			return s.classify("load", err)
		}
	}
	return nil
}

func (s *Store) visit(v store.Visitor, prefix byte, key, val []byte) error {
	switch prefix {
	case prefixSession:
		sess, err := codec.DecodeSession(key, val)
		if err != nil {
			return s.corrupt(err)
		}
		return v.Session(sess)
	case prefixOutbound:
		client, seq, err := parseOutboundKey(key)
		if err != nil {
			return s.corrupt(fmt.Errorf("%w: outbound key %q: %v", store.ErrCorrupt, key, err))
		}
		o, err := codec.DecodeOutbound(client, seq, val)
		if err != nil {
			return s.corrupt(err)
		}
		return v.Outbound(o)
	case prefixInbound:
		client, id, err := parseInboundKey(key)
		if err == nil && len(val) != 0 {
			err = fmt.Errorf("value of %d bytes", len(val))
		}
		if err != nil {
			return s.corrupt(fmt.Errorf("%w: inbound key %q: %v", store.ErrCorrupt, key, err))
		}
		return v.Inbound(string(client), id)
	default:
		m, err := codec.DecodeRetained(key, val)
		if err != nil {
			return s.corrupt(err)
		}
		return v.Retained(m)
	}
}

// Stats counts the records of each kind and the bytes of their keys and
// values, by reading them all.
func (s *Store) Stats() (map[string]store.KindStats, error) {
	if !s.gate.enter() {
		return nil, store.ErrClosed
	}
	defer s.gate.leave()
	st := map[string]store.KindStats{}
	for _, k := range store.Kinds() {
		st[k] = store.KindStats{}
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixSession}, UpperBound: []byte{prefixEnd}})
	if err != nil {
		return nil, s.classify("stats", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		kind := kindOf(it.Key()[0])
		k := st[kind]
		k.Count++
		k.Bytes += int64(len(it.Key()) + len(it.Value()))
		st[kind] = k
	}
	if err := it.Close(); err != nil {
		return nil, s.classify("stats", err)
	}
	return st, nil
}

// Compact flushes the memory table and rewrites every table of the store,
// dropping deleted and overwritten records (store.Compacter).
func (s *Store) Compact() error {
	if !s.gate.enter() {
		return store.ErrClosed
	}
	defer s.gate.leave()
	if err := s.db.Compact(context.Background(), []byte{prefixMeta}, []byte{prefixEnd}, true); err != nil {
		return s.classify("compact", err)
	}
	return nil
}

// Close waits for the calls in progress, then closes the database and
// releases the directory. Later calls return store.ErrClosed.
func (s *Store) Close() error {
	if !s.gate.close() {
		return store.ErrClosed
	}
	err := s.db.Close()
	if lerr := s.lock.Close(); err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("store/pebble: close %s: %w", s.dir, err)
	}
	return nil
}

// Dir is the data directory, as an absolute path when Options.FS is nil.
func (s *Store) Dir() string { return s.dir }

// classify wraps a Pebble error, mapping corruption to store.ErrCorrupt,
// an unknown Pebble format to store.ErrVersion and a full disk to
// store.ErrFull.
func (s *Store) classify(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case isCorruption(err):
		return fmt.Errorf("store/pebble: %s %s: %s; %s: %w", what, s.dir, firstLine(err), recovery, store.ErrCorrupt)
	case isUnknownPebbleFormat(err):
		return fmt.Errorf("store/pebble: %s %s: %s: the data was written by a newer mast: %w", what, s.dir, firstLine(err), store.ErrVersion)
	case isNoSpace(err):
		return fmt.Errorf("store/pebble: %s %s: %s: %w", what, s.dir, firstLine(err), store.ErrFull)
	}
	return fmt.Errorf("store/pebble: %s %s: %w", what, s.dir, err)
}

func (s *Store) corrupt(err error) error {
	return fmt.Errorf("store/pebble: %s: %w; %s", s.dir, err, recovery)
}

// firstLine is the message of err without the detail lines some Pebble
// errors carry.
func firstLine(err error) string {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		return msg[:i]
	}
	return msg
}

func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// isCorruption tells Pebble's errors about unreadable files. Pebble
// marks most with ErrCorruption (a cockroachdb/errors mark, which
// pebble.IsCorruptionError sees and errors.Is does not); a table whose size
// differs from the MANIFEST's record, or that is missing, is not marked.
func isCorruption(err error) bool {
	return pebble.IsCorruptionError(err) ||
		errors.Is(err, record.ErrInvalidChunk) || errors.Is(err, record.ErrZeroedChunk) ||
		errors.Is(err, record.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "object size mismatch") ||
		errors.Is(err, fs.ErrNotExist)
}

func isUnknownPebbleFormat(err error) bool {
	return strings.Contains(err.Error(), "unknown format major version")
}

func oserrorIsNotExist(err error) bool {
	return err != nil && errors.Is(err, fs.ErrNotExist)
}

// gate lets calls in and, once closed, keeps them out and waits for those
// inside.
type gate struct {
	mu     sync.Mutex
	done   sync.Cond
	n      int
	closed bool
}

func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.n++
	return true
}

func (g *gate) leave() {
	g.mu.Lock()
	g.n--
	if g.n == 0 && g.closed {
		g.done.Broadcast()
	}
	g.mu.Unlock()
}

func (g *gate) close() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.closed = true
	g.done.L = &g.mu
	for g.n > 0 {
		g.done.Wait()
	}
	return true
}

// logger passes Pebble's messages to slog.
type logger struct{ l *slog.Logger }

// LevelPebble is the level of Pebble's informational messages (logs
// opened, tables flushed and compacted): below Debug, so that a verbose
// broker console shows the protocol, not the storage engine.
const LevelPebble = slog.LevelDebug - 4

func (l logger) Infof(format string, args ...any) {
	if l.l.Enabled(context.Background(), LevelPebble) {
		l.l.Log(context.Background(), LevelPebble, pebbleMsg(format, args))
	}
}

func (l logger) Errorf(format string, args ...any) {
	l.l.Error(pebbleMsg(format, args))
}

func pebbleMsg(format string, args []any) string {
	msg := fmt.Sprintf(format, args...)
	if !strings.HasPrefix(msg, "pebble") {
		msg = "pebble: " + msg
	}
	return msg
}

// Fatalf is called when Pebble cannot go on; it must not return. It
// panics with a *fatal, which Commit and Sync recover when it comes from
// their write (see apply); anywhere else it stops the process, as Pebble
// intends: a broker restarted on the directory recovers from the log.
func (l logger) Fatalf(format string, args ...any) {
	f := &fatal{msg: pebbleMsg(format, args)}
	for _, a := range args {
		if err, ok := a.(error); ok {
			f.err = err
			break
		}
	}
	l.l.Error(firstLine(f))
	panic(f)
}

// fatal is what Pebble's Fatalf panics with: its message and the error
// among its arguments.
type fatal struct {
	msg string
	err error
}

func (f *fatal) Error() string { return f.msg }
func (f *fatal) Unwrap() error { return f.err }

// deletesOnly reports whether a batch removes records and writes none.
func deletesOnly(b *store.Batch) bool {
	for _, op := range b.Ops {
		switch op.Kind {
		case store.DeleteSession, store.DeleteOutbound, store.DeleteInbound, store.DeleteRetained:
		default:
			return false
		}
	}
	return true
}
