package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/internal/loadgen"
)

func benchBroker(t *testing.T) (host, port string) {
	t.Helper()
	// A flat-out QoS 1 run outpaces its subscribers on a busy machine:
	// room to queue, so that nothing is dropped by the default limit.
	srv := broker.New(broker.Options{SysInterval: -1, MaxQueued: 1_000_000})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	host, port, _ = net.SplitHostPort(ln.Addr().String())
	return host, port
}

func TestBenchJSON(t *testing.T) {
	host, port := benchBroker(t)
	var stdout, stderr bytes.Buffer
	code := run([]string{"bench", "pairs", "-h", host, "-p", port, "-c", "2", "-q", "1", "-d", "0.3",
		"-s", "100", "--json", "--interval", "50ms"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	var res loadgen.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout.String())
	}
	if res.Scenario != "pairs" || res.Publishers != 2 || res.QoS != 1 || res.Size != 100 ||
		res.Sent == 0 || res.Received != res.Sent || res.Lost != 0 || res.Latency == nil {
		t.Errorf("summary %+v", res)
	}
	if !strings.Contains(stderr.String(), "sent") {
		t.Errorf("no live line on stderr: %q", stderr.String())
	}
}

func TestBenchText(t *testing.T) {
	host, port := benchBroker(t)
	var stdout, stderr bytes.Buffer
	code := run([]string{"bench", "fanout", "--url", "mqtt://" + net.JoinHostPort(host, port), "-c", "3",
		"-r", "500", "-d", "300ms", "--quiet"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{"scenario     fanout", "received", "lost         0", "latency µs", "errors       0"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout.String())
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("--quiet wrote to stderr: %q", stderr.String())
	}
}

func TestBenchUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "usage: mast bench SCENARIO"},
		{[]string{"bench", "pairs", "--ws"}, "WebSocket is not implemented"},
		{[]string{"bench", "pairs", "--url", "ws://127.0.0.1:1/mqtt"}, "WebSocket is not implemented"},
		{[]string{"bench", "pairs", "-q", "3"}, "-q 3"},
		{[]string{"bench", "pairs", "-V", "6"}, "-V 6"},
		{[]string{"bench", "pairs", "-d", "soon"}, "want a duration"},
		{[]string{"bench", "warp"}, "unknown scenario"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(c.args, &stdout, &stderr); code == 0 {
			t.Errorf("%q: exit 0", c.args)
		}
		if !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%q: stderr %q lacks %q", c.args, stderr.String(), c.want)
		}
	}
}
