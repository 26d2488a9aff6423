package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// HTTPHook asks a web service whether a client may connect and what it may
// do: the common webhook pattern. It implements Authenticator and
// Authorizer.
//
// Each question is a POST of a JSON object to URL+AuthPath (connecting) or
// URL+ACLPath (read, write, subscribe):
//
//	{
//	  "clientid": "sensor-1",
//	  "username": "alice",          // null when the client sent none
//	  "password": "c2VjcmV0",       // /auth only: base64 (standard, padded)
//	                                // of the password bytes, which MQTT
//	                                // allows to be binary; absent when the
//	                                // client sent none
//	  "remote":   "192.0.2.7:53211",
//	  "listener": "0.0.0.0:1883",
//	  "action":   "connect",        // or "read", "write", "subscribe"
//	  "topic":    "house/+/temp"    // acl only: a topic, or a filter for subscribe
//	}
//
// The status code is the answer; the body is ignored. 2xx allows. For
// /acl any 4xx denies; for /auth 403 refuses the client as not authorized
// and any other 4xx as a bad user name or password. Anything else — 5xx,
// a redirect, a network error, a timeout — denies too (the hook fails
// closed) and is logged; for /auth it is returned as an error other than
// ErrBadCredentials and ErrNotAuthorized, which the broker reports as
// "server unavailable".
//
// Authorization answers are cached per client id, user name, topic and
// access for CacheTTL, in a cache of at most CacheSize entries; a failed
// question is cached as a denial for one second at most, so that a down
// service is not asked for every message. Concurrent identical questions
// share one request. Authentication is never cached.
//
// Allow blocks for up to Timeout on a cache miss. The broker calls it in
// the connection's goroutine for Write and Subscribe, and for Read at each
// delivery, so a slow service slows the publisher whose message is being
// routed: set CacheTTL.
//
// The fields must be set before first use and not changed after; an
// HTTPHook must not be copied after first use.
type HTTPHook struct {
	URL      string        // base URL, e.g. "http://127.0.0.1:8080/mqtt"
	AuthPath string        // default "/auth"
	ACLPath  string        // default "/acl"
	Timeout  time.Duration // per request; default 2 s
	// CacheTTL is how long an Allow answer is kept; 0 disables the cache.
	CacheTTL  time.Duration
	CacheSize int          // default 10,000 entries
	Client    *http.Client // nil: a client of its own
	Logger    *slog.Logger // nil: slog.Default()

	once   sync.Once
	client *http.Client
	log    *slog.Logger
	now    func() time.Time // nil: time.Now; for tests

	mu     sync.Mutex
	cache  *lru[hookKey, hookAnswer]
	flight map[hookKey]*hookCall
}

type hookKey struct {
	clientID, username string
	hasUsername        bool
	topic              string
	access             Access
}

type hookAnswer struct {
	allow   bool
	expires time.Time
}

type hookCall struct {
	done  chan struct{}
	allow bool
}

type hookRequest struct {
	ClientID string  `json:"clientid"`
	Username *string `json:"username"`
	Password *string `json:"password,omitempty"`
	Remote   string  `json:"remote,omitempty"`
	Listener string  `json:"listener,omitempty"`
	Action   string  `json:"action"`
	Topic    string  `json:"topic,omitempty"`
}

func (h *HTTPHook) init() {
	h.once.Do(func() {
		h.client = h.Client
		if h.client == nil {
			h.client = &http.Client{}
		}
		h.log = h.Logger
		if h.log == nil {
			h.log = slog.Default()
		}
		size := h.CacheSize
		if size <= 0 {
			size = 10000
		}
		h.cache = newLRU[hookKey, hookAnswer](size)
		h.flight = make(map[hookKey]*hookCall)
	})
}

func (h *HTTPHook) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return 2 * time.Second
}

