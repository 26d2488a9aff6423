package broker

import (
	"io"
	"sync"
)

// lazyReader buffers reads from a socket, but holds a buffer only while
// there is data to read: when everything buffered has been consumed, the
// buffer goes back to a pool and the next read waits for one byte without
// a buffer. Idle connections, most of a large broker's, then cost no read
// buffer at all.
type lazyReader struct {
	src  io.Reader
	buf  *[]byte // nil while idle
	r, w int
	one  [1]byte
	// busy: a packet has begun, or the last read filled the buffer, so
	// more is likely waiting; the buffer is kept until a read comes back
	// short and is consumed.
	busy bool
	// keep counts reads that keep the buffer whatever they return: a new
	// connection sends CONNECT and usually SUBSCRIBE at once.
	keep int
}

const lazyBufSize = 4096

var readBufs = sync.Pool{New: func() any { b := make([]byte, lazyBufSize); return &b }}

// fill makes data available: after a buffer-less wait for the first byte
// when idle, or a read into the buffer.
func (l *lazyReader) fill() error {
	if l.buf == nil && l.busy {
		// Data is expected (a new connection's CONNECT): read it with a
		// buffer at once.
		l.buf = readBufs.Get().(*[]byte)
	}
	if l.buf == nil {
		n, err := l.src.Read(l.one[:])
		if n == 0 {
			if err == nil {
				err = io.ErrNoProgress
			}
			return err
		}
		l.buf = readBufs.Get().(*[]byte)
		(*l.buf)[0] = l.one[0]
		l.r, l.w = 0, 1
		l.busy = true // read the rest of the packet with the buffer
		return nil
	}
	n, err := l.src.Read((*l.buf)[:])
	if l.keep > 0 {
		l.keep--
	}
	if n > 0 {
		l.r, l.w = 0, n
		l.busy = n == len(*l.buf)
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// release returns the buffer when it is empty.
func (l *lazyReader) release() {
	if l.keep > 0 {
		return
	}
	if l.buf != nil && l.r == l.w && !l.busy {
		readBufs.Put(l.buf)
		l.buf = nil
	}
}

func (l *lazyReader) ReadByte() (byte, error) {
	if l.r == l.w {
		l.release()
		if err := l.fill(); err != nil {
			return 0, err
		}
	}
	b := (*l.buf)[l.r]
	l.r++
	return b, nil
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if l.r == l.w {
		l.release()
		if len(p) >= lazyBufSize {
			return l.src.Read(p) // large body: straight into it
		}
		if err := l.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, (*l.buf)[l.r:l.w])
	l.r += n
	return n, nil
}

// close gives the buffer back for good.
func (l *lazyReader) close() {
	if l.buf != nil {
		readBufs.Put(l.buf)
		l.buf = nil
	}
}
