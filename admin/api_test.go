package admin_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/admin"
	"github.com/mastmq/mast/packet"
)

type client struct {
	ClientID      string `json:"client_id"`
	Username      string `json:"username"`
	Remote        string `json:"remote"`
	Version       int    `json:"protocol_level"`
	Connected     bool   `json:"connected"`
	ConnectedAt   string `json:"connected_at"`
	KeepAlive     int    `json:"keep_alive_seconds"`
	Subscriptions int    `json:"subscriptions"`
	Inflight      int    `json:"inflight"`
	Queued        int    `json:"queued"`
}

type clientList struct {
	Total   int      `json:"total"`
	Offset  int      `json:"offset"`
	Limit   int      `json:"limit"`
	Clients []client `json:"clients"`
}

type subscription struct {
	ClientID string `json:"client_id"`
	Filter   string `json:"filter"`
	QoS      int    `json:"qos"`
}

func ids(cs []client) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.ClientID)
	}
	return strings.Join(s, ",")
}

// waitFor polls cond for up to 5 s: for state the broker changes in its
// own goroutines after a socket closes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestListClients(t *testing.T) {
	e := start(t, admin.Options{})
	e.connect("sensor-1", packet.Version311, true, "alice")
	e.connect("sensor-2", packet.Version5, true, "bob")
	gone := e.connect("lamp", packet.Version311, false, "alice") // persistent session
	gone.nc.Close()
	waitFor(t, "lamp to go offline", func() bool { ci, _, _ := e.srv.Client("lamp"); return !ci.Connected })

	cases := []struct {
		query string
		total int
		ids   string
	}{
		{"", 3, "lamp,sensor-1,sensor-2"},
		{"?connected=true", 2, "sensor-1,sensor-2"},
		{"?connected=false", 1, "lamp"},
		{"?prefix=sensor-", 2, "sensor-1,sensor-2"},
		{"?username=alice", 2, "lamp,sensor-1"},
		{"?username=alice&connected=true", 1, "sensor-1"},
		{"?q=BOB", 1, "sensor-2"},
		{"?q=127.0.0.1", 2, "sensor-1,sensor-2"},
		{"?limit=1&offset=1", 3, "sensor-1"},
		{"?limit=2&offset=2", 3, "sensor-2"},
		{"?offset=10", 3, ""},
	}
	for _, c := range cases {
		var got clientList
		if code := e.do("GET", "/api/v1/clients"+c.query, nil, &got); code != 200 {
			t.Errorf("%s: status %d", c.query, code)
			continue
		}
		if got.Total != c.total || ids(got.Clients) != c.ids {
			t.Errorf("%s: total %d ids %q, want %d %q", c.query, got.Total, ids(got.Clients), c.total, c.ids)
		}
	}
	var all clientList
	e.do("GET", "/api/v1/clients?limit=10", nil, &all)
	if all.Limit != 10 || all.Offset != 0 {
		t.Errorf("limit/offset echoed as %d/%d", all.Limit, all.Offset)
	}
	s1 := all.Clients[1]
	if !s1.Connected || s1.Username != "alice" || s1.Version != 4 || s1.KeepAlive != 60 || s1.ConnectedAt == "" || !strings.HasPrefix(s1.Remote, "127.0.0.1:") {
		t.Errorf("sensor-1 = %+v", s1)
	}
	if lamp := all.Clients[0]; lamp.Connected || lamp.Remote != "" {
		t.Errorf("lamp = %+v, want offline", lamp)
	}

	for _, bad := range []string{"?limit=0", "?limit=x", "?limit=1001", "?offset=-1", "?connected=maybe"} {
		if code := e.do("GET", "/api/v1/clients"+bad, nil, nil); code != 400 {
			t.Errorf("%s: status %d, want 400", bad, code)
		}
	}
}

