package broker

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mastmq/mast/auth"
	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/store"
	"github.com/mastmq/mast/topic"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("broker: server closed")

// Server is an MQTT broker. Create it with New, give it listeners with
// Serve, and stop it with Shutdown.
type Server struct {
	opts     Options
	log      *slog.Logger
	verbose  bool
	subs     *topic.Trie[subscription]
	retained *topic.Retained[*message]
	stats    stats
	started  time.Time

	mu        sync.Mutex
	sessions  map[string]*session
	conns     map[*conn]struct{}
	listeners map[net.Listener]struct{}
	wills     map[*session]time.Time // delayed wills by due time
	closing   bool

	connWG   sync.WaitGroup
	quit     chan struct{}
	hkDone   chan struct{}
	results  sync.Pool // *topic.Result[subscription]
	idSeq    atomic.Uint64
	journal  *journal // nil without a store
	connRate connRate
	auth     atomic.Pointer[authPair]
	// hasListenerAuth: some listener has rules of its own, so deliveries
	// are checked even without server-wide rules.
	hasListenerAuth atomic.Bool
	// limits holds the options a reload may change (SetLimits); the
	// others stay as in opts.
	limits atomic.Pointer[Options]
	remote *remoteState // nil without Options.Remote
	// park holds the idle connections that have no reader goroutine
	// (park.go).
	park parker
	// keeper is Options.Remote when it keeps sessions in the cluster.
	keeper SessionKeeper
}

// ListenerOptions are per-listener settings for ServeWith.
type ListenerOptions struct {
	// Name identifies the listener in auth.Client.Listener and logs.
	Name string
	// MaxConnections caps open connections on this listener; 0: no cap.
	MaxConnections int
	// Authenticator and Authorizer, when set, replace the server's for
	// clients of this listener (Mosquitto's per_listener_settings).
	Authenticator auth.Authenticator
	Authorizer    auth.Authorizer
	// Identity, when set, is asked before authentication for what the
	// transport proves about the client (a verified TLS certificate). A
	// non-empty username replaces the one in CONNECT and the client is
	// then authenticated by it alone, as Mosquitto's
	// use_identity_as_username does; an error refuses the client.
	Identity func(ctx context.Context, nc net.Conn) (cert *x509.Certificate, username string, err error)

	active int // guarded by Server.mu
	auth   atomic.Pointer[authPair]
}

// New returns a server that keeps its state in memory, ready to Serve
// listeners. A server with a store is made with Open.
func New(opts Options) *Server {
	if opts.Store != nil {
		panic("broker: New with a Store; use Open, which restores its state")
	}
	s := newServer(opts)
	s.startHousekeeping()
	return s
}

func newServer(opts Options) *Server {
	opts = opts.Defaults()
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		verbose:   opts.Verbose,
		subs:      topic.NewTrie[subscription](),
		retained:  topic.NewRetained[*message](),
		started:   time.Now(),
		sessions:  make(map[string]*session),
		conns:     make(map[*conn]struct{}),
		listeners: make(map[net.Listener]struct{}),
		wills:     make(map[*session]time.Time),
		quit:      make(chan struct{}),
		hkDone:    make(chan struct{}),
	}
	s.remote = newRemoteState(opts.Remote)
	s.results.New = func() any { return new(topic.Result[subscription]) }
	s.auth.Store(&authPair{opts.Authenticator, opts.Authorizer})
	s.limits.Store(&s.opts)
	if opts.Store != nil {
		var mirror func([]store.Op)
		if k, ok := opts.Remote.(SessionKeeper); ok {
			// Without a store there are no persistent sessions to keep.
			s.keeper = k
			mirror = k.Mirror
		}
		s.journal = newJournal(opts.Store, opts.Durability, opts.SyncInterval, s.log.Error, opts.Observer, mirror)
	}
	return s
}

func (s *Server) startHousekeeping() { go s.housekeeping() }

// Serve accepts connections on ln until ln fails or Shutdown is called. It
// always returns a non-nil error; after Shutdown, ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	return s.ServeWith(ln, &ListenerOptions{})
}

// ServeWith is Serve with per-listener options. lo must not be changed
// afterwards except through SetListenerAuth.
func (s *Server) ServeWith(ln net.Listener, lo *ListenerOptions) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	if lo.Authenticator != nil || lo.Authorizer != nil {
		lo.auth.Store(&authPair{lo.Authenticator, lo.Authorizer})
		s.hasListenerAuth.Store(true)
	}
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors and the like: back off rather
				// than spin, as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.serveConn(nc, lo)
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// ServeConn runs the MQTT protocol on one accepted connection in its own
// goroutines and returns at once. It is how listeners other than
// net.Listener (WebSocket, for instance) hand connections to the server.
func (s *Server) ServeConn(nc net.Conn) { s.serveConn(nc, nil) }

func (s *Server) serveConn(nc net.Conn, lo *ListenerOptions) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if err := s.admitLocked(nc, lo); err != nil {
		s.mu.Unlock()
		s.log.Warn("connection refused: "+err.Error(), "remote", nc.RemoteAddr().String())
		nc.Close()
		return
	}
	if lo != nil {
		lo.active++
	}
	c := newConn(s, nc)
	c.lopts = lo
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	s.mu.Unlock()
	s.stats.connections.Add(1)
	go c.run()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Shutdown stops accepting, tells every v5 client the server is shutting
// down (DISCONNECT 0x8B), closes all connections and waits for them to end
// or for ctx to expire.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	close(s.quit)
	<-s.hkDone
	for _, c := range conns {
		c.kick(packet.ServerShuttingDown, "server shutting down")
	}
	// Every parked connection has been woken by its kick.
	s.park.close()
	done := make(chan struct{})
	go func() { s.connWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("broker: shutdown: %w", ctx.Err())
	}
	if s.journal != nil {
		s.journal.close()
	}
	return nil
}

// Addrs returns the addresses of the listeners being served.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []net.Addr
	for ln := range s.listeners {
		out = append(out, ln.Addr())
	}
	return out
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if c.lopts != nil {
		c.lopts.active--
	}
	s.mu.Unlock()
	s.connWG.Done()
}

// newClientID makes an id for a client that connected with an empty one
// [MQTT-3.1.3-6].
func (s *Server) newClientID() string {
	return fmt.Sprintf("mast-%x-%d", s.started.UnixNano()&0xffffff, s.idSeq.Add(1))
}
