package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mastmq/mast/auth"
	"github.com/mastmq/mast/packet"
)

// conn is one network connection and the client speaking on it. Its
// fields are ordered to keep it small: a large broker holds one per idle
// client.
type conn struct {
	srv    *Server
	nc     net.Conn
	rd     *packet.Reader // nil while parked
	in     lazyReader
	remote string

	// Set by CONNECT, then read-only.
	clientID    string
	username    string
	keepAlive   time.Duration
	connectedAt time.Time
	sess        *session
	// authClient is the client as the Authenticator and Authorizer see it.
	authClient *auth.Client
	// outAliases is owned by the writer goroutine, inAliases by the
	// reader.
	outAliases map[string]uint16
	inAliases  map[uint16]string
	maxOut     uint32 // client's Maximum Packet Size, 0 when unlimited
	// aliasMaxOut is the client's Topic Alias Maximum.
	aliasMaxOut uint16
	version     byte
	// problemInfo is false when a v5 client asked for no reason strings
	// [MQTT-3.1.2-29].
	problemInfo bool

	// Reader goroutine state. due is the keep-alive deadline in Unix
	// nanoseconds (0: none), which the parker reads while the connection
	// is parked.
	due      int64
	parkable bool // the connection may park (park.go)
	waiting  bool // in waitPacket: a timeout is not a stall mid-packet
	// softDL: past CONNECT on a connection that can park, the socket's
	// read deadline only wakes the reader (to park, say); c.due decides
	// when the client has run out of time.
	softDL bool
	// fd and pk are guarded by the parker's lock.
	fd int32 // the socket's descriptor while parked
	pk parkLinks

	// Outbound queue.
	outMu      sync.Mutex
	outClosed  bool
	writing    bool // a writer goroutine is running
	writerGone bool // the writer has closed the connection
	outq       []outItem
	outBytes   int
	wake       chan struct{} // wakes a writer waiting for more; nil when none waits
	drained    chan struct{} // made by the first waitOutbound that waits
	writerDone chan struct{} // see writerExited
	dropped    atomic.Uint64
	lopts      *ListenerOptions // nil for ServeConn
	pubRate    bucket           // reader goroutine only
	// pending bounds the QoS 1/2 PUBLISH packets waiting for the store;
	// nil without a store.
	pending chan struct{}

	// How the connection ended, decided by the reader or by kick.
	endMu      sync.Mutex
	normal     bool // DISCONNECT 0x00 received: no will [MQTT-3.1.2-10]
	kicked     bool
	kickReason byte          // set when the server closed the connection
	done       chan struct{} // closed once cleanup has finished
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		srv:         s,
		nc:          nc,
		remote:      nc.RemoteAddr().String(),
		problemInfo: true,
		parkable:    canPark(nc),
		done:        make(chan struct{}),
	}
	if s.journal != nil {
		c.pending = make(chan struct{}, s.lim().ReceiveMaximum)
	}
	c.in.src = (*connSource)(c)
	c.in.busy = true // CONNECT is on its way
	c.in.keep = 2    // and SUBSCRIBE, usually, right after CONNACK
	return c
}

// run is the connection's reader goroutine: it reads CONNECT, then goes
// on in readLoop.
func (c *conn) run() {
	handedOff := false
	defer func() {
		if !handedOff {
			c.cleanup()
		}
	}()
	if !c.srv.opts.NoConnectionMessages && c.srv.log.Enabled(context.Background(), slog.LevelInfo) {
		c.srv.connLog("New connection from " + c.remote + " on port " + localPort(c.nc) + ".")
	}
	// A socket that sends no CONNECT in time is closed.
	c.nc.SetReadDeadline(time.Now().Add(c.srv.lim().ConnectTimeout))
	c.takeReader()
	p, err := c.rd.Read()
	if err != nil {
		var cp *packet.Connect
		if cp, _ = p.(*packet.Connect); cp != nil && errors.Is(err, packet.ErrUnsupportedVersion) {
			c.refuseVersion(cp)
			return
		}
		c.readFailed(err, "")
		return
	}
	cp, ok := p.(*packet.Connect)
	if !ok {
		// The first packet must be CONNECT [MQTT-3.1.0-1].
		c.srv.log.Info("first packet was not CONNECT; closing", "remote", c.remote, "type", p.Type())
		return
	}
	if !c.handleConnect(cp) {
		return
	}
	c.rd.Version = c.version
	// Handling CONNECT grew this goroutine's stack; the connection may now
	// sit idle for hours, so it goes on in a fresh goroutine whose stack
	// is small.
	handedOff = true
	go c.readLoop(false)
}

