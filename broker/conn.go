package broker

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mastmq/mast/auth"
	"github.com/mastmq/mast/packet"
)

// conn is one network connection and the client speaking on it.
type conn struct {
	srv    *Server
	nc     net.Conn
	rd     packet.Reader
	in     lazyReader
	remote string

	// Set by CONNECT, then read-only.
	version     byte
	clientID    string
	username    string
	keepAlive   time.Duration
	connectedAt time.Time
	sess        *session
	// authClient is the client as the Authenticator and Authorizer see it.
	authClient *auth.Client
	maxOut     uint32 // client's Maximum Packet Size, 0 when unlimited
	// aliasMaxOut is the client's Topic Alias Maximum; outAliases is owned
	// by the writer goroutine.
	aliasMaxOut uint16
	outAliases  map[string]uint16
	// inAliases belongs to the reader goroutine.
	inAliases map[uint16]string
	// problemInfo is false when a v5 client asked for no reason strings
	// [MQTT-3.1.2-29].
	problemInfo bool

	// Outbound queue.
	outMu      sync.Mutex
	outq       []outItem
	outBytes   int
	outClosed  bool
	writing    bool // a writer goroutine is running
	wake       chan struct{}
	drained    chan struct{}
	writerDone chan struct{}
	dropped    atomic.Uint64
	lopts      *ListenerOptions // nil for ServeConn
	pubRate    bucket           // reader goroutine only
	// pending bounds the QoS 1/2 PUBLISH packets waiting for the store.
	pending chan struct{}

	// How the connection ended, decided by the reader or by kick.
	endMu      sync.Mutex
	normal     bool // DISCONNECT 0x00 received: no will [MQTT-3.1.2-10]
	kickReason byte // set when the server closed the connection
	kicked     bool
	done       chan struct{} // closed once cleanup has finished
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		srv:         s,
		nc:          nc,
		rd:          packet.Reader{MaxSize: int(s.lim().MaxPacketSize)},
		remote:      nc.RemoteAddr().String(),
		problemInfo: true,
		drained:     make(chan struct{}, 1),
		wake:        make(chan struct{}, 1),
		writerDone:  make(chan struct{}),
		done:        make(chan struct{}),
		pending:     make(chan struct{}, s.lim().ReceiveMaximum),
	}
	c.in.src = countingReader{nc, &s.stats.bytesReceived}
	c.in.busy = true // CONNECT is on its way
	c.in.keep = 2    // and SUBSCRIBE, usually, right after CONNACK
	c.rd.R = &c.in
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
	c.srv.connLog("New connection from " + c.remote + " on port " + localPort(c.nc) + ".")
	// A socket that sends no CONNECT in time is closed.
	c.nc.SetReadDeadline(time.Now().Add(c.srv.lim().ConnectTimeout))
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
	go c.readLoop()
}

// readLoop reads and handles packets until the connection ends. After a
// SUBSCRIBE or UNSUBSCRIBE with nothing more to read it hands over to a
// fresh goroutine, for the same reason as run.
func (c *conn) readLoop() {
	handedOff := false
	defer func() {
		if !handedOff {
			c.cleanup()
		}
	}()
	for {
		if c.keepAlive > 0 {
			// One and a half times the keep alive [MQTT-3.1.2-24].
			c.nc.SetReadDeadline(time.Now().Add(c.keepAlive * 3 / 2))
		} else {
			c.nc.SetReadDeadline(time.Time{})
		}
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
		if (t == packet.SUBSCRIBE || t == packet.UNSUBSCRIBE) && c.in.r == c.in.w {
			handedOff = true
			go c.readLoop()
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
	case <-c.writerDone:
	case <-time.After(2 * time.Second):
		c.nc.Close()
		<-c.writerDone
	}
	c.nc.Close()
	c.in.close()
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

// countingReader counts the bytes read from a socket, one atomic add per
// read call rather than per packet.
type countingReader struct {
	r io.Reader
	n *atomic.Uint64
}

func (cr countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n.Add(uint64(n))
	return n, err
}

func localPort(nc net.Conn) string {
	if a, ok := nc.LocalAddr().(*net.TCPAddr); ok {
		return itoa(a.Port)
	}
	return nc.LocalAddr().String()
}
