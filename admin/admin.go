package admin

import (
	"crypto/subtle"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync/atomic"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/metrics"
)

// Options configure the HTTP side.
type Options struct {
	// Token, when set, is required as "Authorization: Bearer TOKEN" on
	// every endpoint but /healthz, /readyz and the dashboard's static
	// files (which hold no data; the page asks for the token and sends it
	// on its API calls). The live stats stream also takes it as ?token=,
	// since a browser's EventSource cannot set headers.
	Token string
	// WebSocketURL is where browsers reach the broker's MQTT over
	// WebSocket listener (ws://host:port/mqtt), shown by GET /api/v1/broker
	// and used by the dashboard's "try it" panel. A listen-everywhere host
	// (ws://0.0.0.0:8083/mqtt) is replaced by the host the page was loaded
	// from. Empty: the panel asks.
	WebSocketURL string
	// Reload, when set, is what POST /api/v1/reload calls (the same as
	// SIGHUP). An error means the new configuration was refused and the
	// running one stays; its text is returned to the caller.
	Reload func() error
	// Cluster, when set, returns this node's view of the cluster
	// (cluster.Node.Status) for GET /api/v1/cluster, encoded as JSON.
	// Nil: the node is not clustered and the endpoint answers 404.
	Cluster func() any
	// InSync, when set, must also hold for GET /readyz: on a cluster
	// node, that its replicated state is whole (cluster.Node.InSync),
	// which a rolling restart waits for before stopping the next node.
	InSync func() bool
}

// Server is the HTTP handler set.
type Server struct {
	srv     *broker.Server
	metrics *metrics.Metrics
	opts    Options
	ready   atomic.Bool
	mux     *http.ServeMux
	routes  []Route
}

// Route is one pattern served, as registered with http.ServeMux.
type Route struct {
	Method  string // empty: any method
	Path    string // with {name} or {name...} wildcards
	Guarded bool   // needs the token when one is configured
}

// New returns the handler for a broker; m may be nil when metrics are off.
// It serves the probes, metrics, pprof, the admin API under /api/v1/ and
// the dashboard at /.
func New(srv *broker.Server, m *metrics.Metrics, opts Options) *Server {
	a := &Server{srv: srv, metrics: m, opts: opts, mux: http.NewServeMux()}
	a.handle("GET /healthz", false, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	}))
	a.handle("GET /readyz", false, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !a.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		if a.opts.InSync != nil && !a.opts.InSync() {
			http.Error(w, "not ready: cluster state not in sync", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	}))
	if m != nil {
		a.Handle("GET /metrics", m.Handler())
	}
	a.Handle("/debug/pprof/", http.HandlerFunc(pprof.Index))
	a.Handle("/debug/pprof/cmdline", http.HandlerFunc(pprof.Cmdline))
	a.Handle("/debug/pprof/profile", http.HandlerFunc(pprof.Profile))
	a.Handle("/debug/pprof/symbol", http.HandlerFunc(pprof.Symbol))
	a.Handle("/debug/pprof/trace", http.HandlerFunc(pprof.Trace))
	a.mountAPI()
	a.mountDashboard()
	return a
}

// SetReady marks the broker ready (listeners open, state restored).
func (a *Server) SetReady(ready bool) { a.ready.Store(ready) }

// Handle adds a guarded handler: where the admin API and dashboard mount.
func (a *Server) Handle(pattern string, h http.Handler) { a.handle(pattern, true, h) }

// Routes lists the patterns served, in the order they were added.
func (a *Server) Routes() []Route { return append([]Route(nil), a.routes...) }

func (a *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func (a *Server) handle(pattern string, guarded bool, h http.Handler) {
	if guarded {
		h = a.guard(h)
	}
	a.mux.Handle(pattern, h)
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "", pattern
	}
	a.routes = append(a.routes, Route{Method: method, Path: path, Guarded: guarded})
}

// guard requires the bearer token when one is configured.
func (a *Server) guard(h http.Handler) http.Handler { return a.guardWith(h, false) }

// guardWith is guard that, with query true, also takes the token as the
// "token" query parameter (for EventSource, which cannot set headers).
func (a *Server) guardWith(h http.Handler, query bool) http.Handler {
	if a.opts.Token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.authorized(r, query) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mast"`)
			if strings.HasPrefix(r.URL.Path, apiPrefix) {
				writeError(w, http.StatusUnauthorized, "unauthorized: send Authorization: Bearer TOKEN")
				return
			}
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// authorized reports whether r carries the token (always, when none is
// configured); with query, ?token= counts too.
func (a *Server) authorized(r *http.Request, query bool) bool {
	if a.opts.Token == "" {
		return true
	}
	got := []byte(strings.TrimSpace(r.Header.Get("Authorization")))
	if query && len(got) == 0 && r.URL.Query().Has("token") {
		got = []byte("Bearer " + r.URL.Query().Get("token"))
	}
	return subtle.ConstantTimeCompare(got, []byte("Bearer "+a.opts.Token)) == 1
}
