// Package admin is mast's HTTP side: Prometheus metrics, health and
// readiness probes, the profiling endpoints of net/http/pprof, the JSON
// admin API and the embedded dashboard. It listens on localhost by default
// and requires a bearer token when it listens anywhere else.
package admin