func TestClientDetailAndDisconnect(t *testing.T) {
	e := start(t, admin.Options{})
	c := e.connect("house/kitchen", packet.Version5, true, "") // a slash in the id
	c.subscribe(1, "house/#", "garden/+")
	// Leave a QoS 1 message unacknowledged so the detail shows it in flight.
	if err := e.srv.Publish("house/door", []byte("open"), 1, false); err != nil {
		t.Fatal(err)
	}
	if p, ok := c.read().(*packet.Publish); !ok || p.Topic != "house/door" {
		t.Fatalf("want the PUBLISH, got %+v", p)
	}

	var d struct {
		Client        client         `json:"client"`
		Subscriptions []subscription `json:"subscriptions"`
	}
	path := "/api/v1/clients/" + url.PathEscape("house/kitchen")
	if code := e.do("GET", path, nil, &d); code != 200 {
		t.Fatalf("GET %s: %d", path, code)
	}
	if d.Client.ClientID != "house/kitchen" || !d.Client.Connected || d.Client.Version != 5 ||
		d.Client.Subscriptions != 2 || d.Client.Inflight != 1 || d.Client.Queued != 0 {
		t.Errorf("client = %+v", d.Client)
	}
	if len(d.Subscriptions) != 2 || d.Subscriptions[0].Filter != "garden/+" || d.Subscriptions[1].Filter != "house/#" || d.Subscriptions[1].QoS != 1 {
		t.Errorf("subscriptions = %+v", d.Subscriptions)
	}
	// The slash may also come unescaped.
	if code := e.do("GET", "/api/v1/clients/house/kitchen", nil, nil); code != 200 {
		t.Errorf("unescaped slash: %d", code)
	}
	if code := e.do("GET", "/api/v1/clients/nobody", nil, nil); code != 404 {
		t.Errorf("unknown client: %d, want 404", code)
	}

	if code := e.do("DELETE", path, nil, nil); code != 200 {
		t.Fatalf("DELETE: %d", code)
	}
	got := c.expectClosed()
	if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != 0x98 {
		t.Errorf("client got %v, want DISCONNECT 0x98 then close", got)
	}
	waitFor(t, "the session to end", func() bool { _, _, ok := e.srv.Client("house/kitchen"); return !ok })
	if code := e.do("DELETE", path, nil, nil); code != 404 {
		t.Errorf("DELETE of a gone client: %d, want 404", code)
	}
	if code := e.do("DELETE", "/api/v1/clients/nobody", nil, nil); code != 404 {
		t.Errorf("DELETE of an unknown client: %d, want 404", code)
	}
}

func TestListSubscriptions(t *testing.T) {
	e := start(t, admin.Options{})
	e.connect("a", packet.Version311, true, "").subscribe(1, "x/#", "y")
	e.connect("b", packet.Version311, true, "").subscribe(1, "z")
	type list struct {
		Total         int            `json:"total"`
		Subscriptions []subscription `json:"subscriptions"`
	}
	str := func(l list) string {
		var s []string
		for _, x := range l.Subscriptions {
			s = append(s, x.ClientID+":"+x.Filter)
		}
		return strings.Join(s, ",")
	}
	for q, want := range map[string]string{
		"":                  "a:x/#,a:y,b:z",
		"?client=a":         "a:x/#,a:y",
		"?client=nobody":    "",
		"?limit=1&offset=1": "a:y",
	} {
		var l list
		if code := e.do("GET", "/api/v1/subscriptions"+q, nil, &l); code != 200 {
			t.Errorf("%s: %d", q, code)
			continue
		}
		if str(l) != want {
			t.Errorf("%s: %q, want %q", q, str(l), want)
		}
	}
	if code := e.do("GET", "/api/v1/subscriptions?limit=-3", nil, nil); code != 400 {
		t.Errorf("bad limit: %d", code)
	}
}

type retainedList struct {
	Filter    string `json:"filter"`
	Count     int    `json:"count"`
	Truncated bool   `json:"truncated"`
	Messages  []struct {
		Topic    string `json:"topic"`
		QoS      int    `json:"qos"`
		Size     int    `json:"size"`
		Encoding string `json:"encoding"`
		Payload  string `json:"payload"`
	} `json:"messages"`
}

