//go:build linux

package broker

import (
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

const parkSupported = true

// wheelSlots is the number of one-second slots of the keep-alive wheel;
// a deadline further away waits in its slot for as many turns as needed.
const wheelSlots = 256

// parker holds the parked connections of one server: an epoll set with
// one-shot, level-triggered interest in their sockets, a table from file
// descriptor to connection, and a timing wheel of their keep-alive
// deadlines. One goroutine waits on the epoll set while anything is
// parked; the set is made by the first connection that parks and closed
// by Shutdown.
//
// mu is a leaf: nothing else is locked while it is held, and the poller
// starts reader goroutines only after releasing it.
type parker struct {
	// idle overrides parkIdle (tests); set before the server serves.
	idle time.Duration

	mu      sync.Mutex
	state   uint8 // parkerNew, parkerOpen or parkerStopped
	polling bool  // a poller goroutine runs
	opened  bool  // epfd and evfd are open
	epfd    int
	evfd    int     // eventfd that stops the poller
	byFD    []*conn // parked connections by file descriptor
	wheel   [wheelSlots]*conn
	swept   int64 // last second whose wheel slot has been swept
	seq     uint32
	count   int            // parked connections
	pollers sync.WaitGroup // the poller, while it runs
	events  []unix.EpollEvent
}

const (
	parkerNew = iota
	parkerOpen
	parkerStopped // closed by Shutdown, or failed: nothing parks
)

func (p *parker) idleFor() time.Duration {
	if p.idle > 0 {
		return p.idle
	}
	return parkIdle
}

// openLocked creates the epoll set on first use.
func (p *parker) openLocked() bool {
	switch p.state {
	case parkerOpen:
		return true
	case parkerStopped:
		return false
	}
	p.state = parkerStopped
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return false
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return false
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return false
	}
	p.epfd, p.evfd, p.opened = epfd, evfd, true
	p.state = parkerOpen
	p.swept = time.Now().Unix()
	p.events = make([]unix.EpollEvent, 128)
	return true
}

// add parks c: its reader, at a packet boundary with nothing buffered,
// exits on parkDone.
func (p *parker) add(c *conn) parkResult {
	rc, err := c.nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		return parkClosing
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.pk.closing {
		return parkClosing
	}
	if !p.openLocked() {
		return parkNo
	}
	p.seq++
	if p.seq == 0 {
		p.seq = 1
	}
	seq, fd := p.seq, -1
	var ctlErr error
	// Control holds the socket open while the interest is registered: a
	// descriptor closed and reused meanwhile cannot be registered by
	// mistake.
	err = rc.Control(func(s uintptr) {
		fd = int(s)
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(fd), Pad: int32(seq)}
		if c.pk.armed {
			ctlErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
		} else if ctlErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); ctlErr == unix.EEXIST {
			ctlErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
		}
	})
	if err != nil {
		return parkClosing
	}
	if ctlErr != nil {
		return parkNo
	}
	c.pk.armed = true
	c.pk.seq = seq
	c.pk.parked = true
	for fd >= len(p.byFD) {
		p.byFD = append(p.byFD[:cap(p.byFD)], nil)
	}
	p.byFD[fd] = c
	c.fd = int32(fd)
	if c.due != 0 {
		p.wheelAddLocked(c)
	}
	p.count++
	if !p.polling {
		p.polling = true
		p.pollers.Add(1)
		go p.poll()
	}
	return parkDone
}

// release marks c as closing and unparks it; it reports whether c was
// parked, in which case the caller starts a reader for it.
func (p *parker) release(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.pk.closing = true
	if !c.pk.parked {
		return false
	}
	p.removeLocked(c)
	return true
}

func (p *parker) removeLocked(c *conn) {
	c.pk.parked = false
	p.byFD[c.fd] = nil
	if c.pk.inWheel {
		p.wheelRemoveLocked(c)
	}
	p.count--
}

// parked returns the number of parked connections.
func (p *parker) parked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

