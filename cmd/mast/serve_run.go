package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/mastmq/mast/admin"
	"github.com/mastmq/mast/auth"
	"github.com/mastmq/mast/bridge"
	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/cluster"
	"github.com/mastmq/mast/config"
	"github.com/mastmq/mast/listener"
	"github.com/mastmq/mast/metrics"
	memstore "github.com/mastmq/mast/store/memory"
)

// running is a serving broker with what a reload changes.
type running struct {
	load   func() (*config.Config, error)
	logger *slog.Logger
	logOut *logOutput
	srv    *broker.Server
	errc   chan error

	sigc      chan os.Signal
	applied   *config.Config // the configuration in force
	mu        sync.Mutex     // guards listeners during a reload
	listeners map[string]*servedListener
}

type servedListener struct {
	cfg  listener.Config
	ln   net.Listener
	opts *broker.ListenerOptions
}

func serve(cfg *config.Config, load func() (*config.Config, error), stderr io.Writer) int {
	out, err := openLogOutput(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "mast serve:", err)
		return 1
	}
	defer out.Close()
	logger := newLogger(cfg.Log, out)
	for _, w := range cfg.Warnings {
		logger.Warn(w)
	}
	r := &running{load: load, logger: logger, logOut: out, listeners: map[string]*servedListener{}}
	return r.run(cfg)
}

