package pebble_test

// Benchmarks of what the broker waits for: synced commits (each acknowledged
// QoS 1/2 message of a persistent session is one) from one and from many
// connections, and start-up with a large retained set.
//
//	go test ./store/pebble -run '^$' -bench . -benchtime 2s
//	go test ./store/pebble -run '^$' -bench LoadRetained -benchtime 1x

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/store/pebble"
)

// countingFS counts the syncs of write-ahead log files.
type countingFS struct {
	vfs.FS
	syncs atomic.Int64
}

func (fs *countingFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &countingFile{File: f, n: &fs.syncs}, nil
}

func (fs *countingFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.wrap(name, f, err)
}

func (fs *countingFS) ReuseForWrite(old, name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(old, name, c)
	return fs.wrap(name, f, err)
}

func (fs *countingFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, o ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, c, o...)
	return fs.wrap(name, f, err)
}

type countingFile struct {
	vfs.File
	n *atomic.Int64
}

func (f *countingFile) Sync() error     { f.n.Add(1); return f.File.Sync() }
func (f *countingFile) SyncData() error { f.n.Add(1); return f.File.SyncData() }
func (f *countingFile) SyncTo(length int64) (bool, error) {
	f.n.Add(1)
	return f.File.SyncTo(length)
}

// BenchmarkCommit commits small batches (one outbound message of 100
// bytes, as for one subscriber of a QoS 1 publish) from several
// goroutines at once and reports commits per second and log syncs.
func BenchmarkCommit(b *testing.B) {
	for _, sync := range []bool{true, false} {
		for _, g := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("sync=%v/goroutines=%d", sync, g), func(b *testing.B) {
				benchCommit(b, g, sync)
			})
		}
	}
}

func benchCommit(b *testing.B, goroutines int, syncWrites bool) {
	fs := &countingFS{FS: vfs.Default}
	s, err := pebble.Open(b.TempDir(), &pebble.Options{Logger: quietLogger(b), FS: fs})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	payload := make([]byte, 100)
	var next atomic.Int64
	var wg sync.WaitGroup
	syncs0 := fs.syncs.Load()
	b.ResetTimer()
	start := time.Now()
	for w := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := fmt.Sprintf("client-%d", w)
			var batch store.Batch
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				batch.Reset()
				batch.PutOutbound(&store.Outbound{ClientID: client, Seq: uint64(i), QoS: 1,
					Msg: store.Message{Topic: "bench/topic", Payload: payload, QoS: 1, Publisher: "pub"}})
				if err := s.Commit(&batch, syncWrites); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	syncs := fs.syncs.Load() - syncs0
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
	b.ReportMetric(float64(syncs)/elapsed.Seconds(), "fsyncs/s")
	if syncs > 0 {
		b.ReportMetric(float64(b.N)/float64(syncs), "commits/fsync")
	}
}

// BenchmarkLoadRetained measures start-up with a large retained set: Open
// of a store holding n retained messages (topic like
// "site/0042/device/00017/temp", 16-byte payload), then Load keeping
// every message, as the broker's retained index does. It reports the
// time of each and the heap the loaded messages take.
func BenchmarkLoadRetained(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprint("n=", n), func(b *testing.B) { benchLoadRetained(b, n) })
	}
}

func benchLoadRetained(b *testing.B, n int) {
	dir := b.TempDir()
	s, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	var batch store.Batch
	payload := []byte("21.5 C, ok      ")
	for i := range n {
		batch.PutRetained(&store.Message{Topic: fmt.Sprintf("site/%04d/device/%05d/temp", i/1000, i%1000),
			Payload: payload, QoS: 1, Retain: true, Publisher: "device"})
		if batch.Len() == 10_000 || i == n-1 {
			if err := s.Commit(&batch, false); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
	if err := s.Compact(); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	size, _ := dirBytes(dir)

	var openTime, loadTime time.Duration
	var heapPerMsg float64
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		start := time.Now()
		s, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger(b)})
		if err != nil {
			b.Fatal(err)
		}
		opened := time.Now()
		kept := make([]*store.Message, 0, n)
		err = s.Load(store.Visitor{Retained: func(m *store.Message) error { kept = append(kept, m); return nil }})
		if err != nil {
			b.Fatal(err)
		}
		loaded := time.Now()
		openTime += opened.Sub(start)
		loadTime += loaded.Sub(opened)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		if len(kept) != n {
			b.Fatalf("loaded %d, want %d", len(kept), n)
		}
		heapPerMsg = float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)-int64(8*n)) / float64(n)
		runtime.KeepAlive(kept)
	}
	b.StopTimer()
	b.ReportMetric(float64(openTime.Milliseconds())/float64(b.N), "open-ms")
	b.ReportMetric(float64(loadTime.Milliseconds())/float64(b.N), "load-ms")
	b.ReportMetric(heapPerMsg, "heap-B/msg")
	b.ReportMetric(float64(size)/float64(n), "disk-B/msg")
}

func dirBytes(dir string) (int64, error) {
	names, err := vfs.Default.List(dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, name := range names {
		fi, err := vfs.Default.Stat(vfs.Default.PathJoin(dir, name))
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
	}
	return n, nil
}