// close stops the poller, wakes whatever is still parked and closes the
// epoll set; nothing parks afterwards.
func (p *parker) close() {
	p.mu.Lock()
	p.state = parkerStopped
	wake := p.takeAllLocked()
	if p.polling {
		one := [8]byte{1}
		unix.Write(p.evfd, one[:]) // the poller stops at this event
	}
	p.mu.Unlock()
	for _, c := range wake {
		go c.readLoop(true)
	}
	p.pollers.Wait()
	p.mu.Lock()
	if p.opened {
		unix.Close(p.epfd)
		unix.Close(p.evfd)
		p.opened = false
	}
	p.mu.Unlock()
}

// pollerRuns reports whether a poller goroutine runs (tests).
func (p *parker) pollerRuns() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.polling
}

func (p *parker) takeAllLocked() []*conn {
	var all []*conn
	for _, c := range p.byFD {
		if c != nil {
			p.removeLocked(c)
			all = append(all, c)
		}
	}
	return all
}

// poll waits for parked sockets to become readable and hands each to a
// new reader goroutine; once a second it sweeps the keep-alive wheel. It
// returns when nothing is left parked (add starts another) or at close.
func (p *parker) poll() {
	defer p.pollers.Done()
	p.mu.Lock()
	epfd, evfd, events := p.epfd, p.evfd, p.events
	p.mu.Unlock()
	var wake []*conn
	for {
		now := time.Now()
		wait := 1000 - now.Nanosecond()/1e6 // until the next whole second
		n, err := unix.EpollWait(epfd, events, wait)
		failed := err != nil && err != unix.EINTR
		stop := false
		now = time.Now()
		p.mu.Lock()
		for _, ev := range events[:max(n, 0)] {
			fd := int(ev.Fd)
			if fd == evfd {
				stop = true
				continue
			}
			if fd < len(p.byFD) {
				if c := p.byFD[fd]; c != nil && c.pk.seq == uint32(ev.Pad) {
					p.removeLocked(c)
					wake = append(wake, c)
				}
			}
		}
		if now.Unix() > p.swept {
			wake = p.sweepLocked(now, wake)
		}
		if failed {
			// Not expected: parking stops and the parked wake up.
			p.state = parkerStopped
			wake = append(wake, p.takeAllLocked()...)
		}
		if stop || failed || p.count == 0 {
			p.polling = false
			stop = true
		}
		p.mu.Unlock()
		for i, c := range wake {
			go c.readLoop(true)
			wake[i] = nil
		}
		wake = wake[:0]
		if stop {
			return
		}
	}
}

// The keep-alive wheel: a parked connection with a keep alive waits in
// the slot of the second its deadline falls in (rounded up); each second
// the poller expires the due ones of the slots it passed.

func (p *parker) wheelAddLocked(c *conn) {
	s := (c.due + int64(time.Second) - 1) / int64(time.Second)
	if s <= p.swept {
		s = p.swept + 1
	}
	i := uint32(s % wheelSlots)
	c.pk.slot = i
	c.pk.prev = nil
	c.pk.next = p.wheel[i]
	if c.pk.next != nil {
		c.pk.next.pk.prev = c
	}
	p.wheel[i] = c
	c.pk.inWheel = true
}

func (p *parker) wheelRemoveLocked(c *conn) {
	if c.pk.prev != nil {
		c.pk.prev.pk.next = c.pk.next
	} else {
		p.wheel[c.pk.slot] = c.pk.next
	}
	if c.pk.next != nil {
		c.pk.next.pk.prev = c.pk.prev
	}
	c.pk.next, c.pk.prev = nil, nil
	c.pk.inWheel = false
}

// sweepLocked unparks the connections whose keep alive has run out: their
// reader finds the deadline passed and closes them as the spec says.
func (p *parker) sweepLocked(now time.Time, wake []*conn) []*conn {
	sec := now.Unix()
	from := max(p.swept+1, sec-wheelSlots+1)
	ns := now.UnixNano()
	for s := from; s <= sec; s++ {
		for c := p.wheel[s%wheelSlots]; c != nil; {
			next := c.pk.next
			if c.due <= ns {
				p.removeLocked(c)
				wake = append(wake, c)
			}
			c = next
		}
	}
	p.swept = sec
	return wake
}
