package admin_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mastmq/mast/admin"
	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/metrics"
)

func TestProbesAndToken(t *testing.T) {
	m := metrics.New()
	srv := broker.New(broker.Options{Observer: m, SysInterval: -1})
	m.Attach(srv)
	a := admin.New(srv, m, admin.Options{Token: "s3cret"})
	hs := httptest.NewServer(a)
	defer hs.Close()
	get := func(path, token string) int {
		req, _ := http.NewRequest("GET", hs.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get("/healthz", ""); c != 200 {
		t.Errorf("/healthz = %d", c)
	}
	if c := get("/readyz", ""); c != 503 {
		t.Errorf("/readyz before ready = %d, want 503", c)
	}
	a.SetReady(true)
	if c := get("/readyz", ""); c != 200 {
		t.Errorf("/readyz = %d", c)
	}
	if c := get("/metrics", ""); c != 401 {
		t.Errorf("/metrics without token = %d, want 401", c)
	}
	if c := get("/metrics", "wrong"); c != 401 {
		t.Errorf("/metrics with a wrong token = %d, want 401", c)
	}
	if c := get("/metrics", "s3cret"); c != 200 {
		t.Errorf("/metrics with the token = %d", c)
	}
	if c := get("/debug/pprof/", "s3cret"); c != 200 {
		t.Errorf("pprof = %d", c)
	}
}
