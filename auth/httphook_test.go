package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mastmq/mast/auth"
)

// hookServer is a webhook that allows what its decide function says and
// records the requests it gets.
type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []map[string]any
	paths    []string
	count    atomic.Int64
	decide   func(path string, req map[string]any) int
}

func newHookServer(t *testing.T, decide func(path string, req map[string]any) int) *hookServer {
	h := &hookServer{decide: decide}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.count.Add(1)
		var req map[string]any
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		h.mu.Lock()
		h.requests = append(h.requests, req)
		h.paths = append(h.paths, r.URL.Path)
		h.mu.Unlock()
		w.WriteHeader(h.decide(r.URL.Path, req))
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) last() (string, map[string]any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.paths[len(h.paths)-1], h.requests[len(h.requests)-1]
}

func logTo(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestHTTPHookAuthenticate(t *testing.T) {
	srv := newHookServer(t, func(path string, req map[string]any) int {
		switch req["username"] {
		case "alice":
			if req["password"] == "c2VjcmV0" { // base64("secret")
				return http.StatusNoContent
			}
			return http.StatusUnauthorized
		case "banned":
			return http.StatusForbidden
		case "broken":
			return http.StatusInternalServerError
		case nil:
			return http.StatusOK
		}
		return http.StatusNotFound
	})
	var logs bytes.Buffer
	h := &auth.HTTPHook{URL: srv.URL + "/mqtt", Logger: logTo(&logs)}
	ctx := context.Background()
	remote := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 53211}
	alice := &auth.Client{ClientID: "c1", Username: "alice", HasUsername: true, Password: []byte("secret"), HasPassword: true, Remote: remote, Listener: "0.0.0.0:1883"}
	if err := h.Authenticate(ctx, alice); err != nil {
		t.Fatalf("alice: %v", err)
	}
	path, req := srv.last()
	want := map[string]any{"clientid": "c1", "username": "alice", "password": "c2VjcmV0", "remote": "192.0.2.7:53211", "listener": "0.0.0.0:1883", "action": "connect"}
	if path != "/mqtt/auth" || len(req) != len(want) {
		t.Errorf("request %s %v, want /mqtt/auth %v", path, req, want)
	}
	for k, v := range want {
		if req[k] != v {
			t.Errorf("%s = %v, want %v", k, req[k], v)
		}
	}

	for _, c := range []struct {
		name   string
		client *auth.Client
		want   error
	}{
		{"wrong password", login("alice", "guess"), auth.ErrBadCredentials},
		{"403", login("banned", "x"), auth.ErrNotAuthorized},
		{"404", login("nobody", "x"), auth.ErrBadCredentials},
	} {
		if err := h.Authenticate(ctx, c.client); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if err := h.Authenticate(ctx, &auth.Client{ClientID: "anon"}); err != nil {
		t.Errorf("anonymous: %v", err)
	}
	if _, req := srv.last(); req["username"] != nil || req["password"] != nil {
		t.Errorf("anonymous request %v: want a null username and no password", req)
	}
	// A server error refuses the client, as "server unavailable".
	err := h.Authenticate(ctx, login("broken", "hunter2"))
	if err == nil || errors.Is(err, auth.ErrBadCredentials) || errors.Is(err, auth.ErrNotAuthorized) {
		t.Errorf("500: %v, want another error", err)
	}
	if strings.Contains(logs.String(), "hunter2") || strings.Contains(logs.String(), "aHVudGVyMg") {
		t.Errorf("a password reached the log:\n%s", logs.String())
	}
}

func TestHTTPHookFailsClosed(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release) // before Close, which waits for the handlers
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close() // nothing listens there now

	var logs bytes.Buffer
	for _, c := range []struct {
		name string
		url  string
	}{
		{"timeout", strings.Replace(slow.URL, "http://", "http://hookuser:hookpass@", 1)},
		{"connection refused", downURL},
		{"bad URL", "::not a url"},
	} {
		h := &auth.HTTPHook{URL: c.url, Timeout: 100 * time.Millisecond, CacheTTL: time.Minute, Logger: logTo(&logs)}
		if h.Allow(user("u", "c"), "t", auth.Read) {
			t.Errorf("%s: Allow allowed", c.name)
		}
		err := h.Authenticate(context.Background(), login("u", "pw-in-clear"))
		if err == nil || errors.Is(err, auth.ErrBadCredentials) {
			t.Errorf("%s: Authenticate: %v", c.name, err)
		}
	}
	for _, secret := range []string{"pw-in-clear", "hookpass"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("%q reached the log:\n%s", secret, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "denying") {
		t.Errorf("failures not logged:\n%s", logs.String())
	}
}

func TestHTTPHookAllowAndCache(t *testing.T) {
	srv := newHookServer(t, func(path string, req map[string]any) int {
		if path != "/acl" {
			return http.StatusTeapot
		}
		if strings.HasPrefix(req["topic"].(string), "ok/") {
			return http.StatusOK
		}
		return http.StatusForbidden
	})
	h := &auth.HTTPHook{URL: srv.URL, CacheTTL: time.Hour}
	alice := user("alice", "a1")
	if !h.Allow(alice, "ok/1", auth.Read) || h.Allow(alice, "no/1", auth.Write) {
		t.Fatal("wrong answers")
	}
	_, req := srv.last()
	if req["action"] != "write" || req["topic"] != "no/1" || req["username"] != "alice" || req["clientid"] != "a1" {
		t.Errorf("request %v", req)
	}
	if _, ok := req["password"]; ok {
		t.Error("an acl request carries a password field")
	}
	n := srv.count.Load()
	for range 10 {
		h.Allow(alice, "ok/1", auth.Read)
		h.Allow(alice, "no/1", auth.Write)
	}
	if srv.count.Load() != n {
		t.Errorf("cached answers asked again: %d requests, want %d", srv.count.Load(), n)
	}
	// Another access, client or user is another question.
	h.Allow(alice, "ok/1", auth.Subscribe)
	h.Allow(user("alice", "a2"), "ok/1", auth.Read)
	h.Allow(anon("a1"), "ok/1", auth.Read)
	if got := srv.count.Load() - n; got != 3 {
		t.Errorf("%d requests for 3 new questions", got)
	}
	_, req = srv.last()
	if req["username"] != nil {
		t.Errorf("anonymous acl request: username %v", req["username"])
	}

	// Without a cache, every question goes out.
	h2 := &auth.HTTPHook{URL: srv.URL}
	n = srv.count.Load()
	for range 3 {
		h2.Allow(alice, "ok/1", auth.Read)
	}
	if got := srv.count.Load() - n; got != 3 {
		t.Errorf("uncached: %d requests, want 3", got)
	}
}

func TestHTTPHookSharesConcurrentQuestions(t *testing.T) {
	release := make(chan struct{})
	var count atomic.Int64
	arrived := make(chan struct{}, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		arrived <- struct{}{}
		<-release
	}))
	defer srv.Close()
	h := &auth.HTTPHook{URL: srv.URL, CacheTTL: time.Minute, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	results := make(chan bool, 20)
	for range 20 {
		wg.Go(func() { results <- h.Allow(user("u", "c"), "t", auth.Read) })
	}
	<-arrived
	close(release)
	wg.Wait()
	close(results)
	for ok := range results {
		if !ok {
			t.Error("a waiter was denied")
		}
	}
	// Callers that came while the question was out waited for its answer;
	// any that came later found it in the cache.
	if c := count.Load(); c != 1 {
		t.Errorf("%d requests for 20 identical concurrent questions", c)
	}
}
