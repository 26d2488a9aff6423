package listener

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// DefaultWebSocketPath is where MQTT clients look for the broker when no
// path is configured (MQTT.js, Paho and Mosquitto all use /mqtt).
const DefaultWebSocketPath = "/mqtt"

// AnyWebSocketPath as the path upgrades requests for every path.
const AnyWebSocketPath = "*"

// WebSocket subprotocols for MQTT: "mqtt" (3.1.1 and 5.0, the MQTT spec
// section 6) and "mqttv3.1" (the old name some 3.1 clients still offer).
var webSocketSubprotocols = []string{"mqtt", "mqttv3.1"}

// WebSocketOptions configure a WebSocket listener.
type WebSocketOptions struct {
	// TrustProxy takes the client address from the last entry of
	// X-Forwarded-For, which the proxy in front of the broker appends.
	// Only set it when every connection comes through such a proxy: a
	// client that reaches the port directly can write any header.
	TrustProxy bool
	// RequireSubprotocol refuses clients that offer no subprotocol at all.
	// By default they are let in, for lenient clients that do not send
	// one. A client that offers only subprotocols other than "mqtt" and
	// "mqttv3.1" is always refused.
	RequireSubprotocol bool
	// AllowedOrigins, when not empty, lists the Origin header values
	// (scheme://host[:port]) browsers may connect from; requests without
	// an Origin header (non-browser clients) are always let in. Empty lets
	// every origin in: MQTT credentials travel inside CONNECT, not in
	// cookies, so a foreign page gains nothing a script could not do.
	AllowedOrigins []string
	// HandshakeTimeout bounds the HTTP request and upgrade; 0 means 10s.
	HandshakeTimeout time.Duration
	// Logger receives handshake failures at debug level; nil discards.
	Logger *slog.Logger
}

// WebSocketListener serves HTTP on an inner listener, upgrades the
// requests on its path to WebSocket and hands each upgraded connection to
// Accept as a net.Conn: a byte stream carried in binary messages, so an
// MQTT packet may span messages and one message may hold several packets.
// The broker serves it like any listener (Server.Serve), so WebSocket
// clients get the same limits and authentication as TCP ones.
//
// For secure WebSockets (wss) pass a TLS listener as inner (a
// *TLSListener, or tls.NewListener); certificate reloads of that listener
// keep working, and the connections returned then also have the method
// ConnectionState() tls.ConnectionState.
type WebSocketListener struct {
	inner net.Listener
	path  string
	opts  WebSocketOptions
	up    websocket.Upgrader
	hs    *http.Server
	conns chan net.Conn

	closeOnce sync.Once
	done      chan struct{} // closed by Close
	serveDone chan struct{} // closed when hs.Serve returns
	serveErr  error         // set before serveDone is closed
}

// NewWebSocketListener starts serving HTTP on inner at once. path is the
// URL path upgraded: "" means DefaultWebSocketPath, "/" serves clients that
// connect to the root, and "*" upgrades every path (as Mosquitto does, which
// ignores the path); requests for other paths answer 404.
func NewWebSocketListener(inner net.Listener, path string, opts WebSocketOptions) *WebSocketListener {
	if path == "" {
		path = DefaultWebSocketPath
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	l := &WebSocketListener{
		inner:     inner,
		path:      path,
		opts:      opts,
		conns:     make(chan net.Conn),
		done:      make(chan struct{}),
		serveDone: make(chan struct{}),
	}
	l.up = websocket.Upgrader{
		HandshakeTimeout: opts.HandshakeTimeout,
		Subprotocols:     webSocketSubprotocols,
		// Write buffers are taken from the pool for the length of a write
		// only, so idle connections hold none.
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     l.checkOrigin,
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			http.Error(w, reason.Error(), status)
		},
	}
	l.hs = &http.Server{
		Handler:           l,
		ReadHeaderTimeout: opts.HandshakeTimeout,
		IdleTimeout:       opts.HandshakeTimeout,
		// WebSocket upgrades need HTTP/1.1: never negotiate HTTP/2, even
		// if the TLS configuration of inner offers it.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     httpErrorLog(opts.Logger),
	}
	go func() {
		err := l.hs.Serve(inner)
		if errors.Is(err, http.ErrServerClosed) {
			err = net.ErrClosed
		}
		l.serveErr = err
		close(l.serveDone)
	}()
	return l
}

