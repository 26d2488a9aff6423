package broker

import (
	"bytes"
	"io"
	"testing"
)

// countingSource counts the reads a lazyReader makes.
type countingSource struct {
	r     io.Reader
	reads int
}

func (c *countingSource) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

// TestLazyReaderReadsInBulk guards against reading byte by byte: a busy
// stream must be read a buffer at a time, not one byte per system call.
func TestLazyReaderReadsInBulk(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	src := &countingSource{r: bytes.NewReader(data)}
	l := &lazyReader{src: src}
	got := make([]byte, 0, len(data))
	buf := make([]byte, 100)
	for len(got) < len(data) {
		if b, err := l.ReadByte(); err == nil {
			got = append(got, b)
		}
		n, err := l.Read(buf[:min(len(buf), len(data)-len(got))])
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("data changed on the way")
	}
	if max := 2*len(data)/lazyBufSize + 4; src.reads > max {
		t.Fatalf("%d reads for %d bytes; want at most %d", src.reads, len(data), max)
	}
	l.close()
}

// TestLazyReaderIdleHoldsNoBuffer checks that a connection with nothing
// left to read gives its buffer back.
func TestLazyReaderIdleHoldsNoBuffer(t *testing.T) {
	l := &lazyReader{src: bytes.NewReader([]byte{1, 2, 3})}
	for range 3 {
		if _, err := l.ReadByte(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.ReadByte(); err != io.EOF {
		t.Fatalf("got %v, want EOF", err)
	}
	if l.buf != nil {
		t.Fatal("buffer kept with nothing to read")
	}
}