func (r *running) run(cfg *config.Config) int {
	// Signals are caught from the start: a SIGHUP (logrotate) during a
	// long restore must not kill the broker.
	r.sigc = make(chan os.Signal, 1)
	signal.Notify(r.sigc, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(r.sigc)
	logger := r.logger
	logger.Info("mast " + version + " starting")
	if cfg.PIDFile != "" {
		if err := os.WriteFile(cfg.PIDFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			logger.Error("cannot write the pid file", "err", err)
			return 1
		}
		defer os.Remove(cfg.PIDFile)
	}

	opts := cfg.Broker
	opts.Logger = logger
	opts.Verbose = cfg.Log.Verbose
	opts.NoConnectionMessages = cfg.Log.NoConnectionMessages
	opts.Version = "mast " + version
	lim := limitsOf(cfg)
	opts.MaxConnections = lim.MaxConnections
	opts.MaxMessageSize = lim.MaxMessageSize
	opts.AuthFailures = auth.NewLimiter(auth.LimiterConfig{})
	authn, authz, err := buildAuth(globalAuth(cfg))
	if err != nil {
		logger.Error(err.Error())
		return 1
	}
	opts.Authenticator, opts.Authorizer = authn, authz

	st, err := openStore(cfg.Persistence, logger)
	if err != nil {
		logger.Error(err.Error())
		return 1
	}
	if st == nil && cfg.Cluster.Listen != "" && cfg.Cluster.JetStream {
		// Sessions the cluster keeps need the broker's journal: over a
		// memory store here, as the cluster holds the replicas.
		st = memstore.New()
	}
	if st != nil {
		defer st.Close()
		opts.Store = st
		opts.Durability = cfg.Persistence.Durability
		opts.SyncInterval = cfg.Persistence.SyncInterval
	}
	m := metrics.New()
	opts.Observer = m
	if st != nil {
		m.WatchDirectory(cfg.Persistence.DataDir)
	}
	var node *cluster.Node
	if cfg.Cluster.Listen != "" {
		co := cluster.Options{
			NodeName: cfg.Cluster.Name, ClusterListen: cfg.Cluster.Listen,
			Routes: cfg.Cluster.Routes, Logger: logger.With("component", "cluster"),
			JetStream: cfg.Cluster.JetStream, Replicas: cfg.Cluster.Replicas,
			LogMaxAge: cfg.Cluster.LogMaxAge, Partition: cfg.Cluster.Partition, Secret: cfg.Cluster.Secret,
		}
		if co.JetStream {
			dir, cleanup, err := clusterStoreDir(cfg.Persistence)
			if err != nil {
				logger.Error(err.Error())
				return 1
			}
			defer cleanup()
			co.StoreDir = dir
		}
		node, err = cluster.Start(context.Background(), co)
		if err != nil {
			logger.Error(err.Error())
			return 1
		}
		defer node.Close() // after the broker has shut down
		opts.Remote = node
		logger.Info("cluster node " + node.Name() + " accepting routes on " + node.ClusterAddr())
	}
	srv, err := broker.Open(opts)
	if err != nil {
		logger.Error(err.Error())
		return 1
	}
	m.Attach(srv)
	var clusterStatus func() any // GET /api/v1/cluster; nil: 404
	var inSync func() bool       // GET /readyz on a cluster node
	if node != nil {
		node.Attach(srv)
		m.AttachCluster(node.Status)
		clusterStatus = func() any { return node.Status() }
		inSync = node.InSync
		defer node.PublishSys(srv, opts.SysInterval)() // $SYS/broker/cluster/..., stopped before node.Close
	}
	r.srv = srv
	r.errc = make(chan error, 16)
	r.applied = cfg

	for _, lc := range cfg.Listeners {
		if err := r.addListener(lc); err != nil {
			logger.Error("cannot open listener", "address", lc.String(), "err", err)
			r.closeListeners()
			return 1
		}
	}
	stopBridges, err := bridge.Start(context.Background(), srv, cfg.Bridges, logger)
	if err != nil {
		logger.Error(err.Error())
		r.closeListeners()
		return 1
	}
	defer stopBridges()
	var web *admin.Server
	if cfg.HTTP.Listen != "" {
		web = admin.New(srv, m, admin.Options{Token: cfg.HTTP.Token, WebSocketURL: r.webSocketURL(), Reload: r.reload,
			Cluster: clusterStatus, InSync: inSync})
		hln, err := net.Listen("tcp", cfg.HTTP.Listen)
		if err != nil {
			logger.Error("cannot open http listener", "address", cfg.HTTP.Listen, "err", err)
			r.closeListeners()
			return 1
		}
		hs := &http.Server{Handler: web, ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(hln)
		defer hs.Close()
		logger.Info("http on " + hln.Addr().String() + " (dashboard, /api/v1, /metrics, /healthz, /readyz, /debug/pprof)")
		web.SetReady(true)
	}
	return r.wait()
}

// wait serves until a signal: SIGINT and SIGTERM shut down, SIGHUP
// reloads.
func (r *running) wait() int {
	sigc := r.sigc
	code := 0
loop:
	for {
		select {
		case sig := <-sigc:
			if sig == syscall.SIGHUP {
				r.reload()
				continue
			}
			r.logger.Info("mast received signal " + sig.String() + ", shutting down")
			break loop
		case err := <-r.errc:
			r.logger.Error("listener failed", "err", err)
			code = 1
			break loop
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil && !errors.Is(err, broker.ErrServerClosed) {
		r.logger.Error("shutdown", "err", err)
		code = 1
	}
	r.logger.Info("mast " + version + " terminating")
	return code
}

// addListener opens and serves one listener.
func (r *running) addListener(lc listener.Config) error {
	ln, err := listener.Listen(lc)
	if err != nil {
		return err
	}
	lo := &broker.ListenerOptions{Name: lc.String(), MaxConnections: lc.MaxConnections}
	if lc.Auth != nil {
		authn, authz, err := buildAuth(listenerAuth(lc))
		if err != nil {
			ln.Close()
			return err
		}
		lo.Authenticator, lo.Authorizer = orAllowAll(authn, authz)
	}
	if lc.TLS != nil {
		lo.Identity = identity(lc.TLS)
	}
	sl := &servedListener{cfg: lc, ln: ln, opts: lo}
	r.mu.Lock()
	r.listeners[lc.String()] = sl
	r.mu.Unlock()
	r.logger.Info("listening on " + ln.Addr().Network() + " " + ln.Addr().String() + describe(lc))
	go func() {
		if err := r.srv.ServeWith(ln, lo); err != nil && !errors.Is(err, broker.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			r.errc <- err
		}
	}()
	return nil
}

func describe(lc listener.Config) string {
	s := ""
	if lc.Protocol == listener.ProtocolWebSockets {
		s += " (websockets " + lc.String() + ")"
	}
	if lc.TLS != nil {
		s += " (TLS)"
	}
	return s
}

func (r *running) closeListeners() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, sl := range r.listeners {
		sl.ln.Close()
		delete(r.listeners, k)
	}
}

// webSocketURL is the first WebSocket listener's URL, for the
// dashboard's try-it panel.
func (r *running) webSocketURL() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sl := range r.listeners {
		if w, ok := sl.ln.(*listener.WebSocketListener); ok {
			scheme := "ws"
			if sl.cfg.TLS != nil {
				scheme = "wss"
			}
			p := w.Path()
			if p == listener.AnyWebSocketPath {
				p = "/mqtt"
			}
			return scheme + "://" + sl.ln.Addr().String() + p
		}
	}
	return ""
}

// reload applies a changed configuration without dropping connections:
// listeners added or removed, password and ACL files, TLS certificates,
// the log file reopened. An invalid configuration is refused with the
// reason and the running one stays.
func (r *running) reload() error {
	r.logger.Info("reloading the configuration")
	if err := r.logOut.Reopen(); err != nil {
		r.logger.Error("cannot reopen the log file", "err", err)
	}
	cfg, err := r.load()
	if err != nil {
		r.logger.Error("reload refused, the running configuration stays: " + err.Error())
		return err
	}
	authn, authz, err := buildAuth(globalAuth(cfg))
	if err != nil {
		r.logger.Error("reload refused, the running configuration stays: " + err.Error())
		return err
	}
	r.srv.SetAuth(authn, authz)
	r.srv.SetLimits(limitsOf(cfg))
	if !reflect.DeepEqual(cfg.Persistence, r.applied.Persistence) || cfg.Log.Level != r.applied.Log.Level ||
		cfg.Log.Verbose != r.applied.Log.Verbose || cfg.HTTP != r.applied.HTTP ||
		!reflect.DeepEqual(cfg.Bridges, r.applied.Bridges) {
		r.logger.Warn("reload: changes to persistence, log level, http and bridges take effect after a restart; " +
			"listeners, limits, mqtt settings, auth, ACLs, certificates and the log file were reloaded")
	}

	want := map[string]listener.Config{}
	for _, lc := range cfg.Listeners {
		want[lc.String()] = lc
	}
	r.mu.Lock()
	var removed []*servedListener
	for k, sl := range r.listeners {
		if _, ok := want[k]; !ok {
			removed = append(removed, sl)
			delete(r.listeners, k)
		}
	}
	var kept []*servedListener
	for _, sl := range r.listeners {
		kept = append(kept, sl)
	}
	r.mu.Unlock()
	for _, sl := range removed {
		r.logger.Info("closing listener " + sl.cfg.String() + " (its connections stay)")
		sl.ln.Close()
	}
	var errs []error
	for _, sl := range kept {
		lc := want[sl.cfg.String()]
		if lc.Auth != nil {
			a, z, err := buildAuth(listenerAuth(lc))
			if err != nil {
				errs = append(errs, err)
			} else {
				a, z = orAllowAll(a, z)
				r.srv.SetListenerAuth(sl.opts, a, z)
			}
		}
		if rl, ok := sl.ln.(listener.Reloader); ok {
			if err := rl.Reload(); err != nil {
				errs = append(errs, fmt.Errorf("listener %s: certificates not reloaded, the old ones stay: %w", sl.cfg, err))
			}
		}
	}
	for k, lc := range want {
		r.mu.Lock()
		_, have := r.listeners[k]
		r.mu.Unlock()
		if !have {
			if err := r.addListener(lc); err != nil {
				errs = append(errs, fmt.Errorf("listener %s: %w", lc, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		r.logger.Error("reload partly applied: " + err.Error())
		return err
	}
	r.logger.Info("configuration reloaded")
	return nil
}

// limitsOf is the broker's limits and protocol settings of a
// configuration, which a reload applies to the running broker.
func limitsOf(cfg *config.Config) broker.Options {
	o := cfg.Broker
	o.MaxConnections = cfg.Limits.MaxConnections
	o.MaxMessageSize = int(cfg.Limits.MessageSizeLimit)
	return o
}

// authSettings are the authentication settings of the server or of one
// listener.
type authSettings struct {
	allowAnonymous *bool
	passwordFile   string
	aclFile        string
	acl            []auth.Rule
	hook           *config.HTTPHook
	logger         *slog.Logger
}

func globalAuth(c *config.Config) authSettings {
	return authSettings{allowAnonymous: c.Auth.AllowAnonymous, passwordFile: c.Auth.PasswordFile,
		aclFile: c.Auth.ACLFile, acl: c.Auth.ACL, hook: c.Auth.HTTPHook}
}

func listenerAuth(lc listener.Config) authSettings {
	return authSettings{allowAnonymous: lc.Auth.AllowAnonymous, passwordFile: lc.Auth.PasswordFile, aclFile: lc.Auth.ACLFile}
}

// buildAuth loads the password and ACL files. Anonymous clients are let in
// when allowed, or when nothing is said and there is no password file
// (the exposure check has refused that beyond loopback already).
func buildAuth(a authSettings) (auth.Authenticator, auth.Authorizer, error) {
	anonymous := a.passwordFile == "" && a.hook == nil
	if a.allowAnonymous != nil {
		anonymous = *a.allowAnonymous
	}
	var hook *auth.HTTPHook
	if a.hook != nil {
		hook = &auth.HTTPHook{URL: a.hook.URL, Timeout: a.hook.Timeout, CacheTTL: a.hook.CacheTTL, Logger: a.logger}
	}
	var authn auth.Authenticator
	switch {
	case hook != nil && a.passwordFile == "":
		authn = hook
		if anonymous {
			authn = auth.AllowAnonymous(hook)
		}
	case a.passwordFile != "":
		pf, err := auth.LoadPasswordFile(a.passwordFile)
		if err != nil {
			return nil, nil, err
		}
		authn = pf
		if anonymous {
			authn = auth.AllowAnonymous(pf)
		}
	case !anonymous:
		authn = noLogins{}
	}
	var authz auth.Authorizer
	switch {
	case a.aclFile != "":
		acl, err := auth.LoadACLFile(a.aclFile)
		if err != nil {
			return nil, nil, err
		}
		authz = acl
	case len(a.acl) > 0:
		acl, err := auth.NewACL(a.acl)
		if err != nil {
			return nil, nil, err
		}
		authz = acl
	case hook != nil:
		authz = hook
	}
	return authn, authz, nil
}

// orAllowAll makes per-listener settings explicit, so that "nothing" means
// allow rather than the server's rules.
func orAllowAll(authn auth.Authenticator, authz auth.Authorizer) (auth.Authenticator, auth.Authorizer) {
	if authn == nil {
		authn = auth.AllowAll{}
	}
	if authz == nil {
		authz = auth.AllowAll{}
	}
	return authn, authz
}

// noLogins refuses everyone: anonymous access off and no password file,
// as Mosquitto does.
type noLogins struct{}

func (noLogins) Authenticate(context.Context, *auth.Client) error { return auth.ErrNotAuthorized }

// identity asks a TLS connection for its verified client certificate and
// the user name it stands for (use_identity_as_username,
// use_subject_as_username).
func identity(t *listener.TLS) func(context.Context, net.Conn) (*x509.Certificate, string, error) {
	mapped := t.UseIdentityAsUsername || t.UseSubjectAsUsername
	return func(ctx context.Context, nc net.Conn) (*x509.Certificate, string, error) {
		cert, err := listener.PeerCertificate(ctx, nc)
		if err != nil {
			return nil, "", err
		}
		if !mapped {
			return cert, "", nil
		}
		if cert == nil {
			return nil, "", errors.New("no client certificate")
		}
		name, ok := t.Username(cert)
		if !ok {
			return nil, "", errors.New("the client certificate names no user")
		}
		return cert, name, nil
	}
}
