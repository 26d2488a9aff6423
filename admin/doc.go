// Package admin is mast's HTTP side: Prometheus metrics, health and
// readiness probes, the profiling endpoints of net/http/pprof, the JSON
// admin API under /api/v1/ (docs/admin-api.md, openapi.yaml) and the
// dashboard at / (web/: plain HTML, CSS and JavaScript, embedded). It
// listens on localhost by default and requires a bearer token when it
// listens anywhere else.
package admin
