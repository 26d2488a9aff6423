package broker

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/mastmq/mast/packet"
)

// Parking: most of a large broker's connections are idle, and a goroutine
// blocked in Read costs each of them a stack. On Linux, a plain TCP
// connection whose reader has had nothing to read for parkIdle (or right
// after a SUBSCRIBE, UNSUBSCRIBE or PINGREQ, after which clients usually
// go quiet) is parked instead:
// its socket goes into the server's epoll set (park_linux.go) and the
// reader goroutine exits. When the socket becomes readable, when its keep
// alive runs out, or when the connection is kicked or its writer closes it,
// a fresh reader goroutine picks it up where it left off.
//
// A parked connection holds no goroutine, no read buffer and no
// packet.Reader. Other connections (TLS, WebSocket, unix sockets, internal
// ones) always keep a blocked reader.

// parkIdle is how long a reader waits with nothing to read before it
// parks its connection: long enough that a busy connection never parks,
// short enough that an idle one soon holds no goroutine.
const parkIdle = time.Second

// parkResult says what became of a connection that tried to park.
type parkResult uint8

const (
	parkNo      parkResult = iota // parking is not available: go on reading
	parkDone                      // parked: the reader goroutine must exit
	parkClosing                   // kicked or closed: go on reading, which fails
)

// parkLinks is a connection's parking state, guarded by the parker's lock.
type parkLinks struct {
	next, prev *conn  // in a keep-alive wheel slot
	slot       uint32 // that slot
	seq        uint32 // this parking's number, carried by the epoll event
	parked     bool
	inWheel    bool
	armed      bool // the socket is in the epoll set (disabled after an event)
	closing    bool // kicked or being closed: never park again
}

// canPark reports whether a connection may be parked: a plain TCP socket
// on a system with a parker.
func canPark(nc net.Conn) bool {
	_, ok := nc.(*net.TCPConn)
	return ok && parkSupported
}

// packetReaders recycles packet readers, so that a parked connection
// holds none (a packet.Reader carries a reusable PUBLISH, over 300 bytes).
var packetReaders = sync.Pool{New: func() any { return new(packet.Reader) }}

// takeReader gives the reader goroutine a packet reader.
func (c *conn) takeReader() {
	if c.rd != nil {
		return
	}
	r := packetReaders.Get().(*packet.Reader)
	r.R = &c.in
	r.Version = c.version
	r.MaxSize = int(c.srv.lim().MaxPacketSize)
	c.rd = r
}

// dropReader gives the packet reader back.
func (c *conn) dropReader() {
	if c.rd == nil {
		return
	}
	*c.rd = packet.Reader{} // drop references to the last packet
	packetReaders.Put(c.rd)
	c.rd = nil
}

// setDue starts the keep-alive clock at now: the next packet must have
// arrived within one and a half times the keep alive [MQTT-3.1.2-24].
func (c *conn) setDue(now time.Time) {
	if c.keepAlive > 0 {
		c.due = now.Add(c.keepAlive * 3 / 2).UnixNano()
	} else {
		c.due = 0
	}
}

// dueTime is c.due as a deadline; zero for none.
func (c *conn) dueTime() time.Time {
	if c.due == 0 {
		return time.Time{}
	}
	return time.Unix(0, c.due)
}

// waitPacket waits, at a packet boundary with nothing buffered, for the
// next packet to begin. With nothing for parkIdle it parks the
// connection and reports true: the caller's goroutine must then exit
// without touching the connection again. resumed is set on the first wait
// of a reader that took over a parked connection, whose keep-alive clock
// keeps running from before.
func (c *conn) waitPacket(resumed bool) (parked bool, err error) {
	now := time.Now()
	if !resumed {
		c.setDue(now)
	}
	dl := now.Add(c.srv.park.idleFor())
	canPark := true
	if c.due != 0 && c.due <= dl.UnixNano() {
		dl, canPark = c.dueTime(), false
	}
	c.nc.SetReadDeadline(dl)
	c.waiting = true
	c.in.release() // wait without a buffer unless data is expected
	err = c.in.fill()
	c.waiting = false
	if err == nil || !canPark || !isTimeout(err) {
		return false, err
	}
	if c.park() == parkDone {
		return true, nil
	}
	// Not parked: wait as a connection that cannot park does. A closing
	// connection's read fails at once or when its writer closes it.
	c.nc.SetReadDeadline(c.dueTime())
	c.waiting = true
	err = c.in.fill()
	c.waiting = false
	return false, err
}

// park hands the connection to the parker. On parkDone the connection
// belongs to whoever wakes it: the caller must not touch it again.
func (c *conn) park() parkResult {
	// No read deadline while parked: the poller keeps the keep-alive
	// clock, and an idle connection holds no runtime timer.
	c.nc.SetReadDeadline(time.Time{})
	c.in.close()
	c.in.busy, c.in.keep = false, 0
	c.dropReader()
	r := c.srv.park.add(c)
	if r != parkDone {
		c.takeReader()
	}
	return r
}

// unparkToClose wakes a parked connection that is being kicked or whose
// socket is about to be closed, so that a reader runs its cleanup; from
// then on the connection never parks. It must be called before the
// socket is closed, for the parker knows it by its file descriptor.
func (c *conn) unparkToClose() {
	if c.parkable && c.srv.park.release(c) {
		go c.readLoop(true)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