func newHookRequest(c *Client, action, topic string) hookRequest {
	r := hookRequest{ClientID: c.ClientID, Listener: c.Listener, Action: action, Topic: topic}
	if c.HasUsername {
		u := c.Username
		r.Username = &u
	}
	if c.Remote != nil {
		r.Remote = c.Remote.String()
	}
	return r
}

// Authenticate asks URL+AuthPath whether c may connect.
func (h *HTTPHook) Authenticate(ctx context.Context, c *Client) error {
	h.init()
	req := newHookRequest(c, "connect", "")
	if c.HasPassword {
		p := base64.StdEncoding.EncodeToString(c.Password)
		req.Password = &p
	}
	code, err := h.post(ctx, pathOr(h.AuthPath, "/auth"), &req)
	switch {
	case err != nil:
		h.log.Warn("auth hook failed; refusing the client", "client", c.ClientID, "err", err)
		return fmt.Errorf("auth: http hook: %w", err)
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusForbidden:
		return ErrNotAuthorized
	case code >= 400 && code < 500:
		return ErrBadCredentials
	}
	h.log.Warn("auth hook answered an unexpected status; refusing the client", "client", c.ClientID, "status", code)
	return fmt.Errorf("auth: http hook: status %d", code)
}

// Allow asks URL+ACLPath whether c may act on topic, or answers from the
// cache.
func (h *HTTPHook) Allow(c *Client, topic string, access Access) bool {
	h.init()
	key := hookKey{c.ClientID, c.Username, c.HasUsername, topic, access}
	if h.CacheTTL > 0 {
		now := time.Now()
		if h.now != nil {
			now = h.now()
		}
		h.mu.Lock()
		if a, ok := h.cache.get(key); ok && now.Before(a.expires) {
			h.mu.Unlock()
			return a.allow
		}
		if call, ok := h.flight[key]; ok {
			h.mu.Unlock()
			<-call.done
			return call.allow
		}
		call := &hookCall{done: make(chan struct{})}
		h.flight[key] = call
		h.mu.Unlock()
		defer func() {
			h.mu.Lock()
			delete(h.flight, key)
			h.mu.Unlock()
			close(call.done)
		}()
		allow, failed := h.ask(c, topic, access)
		call.allow = allow
		ttl := h.CacheTTL
		if failed {
			ttl = min(ttl, time.Second)
		}
		h.mu.Lock()
		h.cache.put(key, hookAnswer{allow: allow, expires: now.Add(ttl)})
		h.mu.Unlock()
		return allow
	}
	allow, _ := h.ask(c, topic, access)
	return allow
}

// ask puts one authorization question to the service; failed reports that
// there was no answer.
func (h *HTTPHook) ask(c *Client, topic string, access Access) (allow, failed bool) {
	req := newHookRequest(c, access.String(), topic)
	code, err := h.post(context.Background(), pathOr(h.ACLPath, "/acl"), &req)
	switch {
	case err != nil:
		h.log.Warn("acl hook failed; denying", "client", c.ClientID, "topic", topic, "access", access.String(), "err", err)
		return false, true
	case code >= 200 && code < 300:
		return true, false
	case code >= 400 && code < 500:
		return false, false
	}
	h.log.Warn("acl hook answered an unexpected status; denying", "client", c.ClientID, "topic", topic, "access", access.String(), "status", code)
	return false, true
}

func pathOr(p, def string) string {
	if p == "" {
		return def
	}
	return p
}

// post sends body as JSON and returns the status code. Errors carry the
// URL without its password, never the body.
func (h *HTTPHook) post(ctx context.Context, path string, body *hookRequest) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout())
	defer cancel()
	data, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	target := strings.TrimRight(h.URL, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(data))
	if err != nil {
		return 0, fmt.Errorf("bad hook URL %s: %w", redact(target), urlCause(err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("POST %s: %w", redact(target), urlCause(err))
	}
	// Drain a little so that the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	return resp.StatusCode, nil
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// urlCause unwraps a *url.Error, whose text repeats the URL.
func urlCause(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