// readLoop reads and handles packets until the connection ends or parks
// (park.go); resumed is set when it takes over a parked connection. A
// connection that cannot park hands over to a fresh goroutine after a
// SUBSCRIBE or UNSUBSCRIBE with nothing more to read, for the same reason
// as run.
func (c *conn) readLoop(resumed bool) {
	handedOff := false
	defer func() {
		if !handedOff {
			c.cleanup()
		}
	}()
	if resumed {
		if c.isKicked() {
			return
		}
		c.in.busy = true // woken because there is something to read
	}
	c.takeReader()
	c.softDL = c.parkable
	for {
		if !c.parkable {
			if c.keepAlive > 0 {
				// One and a half times the keep alive [MQTT-3.1.2-24].
				c.nc.SetReadDeadline(time.Now().Add(c.keepAlive * 3 / 2))
			} else {
				c.nc.SetReadDeadline(time.Time{})
			}
		} else if c.in.r == c.in.w {
			parked, err := c.waitPacket(resumed)
			if parked {
				handedOff = true
				return
			}
			if err != nil {
				c.readFailed(err, c.clientID)
				return
			}
		} else if c.keepAlive > 0 {
			// A packet already buffered: the clock restarts [MQTT-3.1.2-24].
			c.setDue(time.Now())
		}
		resumed = false
		p, err := c.rd.Read()
		if err != nil {
			c.readFailed(err, c.clientID)
			return
		}
		t := p.Type()
		c.srv.stats.packetsInByType[t&15].Add(1)
		if !c.handle(p) {
			return
		}
		if c.in.r != c.in.w {
			continue
		}
		switch {
		case c.parkable && (t == packet.SUBSCRIBE || t == packet.UNSUBSCRIBE || t == packet.PINGREQ):
			// A client that has subscribed, or pings because it had
			// nothing else to send, is likely to go quiet: park now
			// rather than after parkIdle, so that a wave of pings from
			// many clients costs little.
			c.setDue(time.Now())
			if c.park() == parkDone {
				handedOff = true
				return
			}
			// Not parked: a closing connection's next wait fails.
		case !c.parkable && (t == packet.SUBSCRIBE || t == packet.UNSUBSCRIBE):
			handedOff = true
			go c.readLoop(false)
			return
		}
	}
}

// readFailed logs why reading stopped and, for v5 clients past CONNECT,
// sends the DISCONNECT reason the spec asks for.
func (c *conn) readFailed(err error, id string) {
	if c.isKicked() {
		return
	}
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		if id != "" {
			c.srv.connLog("Client " + id + " closed its connection.")
		}
	case errors.As(err, &ne) && ne.Timeout():
		if id == "" {
			c.srv.stats.connectTimeouts.Add(1)
			c.srv.log.Info("no CONNECT in time; closing", "remote", c.remote)
			return
		}
		c.srv.stats.keepAliveTimeouts.Add(1)
		c.srv.log.Info("Client "+id+" has exceeded timeout, disconnecting.", "client", id, "remote", c.remote)
		c.sendDisconnect(packet.KeepAliveTimeout)
	case errors.Is(err, packet.ErrTooLarge):
		c.srv.stats.tooLarge.Add(1)
		c.srv.log.Info("packet too large; closing", "client", id, "remote", c.remote, "err", err)
		c.sendDisconnect(packet.PacketTooLarge)
	case errors.Is(err, packet.ErrProtocol):
		c.srv.stats.badPackets.Add(1)
		c.srv.log.Info("protocol error; closing", "client", id, "remote", c.remote, "err", err)
		c.sendDisconnect(packet.ProtocolError)
	case errors.Is(err, packet.ErrMalformed) || errors.Is(err, io.ErrUnexpectedEOF):
		c.srv.stats.badPackets.Add(1)
		c.srv.log.Info("malformed packet; closing", "client", id, "remote", c.remote, "err", err)
		c.sendDisconnect(packet.MalformedPacket)
	default:
		c.srv.log.Info("Socket error on client "+id+", disconnecting.", "client", id, "remote", c.remote, "err", err)
	}
}

// sendDisconnect queues a v5 DISCONNECT with a reason, once CONNECT has
// been accepted; 3.1.1 has no server DISCONNECT (§3.14.0).
func (c *conn) sendDisconnect(reason byte) {
	if c.version != packet.Version5 || c.sess == nil {
		return
	}
	c.enqueue(&packet.Disconnect{ReasonCode: reason})
}

// protocolError closes the connection for a protocol violation, telling a
// v5 client why.
func (c *conn) protocolError(reason byte, why string) bool {
	c.srv.log.Info("closing client: "+why, "client", c.clientID, "remote", c.remote, "reason", reason)
	c.sendDisconnect(reason)
	return false
}

