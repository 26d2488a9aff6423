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
	// every endpoint but /healthz and /readyz.
	Token string
}

// Server is the HTTP handler set.
type Server struct {
	srv     *broker.Server
	metrics *metrics.Metrics
	opts    Options
	ready   atomic.Bool
	mux     *http.ServeMux
}

// New returns the handler for a broker; m may be nil when metrics are off.
func New(srv *broker.Server, m *metrics.Metrics, opts Options) *Server {
	a := &Server{srv: srv, metrics: m, opts: opts, mux: http.NewServeMux()}
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	a.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	if m != nil {
		a.mux.Handle("GET /metrics", a.guard(m.Handler()))
	}
	a.mux.Handle("/debug/pprof/", a.guard(http.HandlerFunc(pprof.Index)))
	a.mux.Handle("/debug/pprof/cmdline", a.guard(http.HandlerFunc(pprof.Cmdline)))
	a.mux.Handle("/debug/pprof/profile", a.guard(http.HandlerFunc(pprof.Profile)))
	a.mux.Handle("/debug/pprof/symbol", a.guard(http.HandlerFunc(pprof.Symbol)))
	a.mux.Handle("/debug/pprof/trace", a.guard(http.HandlerFunc(pprof.Trace)))
	return a
}

// SetReady marks the broker ready (listeners open, state restored).
func (a *Server) SetReady(ready bool) { a.ready.Store(ready) }

// Handle adds a guarded handler: where the admin API and dashboard mount.
func (a *Server) Handle(pattern string, h http.Handler) { a.mux.Handle(pattern, a.guard(h)) }

func (a *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// guard requires the bearer token when one is configured.
func (a *Server) guard(h http.Handler) http.Handler {
	if a.opts.Token == "" {
		return h
	}
	want := []byte("Bearer " + a.opts.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(strings.TrimSpace(r.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mast"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