// Accept waits for the next upgraded connection.
func (l *WebSocketListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-l.serveDone:
		return nil, l.serveErr
	}
}

// Close stops listening. Connections already accepted stay open; ones
// upgraded but not yet accepted are closed.
func (l *WebSocketListener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		// Close (not Shutdown) closes inner and idle HTTP connections;
		// hijacked WebSocket connections are no longer the server's.
		err = l.hs.Close()
		// The HTTP server closes only listeners it has begun to serve;
		// close the inner one too, in case Close comes first.
		if e := l.inner.Close(); err == nil && e != nil && !errors.Is(e, net.ErrClosed) {
			err = e
		}
	})
	return err
}

// Addr is the address of the inner listener.
func (l *WebSocketListener) Addr() net.Addr { return l.inner.Addr() }

// Path is the URL path upgraded.
func (l *WebSocketListener) Path() string { return l.path }

// Inner is the listener HTTP is served on (a *TLSListener for wss).
func (l *WebSocketListener) Inner() net.Listener { return l.inner }

// Reload reloads the inner listener when it is a Reloader (the
// certificates of a wss listener) and does nothing otherwise, so a
// WebSocketListener is a Reloader like the listener it wraps.
func (l *WebSocketListener) Reload() error {
	if r, ok := l.inner.(Reloader); ok {
		return r.Reload()
	}
	return nil
}

func (l *WebSocketListener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if l.path != AnyWebSocketPath && r.URL.Path != l.path {
		http.NotFound(w, r)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "this is an MQTT over WebSocket endpoint: upgrade to WebSocket with subprotocol mqtt", http.StatusUpgradeRequired)
		return
	}
	offered := websocket.Subprotocols(r)
	if len(offered) == 0 && l.opts.RequireSubprotocol {
		l.refuse(w, r, "no WebSocket subprotocol offered (want mqtt or mqttv3.1)")
		return
	}
	if len(offered) > 0 && !offersMQTT(offered) {
		l.refuse(w, r, "WebSocket subprotocols "+strings.Join(offered, ", ")+" offered; mast speaks mqtt and mqttv3.1")
		return
	}
	ws, err := l.up.Upgrade(w, r, nil)
	if err != nil {
		// Upgrade has answered the client already.
		l.debug("WebSocket upgrade failed", r, err)
		return
	}
	c := newWSConn(ws, l.remoteAddr(r, ws.RemoteAddr()))
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	case <-l.serveDone:
		c.Close()
	}
}

func (l *WebSocketListener) refuse(w http.ResponseWriter, r *http.Request, why string) {
	l.debug("WebSocket upgrade refused: "+why, r, nil)
	http.Error(w, why, http.StatusBadRequest)
}

func (l *WebSocketListener) debug(msg string, r *http.Request, err error) {
	if l.opts.Logger == nil {
		return
	}
	args := []any{"remote", r.RemoteAddr, "path", r.URL.Path}
	if err != nil {
		args = append(args, "err", err)
	}
	l.opts.Logger.Debug(msg, args...)
}

// httpErrorLog sends net/http's complaints (bad requests, TLS handshake
// errors) to the logger at debug level, or nowhere.
func httpErrorLog(l *slog.Logger) *log.Logger {
	if l == nil {
		return log.New(io.Discard, "", 0)
	}
	return slog.NewLogLogger(l.Handler(), slog.LevelDebug)
}

func offersMQTT(offered []string) bool {
	for _, p := range offered {
		for _, q := range webSocketSubprotocols {
			if strings.EqualFold(p, q) {
				return true
			}
		}
	}
	return false
}