// handle dispatches one packet after CONNECT. It returns false to close.
func (c *conn) handle(p packet.Packet) bool {
	switch p := p.(type) {
	case *packet.Publish:
		return c.handlePublish(p)
	case *packet.Ack:
		return c.handleAck(p)
	case *packet.Subscribe:
		return c.handleSubscribe(p)
	case *packet.Unsubscribe:
		return c.handleUnsubscribe(p)
	case *packet.Pingreq:
		if c.srv.verbose {
			c.srv.log.Debug("Received PINGREQ from " + c.clientID)
		}
		c.enqueue(&packet.Pingresp{}) // [MQTT-3.12.4-1]
		return true
	case *packet.Disconnect:
		return c.handleDisconnect(p)
	case *packet.Connect:
		// A second CONNECT is a protocol violation [MQTT-3.1.0-2].
		return c.protocolError(packet.ProtocolError, "second CONNECT")
	case *packet.Auth:
		// No enhanced authentication method is offered, so AUTH is never
		// expected [MQTT-4.12.0-1].
		return c.protocolError(packet.ProtocolError, "unexpected AUTH")
	default:
		return c.protocolError(packet.ProtocolError, "unexpected "+p.Type().String()+" from a client")
	}
}

func (c *conn) handleDisconnect(p *packet.Disconnect) bool {
	if c.srv.verbose {
		c.srv.log.Debug("Received DISCONNECT from " + c.clientID)
	}
	if c.version == packet.Version5 && p.Properties.Has(packet.PropSessionExpiry) {
		c.sess.mu.Lock()
		was := c.sess.expiry
		if was == 0 && p.Properties.SessionExpiry != 0 {
			c.sess.mu.Unlock()
			// Zero at CONNECT may not become non-zero [MQTT-3.14.2-2].
			return c.protocolError(packet.ProtocolError, "session expiry set at DISCONNECT after 0 at CONNECT")
		}
		c.sess.expiry = c.srv.capExpiry(p.Properties.SessionExpiry)
		c.sess.mu.Unlock()
	}
	c.endMu.Lock()
	// 0x04 asks for the will to be sent anyway [MQTT-3.14.4-3].
	c.normal = p.ReasonCode != packet.DisconnectWithWill
	c.endMu.Unlock()
	return false
}

// kick closes the connection from the server side: session takeover,
// shutdown or an administrator. v5 clients are told why.
func (c *conn) kick(reason byte, why string) {
	c.endMu.Lock()
	if c.kicked {
		c.endMu.Unlock()
		return
	}
	c.kicked = true
	c.kickReason = reason
	c.endMu.Unlock()
	if c.clientID != "" {
		c.srv.connLog("Client " + c.clientID + " disconnected: " + why + ".")
	}
	c.sendDisconnect(reason)
	c.closeAfterWrites()
	// Unblock the reader at once and a writer stuck on a client that does
	// not read after a short grace.
	c.nc.SetReadDeadline(time.Now())
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	// A parked connection has no reader to unblock: one is started.
	c.unparkToClose()
}

func (c *conn) isKicked() bool {
	c.endMu.Lock()
	defer c.endMu.Unlock()
	return c.kicked
}

// cleanup runs when the reader stops: it flushes and closes the socket,
// detaches the session and publishes or schedules the will.
func (c *conn) cleanup() {
	c.closeAfterWrites()
	select {
	case <-c.writerExited():
	case <-time.After(2 * time.Second):
		c.nc.Close()
		<-c.writerExited()
	}
	c.nc.Close()
	c.in.close()
	c.dropReader()
	if c.sess != nil {
		c.srv.detach(c)
	}
	c.srv.removeConn(c)
	close(c.done)
}

// fits reports whether a delivery can fit in the client's Maximum Packet
// Size [MQTT-3.1.2-25]. It never overestimates; the writer checks the exact
// encoded size.
func (c *conn) fits(d *delivery) bool {
	if c.maxOut == 0 || d.msg == nil {
		return true
	}
	return d.msg.size <= int(c.maxOut)
}

// connSource is what a connection's lazyReader reads from: the socket,
// with the bytes counted (one atomic add per read call rather than per
// packet). On a connection that can park, the deadline of a wait for the
// next packet is short (parkIdle); a packet that began before it passed
// has until the keep-alive deadline.
type connSource conn

func (cs *connSource) Read(p []byte) (int, error) {
	c := (*conn)(cs)
	for {
		n, err := c.nc.Read(p)
		c.srv.stats.bytesReceived.Add(uint64(n))
		if n == 0 && err != nil && c.softDL && !c.waiting && isTimeout(err) && c.extendDeadline() {
			continue
		}
		return n, err
	}
}

// extendDeadline moves a read deadline that passed in the middle of a
// packet to the keep-alive deadline; false when that has passed too or
// the connection is being kicked.
func (c *conn) extendDeadline() bool {
	if c.isKicked() || (c.due != 0 && time.Now().UnixNano() >= c.due) {
		return false
	}
	c.nc.SetReadDeadline(c.dueTime())
	return true
}

func localPort(nc net.Conn) string {
	if a, ok := nc.LocalAddr().(*net.TCPAddr); ok {
		return itoa(a.Port)
	}
	return nc.LocalAddr().String()
}