func TestRetained(t *testing.T) {
	e := start(t, admin.Options{})
	c := e.connect("pub", packet.Version311, true, "")
	c.publish("house/lamp", "on", true)
	c.publish("house/raw", "\xff\x00\xfe", true)
	c.publish("garden/tap", "off", true)
	c.ping()

	var l retainedList
	if code := e.do("GET", "/api/v1/retained?filter=house/%23", nil, &l); code != 200 {
		t.Fatalf("status %d", code)
	}
	if l.Filter != "house/#" || l.Count != 2 || l.Truncated || len(l.Messages) != 2 {
		t.Fatalf("list = %+v", l)
	}
	if m := l.Messages[0]; m.Topic != "house/lamp" || m.Encoding != "utf-8" || m.Payload != "on" || m.Size != 2 {
		t.Errorf("text message = %+v", m)
	}
	if m := l.Messages[1]; m.Topic != "house/raw" || m.Encoding != "base64" || m.Payload != base64.StdEncoding.EncodeToString([]byte("\xff\x00\xfe")) || m.Size != 3 {
		t.Errorf("binary message = %+v", m)
	}
	e.do("GET", "/api/v1/retained", nil, &l) // filter defaults to #
	if l.Filter != "#" || l.Count != 3 {
		t.Errorf("default filter: %+v", l)
	}
	e.do("GET", "/api/v1/retained?limit=2", nil, &l)
	if l.Count != 2 || !l.Truncated {
		t.Errorf("limit 2 of 3: count %d truncated %v", l.Count, l.Truncated)
	}
	for _, bad := range []string{"?filter=house/%23/x", "?limit=0", "?limit=many"} {
		if code := e.do("GET", "/api/v1/retained"+bad, nil, nil); code != 400 {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}

	if code := e.do("DELETE", "/api/v1/retained?topic=house/lamp", nil, nil); code != 200 {
		t.Fatalf("DELETE: %d", code)
	}
	e.do("GET", "/api/v1/retained?filter=house/%2B", nil, &l)
	if l.Count != 1 || l.Messages[0].Topic != "house/raw" {
		t.Errorf("after delete: %+v", l)
	}
	if code := e.do("DELETE", "/api/v1/retained?topic=house/lamp", nil, nil); code != 404 {
		t.Errorf("second DELETE: %d, want 404", code)
	}
	for _, bad := range []string{"", "?topic=", "?topic=house/%23"} {
		if code := e.do("DELETE", "/api/v1/retained"+bad, nil, nil); code != 400 {
			t.Errorf("DELETE %s: %d, want 400", bad, code)
		}
	}
}

func TestPublish(t *testing.T) {
	e := start(t, admin.Options{})
	sub := e.connect("sub", packet.Version311, true, "")
	sub.subscribe(1, "t/#")

	if code := e.do("POST", "/api/v1/publish", map[string]any{"topic": "t/text", "payload": "héllo", "qos": 1}, nil); code != 200 {
		t.Fatalf("publish: %d", code)
	}
	if p := sub.readPublish(); p.Topic != "t/text" || string(p.Payload) != "héllo" || p.QoS != 1 {
		t.Errorf("got %+v", p)
	}
	bin := []byte{0, 1, 2, 0xff}
	if code := e.do("POST", "/api/v1/publish", map[string]any{"topic": "t/bin", "payload_base64": base64.StdEncoding.EncodeToString(bin), "retain": true}, nil); code != 200 {
		t.Fatalf("publish base64: %d", code)
	}
	if p := sub.readPublish(); p.Topic != "t/bin" || string(p.Payload) != string(bin) || p.QoS != 0 {
		t.Errorf("got %+v", p)
	}
	var l retainedList
	e.do("GET", "/api/v1/retained?filter=t/bin", nil, &l)
	if l.Count != 1 || l.Messages[0].Encoding != "base64" {
		t.Errorf("retained after publish: %+v", l)
	}
	// An empty payload is allowed (and with retain clears the message).
	if code := e.do("POST", "/api/v1/publish", map[string]any{"topic": "t/bin", "retain": true}, nil); code != 200 {
		t.Fatalf("empty publish: %d", code)
	}
	if p := sub.readPublish(); p.Topic != "t/bin" || len(p.Payload) != 0 {
		t.Errorf("got %+v", p)
	}

	for name, body := range map[string]any{
		"both payloads":   map[string]any{"topic": "t/x", "payload": "a", "payload_base64": "YQ=="},
		"bad base64":      map[string]any{"topic": "t/x", "payload_base64": "!!"},
		"qos 3":           map[string]any{"topic": "t/x", "qos": 3},
		"wildcard topic":  map[string]any{"topic": "t/+"},
		"no topic":        map[string]any{"payload": "x"},
		"unknown field":   map[string]any{"topic": "t/x", "qso": 1},
		"not json":        "topic=t/x",
		"payload as list": map[string]any{"topic": "t/x", "payload": []int{1}},
	} {
		if code := e.do("POST", "/api/v1/publish", body, nil); code != 400 {
			t.Errorf("%s: %d, want 400", name, code)
		}
	}
	// Nothing of those reached the subscriber.
	sub.ping()
}

func TestBrokerInfo(t *testing.T) {
	e := start(t, admin.Options{WebSocketURL: "ws://127.0.0.1:9001/mqtt", Reload: func() error { return nil }})
	e.connect("one", packet.Version311, true, "")
	var b struct {
		Version       string `json:"version"`
		StartedAt     string `json:"started_at"`
		UptimeSeconds int64  `json:"uptime_seconds"`
		WebSocketURL  string `json:"websocket_url"`
		Reload        bool   `json:"reload_available"`
		Listeners     []struct {
			Network string `json:"network"`
			Address string `json:"address"`
		} `json:"listeners"`
		Stats map[string]any `json:"stats"`
	}
	if code := e.do("GET", "/api/v1/broker", nil, &b); code != 200 {
		t.Fatalf("status %d", code)
	}
	if b.Version != "mast test" || b.WebSocketURL != "ws://127.0.0.1:9001/mqtt" || !b.Reload || b.StartedAt == "" {
		t.Errorf("info = %+v", b)
	}
	if len(b.Listeners) != 1 || b.Listeners[0].Address != e.mqtt || b.Listeners[0].Network != "tcp" {
		t.Errorf("listeners = %+v, want tcp %s", b.Listeners, e.mqtt)
	}
	if b.Stats["clients_connected"] != 1.0 || b.Stats["connections_total"] != 1.0 {
		t.Errorf("stats = %v", b.Stats)
	}
	if in, _ := b.Stats["packets_in"].(map[string]any); in["CONNECT"] != 1.0 {
		t.Errorf("packets_in = %v", b.Stats["packets_in"])
	}
}

type statsEvent struct {
	IntervalSeconds  float64 `json:"interval_seconds"`
	ClientsConnected int     `json:"clients_connected"`
	Rates            struct {
		MessagesIn  float64 `json:"messages_in_per_second"`
		MessagesOut float64 `json:"messages_out_per_second"`
	} `json:"rates"`
	Stats struct {
		MessagesReceived uint64 `json:"messages_received"`
	} `json:"stats"`
}

// openStream starts GET /api/v1/stats/stream and returns a function that
// reads the next event.
func openStream(t *testing.T, ctx context.Context, rawURL, authz string) (*http.Response, func() statsEvent) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", rawURL, nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	next := func() statsEvent {
		t.Helper()
		var event string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				event = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				if event != "stats" {
					t.Fatalf("data for event %q", event)
				}
				var ev statsEvent
				if err := json.Unmarshal([]byte(v), &ev); err != nil {
					t.Fatalf("event data %q: %v", v, err)
				}
				return ev
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return statsEvent{}
	}
	return resp, next
}