func (l *WebSocketListener) checkOrigin(r *http.Request) bool {
	if len(l.opts.AllowedOrigins) == 0 {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	for _, o := range l.opts.AllowedOrigins {
		if strings.EqualFold(strings.TrimSuffix(o, "/"), u.Scheme+"://"+u.Host) {
			return true
		}
	}
	return false
}

// remoteAddr is the peer of the socket, or with TrustProxy the address
// the proxy reports: the last X-Forwarded-For entry, which the proxy
// appended (entries before it are whatever the client claimed).
func (l *WebSocketListener) remoteAddr(r *http.Request, peer net.Addr) net.Addr {
	if !l.opts.TrustProxy {
		return peer
	}
	xff := r.Header.Values("X-Forwarded-For")
	if len(xff) == 0 {
		return peer
	}
	parts := strings.Split(xff[len(xff)-1], ",")
	last := strings.TrimSpace(parts[len(parts)-1])
	if host, _, err := net.SplitHostPort(last); err == nil {
		last = host
	}
	ip := net.ParseIP(strings.Trim(last, "[]"))
	if ip == nil {
		return peer
	}
	return &net.TCPAddr{IP: ip}
}

// wsConn is a WebSocket connection as a byte stream. Deadlines go to the
// socket as they do for TCP: a read deadline unblocks the reader without
// closing the connection, so the broker can still write a DISCONNECT
// (admin disconnect, take-over, shutdown) before it closes.
type wsConn struct {
	ws     *websocket.Conn
	nc     net.Conn // the socket under ws
	remote net.Addr

	r io.Reader // current message; used by the one reader only

	wmu           sync.Mutex                // one message written at a time
	writeDeadline atomic.Pointer[time.Time] // for the writes to come

	closeOnce sync.Once
}

// wsTLSConn is a wsConn over TLS, which shows its TLS state as *tls.Conn
// does (for client certificates).
type wsTLSConn struct {
	*wsConn
	tc *tls.Conn
}

// ConnectionState is the TLS state of the socket under the WebSocket.
func (c wsTLSConn) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

func newWSConn(ws *websocket.Conn, remote net.Addr) net.Conn {
	c := &wsConn{ws: ws, nc: ws.NetConn(), remote: remote}
	if tc, ok := c.nc.(*tls.Conn); ok {
		return wsTLSConn{c, tc}
	}
	return c
}

// Read reads the payloads of binary messages back to back. A text message
// closes the connection [MQTT-6.0.0-1]; a close frame from the peer is
// the end of the stream.
func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
					return 0, io.EOF
				}
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				c.closeWith(websocket.CloseUnsupportedData, "MQTT packets travel in binary messages")
				return 0, errors.New("listener: text WebSocket message; MQTT needs binary messages")
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// Write sends p as one binary message.
func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	// The library applies its own deadline to every frame it writes; keep
	// it in step with ours (set here, under wmu, so it never races).
	var d time.Time
	if p := c.writeDeadline.Load(); p != nil {
		d = *p
	}
	c.ws.SetWriteDeadline(d)
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends a close frame (briefly: a peer that reads nothing does not
// hold it up) and closes the socket.
func (c *wsConn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(250*time.Millisecond))
		err = c.ws.Close()
	})
	return err
}

func (c *wsConn) closeWith(code int, why string) {
	c.closeOnce.Do(func() {
		c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(code, why), time.Now().Add(250*time.Millisecond))
		c.ws.Close()
	})
}

func (c *wsConn) LocalAddr() net.Addr  { return c.nc.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr { return c.remote }

func (c *wsConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *wsConn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// SetWriteDeadline applies to the next writes and, as on a TCP socket, to
// a write already blocked.
func (c *wsConn) SetWriteDeadline(t time.Time) error {
	// Record the deadline for the writes to come, then move the socket's
	// so that a write already blocked gives up in time.
	c.writeDeadline.Store(&t)
	return c.nc.SetWriteDeadline(t)
}

// Interface checks.
var (
	_ net.Listener = (*WebSocketListener)(nil)
	_ Reloader     = (*WebSocketListener)(nil)
	_ net.Conn     = (*wsConn)(nil)
	_ interface {
		ConnectionState() tls.ConnectionState
	} = wsTLSConn{}
)
