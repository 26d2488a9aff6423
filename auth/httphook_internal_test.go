package auth

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHTTPHookCacheExpiryAndBound(t *testing.T) {
	var count atomic.Int64
	var status atomic.Int64
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()

	var mu sync.Mutex
	now := time.Unix(1e9, 0)
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	h := &HTTPHook{URL: srv.URL, CacheTTL: 10 * time.Second, CacheSize: 10}
	h.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := &Client{ClientID: "c", Username: "u", HasUsername: true}

	h.Allow(c, "t", Read)
	h.Allow(c, "t", Read)
	advance(9 * time.Second)
	h.Allow(c, "t", Read)
	if n := count.Load(); n != 1 {
		t.Fatalf("%d requests within the TTL", n)
	}
	advance(2 * time.Second)
	h.Allow(c, "t", Read)
	if n := count.Load(); n != 2 {
		t.Fatalf("%d requests after the TTL, want 2", n)
	}

	// A failure is remembered for a second at most.
	status.Store(http.StatusBadGateway)
	if h.Allow(c, "u", Read) {
		t.Fatal("502 allowed")
	}
	status.Store(http.StatusOK)
	if h.Allow(c, "u", Read) {
		t.Fatal("the failure was forgotten at once")
	}
	advance(1100 * time.Millisecond)
	if !h.Allow(c, "u", Read) {
		t.Fatal("the failure was remembered past a second")
	}

	for i := range 100 {
		h.Allow(c, "many/"+strconv.Itoa(i), Read)
	}
	h.mu.Lock()
	n := h.cache.len()
	h.mu.Unlock()
	if n > 10 {
		t.Errorf("cache holds %d answers, bound is 10", n)
	}
}
