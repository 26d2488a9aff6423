package admin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/admin"
	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/metrics"
	"github.com/mastmq/mast/packet"
)

// env is a broker on 127.0.0.1 port 0 with the admin handler in front of
// it, both stopped when the test ends.
type env struct {
	t     *testing.T
	srv   *broker.Server
	admin *admin.Server
	mqtt  string // host:port of the MQTT listener
	http  *httptest.Server
	token string
}

func start(t *testing.T, opts admin.Options) *env {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	srv := broker.New(broker.Options{Observer: m, SysInterval: -1, Version: "mast test"})
	m.Attach(srv)
	go srv.Serve(ln)
	a := admin.New(srv, m, opts)
	hs := httptest.NewServer(a)
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return &env{t: t, srv: srv, admin: a, mqtt: ln.Addr().String(), http: hs, token: opts.Token}
}

// do sends a request with the env's token and decodes a JSON answer into
// out (when not nil). It returns the status.
func (e *env) do(method, path string, body any, out any) int {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			raw, _ := json.Marshal(b)
			rd = strings.NewReader(string(raw))
		}
	}
	req, err := http.NewRequest(method, e.http.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if strings.HasPrefix(path, "/api/") && resp.Header.Get("Content-Type") != "application/json" {
		e.t.Errorf("%s %s: Content-Type %q, want application/json", method, path, resp.Header.Get("Content-Type"))
	}
	if resp.StatusCode >= 400 {
		var eb struct{ Error string }
		if err := json.Unmarshal(raw, &eb); err != nil || eb.Error == "" {
			e.t.Errorf("%s %s: %d with body %q, want {\"error\": ...}", method, path, resp.StatusCode, raw)
		}
	}
	if out != nil && resp.StatusCode < 400 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return resp.StatusCode
}

// mqttClient speaks MQTT over TCP with packets the test builds.
type mqttClient struct {
	t       *testing.T
	nc      net.Conn
	br      *bufio.Reader
	version byte
}

func (e *env) connect(id string, version byte, clean bool, username string) *mqttClient {
	e.t.Helper()
	nc, err := net.Dial("tcp", e.mqtt)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { nc.Close() })
	c := &mqttClient{t: e.t, nc: nc, br: bufio.NewReader(nc), version: version}
	cp := &packet.Connect{ProtocolName: "MQTT", Version: version, ClientID: id, CleanStart: clean, KeepAlive: 60}
	if username != "" {
		cp.UsernameFlag, cp.Username = true, username
	}
	c.send(cp)
	if ack, ok := c.read().(*packet.Connack); !ok || ack.ReasonCode != 0 {
		e.t.Fatalf("CONNACK %+v", ack)
	}
	return c
}

func (c *mqttClient) send(p packet.Packet) {
	c.t.Helper()
	b, err := packet.Append(nil, c.version, p)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *mqttClient) read() packet.Packet {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := packet.Read(c.br, c.version, 0)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

func (c *mqttClient) subscribe(id uint16, filters ...string) {
	c.t.Helper()
	s := &packet.Subscribe{PacketID: id}
	for _, f := range filters {
		s.Subscriptions = append(s.Subscriptions, packet.Subscription{Filter: f, QoS: 1})
	}
	c.send(s)
	if sa, ok := c.read().(*packet.Suback); !ok || sa.PacketID != id {
		c.t.Fatalf("want SUBACK %d, got %+v", id, sa)
	}
}

func (c *mqttClient) publish(topic, payload string, retain bool) {
	c.t.Helper()
	c.send(&packet.Publish{Topic: topic, Payload: []byte(payload), Retain: retain})
}

// readPublish returns the next PUBLISH, acknowledging it at QoS 1.
func (c *mqttClient) readPublish() *packet.Publish {
	c.t.Helper()
	p, ok := c.read().(*packet.Publish)
	if !ok {
		c.t.Fatalf("want PUBLISH, got %T", p)
	}
	if p.QoS == 1 {
		c.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
	}
	return p
}

// ping waits for a round trip, so that everything sent before is handled.
func (c *mqttClient) ping() {
	c.t.Helper()
	c.send(&packet.Pingreq{})
	for {
		if _, ok := c.read().(*packet.Pingresp); ok {
			return
		}
	}
}

// expectClosed waits for the broker to close the connection.
func (c *mqttClient) expectClosed() []packet.Packet {
	c.t.Helper()
	var got []packet.Packet
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		p, err := packet.Read(c.br, c.version, 0)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatalf("connection still open; got %v", got)
			}
			return got
		}
		got = append(got, p)
	}
}