func TestStatsStream(t *testing.T) {
	e := start(t, admin.Options{})
	sub := e.connect("sub", packet.Version311, true, "")
	sub.subscribe(1, "load")
	pub := e.connect("pub", packet.Version311, true, "")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, next := openStream(t, ctx, e.http.URL+"/api/v1/stats/stream?interval=100ms", "")
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	first := next()
	if first.IntervalSeconds != 0 || first.ClientsConnected != 2 {
		t.Errorf("first event = %+v", first)
	}
	// Publish while events flow until one shows a rate in and out.
	seen := false
	for i := 0; i < 50 && !seen; i++ {
		for range 20 {
			pub.publish("load", "x", false)
		}
		pub.ping()
		for range 20 {
			sub.readPublish()
		}
		ev := next()
		if ev.IntervalSeconds <= 0 || ev.IntervalSeconds > 5 {
			t.Fatalf("interval %v", ev.IntervalSeconds)
		}
		seen = ev.Rates.MessagesIn > 0 && ev.Rates.MessagesOut > 0 && ev.Stats.MessagesReceived >= 20
	}
	if !seen {
		t.Fatal("no event showed messages in and out per second")
	}
	// The handler stops when the client goes away: the test server's
	// Close (at cleanup) waits for every handler to return.
	cancel()

	for _, bad := range []string{"?interval=1ms", "?interval=2h", "?interval=soon"} {
		if code := e.do("GET", "/api/v1/stats/stream"+bad, nil, nil); code != 400 {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
}

func TestReload(t *testing.T) {
	e := start(t, admin.Options{})
	if code := e.do("POST", "/api/v1/reload", nil, nil); code != 501 {
		t.Errorf("without Reload: %d, want 501", code)
	}
	calls := 0
	var fail error
	e2 := start(t, admin.Options{Reload: func() error { calls++; return fail }})
	if code := e2.do("POST", "/api/v1/reload", nil, nil); code != 200 || calls != 1 {
		t.Errorf("reload: %d after %d calls", code, calls)
	}
	fail = errors.New("acl file line 3: unknown keyword")
	req, _ := http.NewRequest("POST", e2.http.URL+"/api/v1/reload", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 422 || !strings.Contains(string(body), "line 3: unknown keyword") {
		t.Errorf("refused reload: %d %s", resp.StatusCode, body)
	}
}

func TestAPIToken(t *testing.T) {
	e := start(t, admin.Options{Token: "s3cret"})
	get := func(path, authz string) (int, string) {
		req, _ := http.NewRequest("GET", e.http.URL+path, nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			return resp.StatusCode, "" // do not wait for the stream to end
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/api/v1/clients", ""); code != 401 || !strings.Contains(body, `"error"`) {
		t.Errorf("no token: %d %s", code, body)
	}
	if code, _ := get("/api/v1/clients", "Bearer wrong"); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	if code, _ := get("/api/v1/clients", "Bearer s3cret"); code != 200 {
		t.Errorf("token: %d", code)
	}
	// ?token= is for the event stream only.
	if code, _ := get("/api/v1/clients?token=s3cret", ""); code != 401 {
		t.Errorf("query token on clients: %d, want 401", code)
	}
	if code, _ := get("/api/v1/stats/stream?token=s3cret", ""); code != 200 {
		t.Errorf("query token on the stream: %d", code)
	}
	if code, _ := get("/api/v1/stats/stream?token=nope", ""); code != 401 {
		t.Errorf("wrong query token on the stream: %d", code)
	}
	if code, _ := get("/api/v1/stats/stream", "Bearer s3cret"); code != 200 {
		t.Errorf("header token on the stream: %d", code)
	}
	for authz, want := range map[string]string{
		"":              `{"authorized":false,"token_required":true}`,
		"Bearer nope":   `{"authorized":false,"token_required":true}`,
		"Bearer s3cret": `{"authorized":true,"token_required":true}`,
	} {
		if code, body := get("/api/v1/auth", authz); code != 200 || strings.TrimSpace(body) != want {
			t.Errorf("auth with %q: %d %s, want %s", authz, code, body, want)
		}
	}
	// The dashboard's files hold no data and load without the token.
	if code, body := get("/", ""); code != 200 || !strings.Contains(body, "<title>mast dashboard</title>") {
		t.Errorf("dashboard: %d", code)
	}
	if code, _ := get("/static/app.js", ""); code != 200 {
		t.Errorf("app.js: %d", code)
	}
}

func TestAPINotFoundIsJSON(t *testing.T) {
	e := start(t, admin.Options{})
	if code := e.do("GET", "/api/v1/nothing", nil, nil); code != 404 {
		t.Errorf("unknown endpoint: %d", code)
	}
	req, _ := http.NewRequest("PUT", e.http.URL+"/api/v1/clients", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || !strings.Contains(resp.Header.Get("Allow"), "GET") || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("PUT /api/v1/clients: %d Allow %q type %q", resp.StatusCode, resp.Header.Get("Allow"), resp.Header.Get("Content-Type"))
	}
}
