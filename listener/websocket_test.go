package listener_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/listener"
	"github.com/mastmq/mast/packet"
)

// startWSBroker serves a broker over a WebSocket listener on 127.0.0.1
// port 0 and returns it with the listener's address.
func startWSBroker(t *testing.T, inner net.Listener, path string, opts listener.WebSocketOptions) (*broker.Server, string) {
	t.Helper()
	if inner == nil {
		var err error
		if inner, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	srv := broker.New(broker.Options{SysInterval: -1})
	ln := listener.NewWebSocketListener(inner, path, opts)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, broker.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv, ln.Addr().String()
}

// wsClient is an MQTT client written by hand over a WebSocket: each send
// is one binary message, and reads treat the messages as one stream.
type wsClient struct {
	t  *testing.T
	ws *websocket.Conn
	br *bufio.Reader
}

type messageStream struct {
	ws *websocket.Conn
	r  io.Reader
}

func (s *messageStream) Read(p []byte) (int, error) {
	for {
		if s.r == nil {
			typ, r, err := s.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, errors.New("broker sent a text message")
			}
			s.r = r
		}
		n, err := s.r.Read(p)
		if err == io.EOF {
			s.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func dialWS(t *testing.T, url string, d *websocket.Dialer, hdr http.Header) *wsClient {
	t.Helper()
	if d == nil {
		d = &websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 5 * time.Second}
	}
	ws, resp, err := d.Dial(url, hdr)
	if err != nil {
		t.Fatalf("dial %s: %v (response %v)", url, err, resp)
	}
	t.Cleanup(func() { ws.Close() })
	return &wsClient{t: t, ws: ws, br: bufio.NewReader(&messageStream{ws: ws})}
}

func (c *wsClient) send(b ...[]byte) {
	c.t.Helper()
	for _, m := range b {
		if err := c.ws.WriteMessage(websocket.BinaryMessage, m); err != nil {
			c.t.Fatalf("write: %v", err)
		}
	}
}

func (c *wsClient) read(version byte) packet.Packet {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := packet.Read(c.br, version, 0)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

// connect311 is CONNECT 3.1.1, clean session, keep alive 60 s, written
// by hand.
func connect311(id string) []byte {
	b := []byte{0x10, byte(12 + len(id)), 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00, byte(len(id))}
	return append(b, id...)
}

var connack311 = []byte{0x20, 0x02, 0x00, 0x00}

func TestWebSocketPubSub(t *testing.T) {
	_, addr := startWSBroker(t, nil, "", listener.WebSocketOptions{})
	url := "ws://" + addr + "/mqtt"

	sub := dialWS(t, url, nil, nil)
	if got := sub.ws.Subprotocol(); got != "mqtt" {
		t.Fatalf("subprotocol = %q, want mqtt", got)
	}
	// Two packets in one message: CONNECT and SUBSCRIBE a/b at QoS 0.
	two := append(connect311("sub"), 0x82, 0x08, 0x00, 0x01, 0x00, 0x03, 'a', '/', 'b', 0x00)
	sub.send(two)
	if p := sub.read(4); p.(*packet.Connack).ReasonCode != 0 {
		t.Fatalf("CONNACK %+v", p)
	}
	if sa, ok := sub.read(4).(*packet.Suback); !ok || sa.PacketID != 1 || !bytes.Equal(sa.ReasonCodes, []byte{0}) {
		t.Fatalf("want SUBACK 1 [0], got %+v", sa)
	}

	pub := dialWS(t, url, nil, nil)
	// One packet split across two messages, mid-header and mid-body.
	c := connect311("pub")
	pub.send(c[:1], c[1:9], c[9:])
	if p := pub.read(4); p.(*packet.Connack).ReasonCode != 0 {
		t.Fatalf("CONNACK %+v", p)
	}
	publish := []byte{0x30, 0x0A, 0x00, 0x03, 'a', '/', 'b', 'h', 'e', 'l', 'l', 'o'} // PUBLISH QoS 0 a/b "hello"
	pub.send(publish[:6], publish[6:])
	// And a second PUBLISH with a PINGREQ behind it in the same message.
	pub.send(append([]byte{0x30, 0x07, 0x00, 0x03, 'a', '/', 'b', 'h', 'i'}, 0xC0, 0x00))
	if _, ok := pub.read(4).(*packet.Pingresp); !ok {
		t.Fatal("want PINGRESP")
	}

	for _, want := range []string{"hello", "hi"} {
		p, ok := sub.read(4).(*packet.Publish)
		if !ok || p.Topic != "a/b" || string(p.Payload) != want {
			t.Fatalf("want PUBLISH a/b %q, got %+v", want, p)
		}
	}
}

func TestWebSocketSubprotocols(t *testing.T) {
	_, addr := startWSBroker(t, nil, "", listener.WebSocketOptions{})
	_, strict := startWSBroker(t, nil, "/", listener.WebSocketOptions{RequireSubprotocol: true})
	_, anyPath := startWSBroker(t, nil, listener.AnyWebSocketPath, listener.WebSocketOptions{})
	cases := []struct {
		name    string
		url     string
		offer   []string
		status  int    // for refusals
		chosen  string // for upgrades
		refused bool
	}{
		{"mqtt", "ws://" + addr + "/mqtt", []string{"mqtt"}, 0, "mqtt", false},
		{"mqttv3.1", "ws://" + addr + "/mqtt", []string{"mqttv3.1"}, 0, "mqttv3.1", false},
		{"both, mqtt preferred", "ws://" + addr + "/mqtt", []string{"mqttv3.1", "mqtt"}, 0, "mqtt", false},
		{"none offered, lenient", "ws://" + addr + "/mqtt", nil, 0, "", false},
		{"only others offered", "ws://" + addr + "/mqtt", []string{"wamp"}, 400, "", true},
		{"wrong path", "ws://" + addr + "/other", []string{"mqtt"}, 404, "", true},
		{"root path", "ws://" + strict + "/", []string{"mqtt"}, 0, "mqtt", false},
		{"none offered, strict", "ws://" + strict + "/", nil, 400, "", true},
		{"strict root only", "ws://" + strict + "/mqtt", []string{"mqtt"}, 404, "", true},
		{"any path: root", "ws://" + anyPath + "/", []string{"mqtt"}, 0, "mqtt", false},
		{"any path: deep", "ws://" + anyPath + "/a/b", []string{"mqttv3.1"}, 0, "mqttv3.1", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := &websocket.Dialer{Subprotocols: c.offer, HandshakeTimeout: 5 * time.Second}
			ws, resp, err := d.Dial(c.url, nil)
			if c.refused {
				if err == nil {
					ws.Close()
					t.Fatal("upgraded, want a refusal")
				}
				if resp == nil || resp.StatusCode != c.status {
					t.Fatalf("response %v, want status %d", resp, c.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer ws.Close()
			if got := ws.Subprotocol(); got != c.chosen {
				t.Errorf("subprotocol = %q, want %q", got, c.chosen)
			}
			// And it speaks MQTT.
			ws.WriteMessage(websocket.BinaryMessage, connect311(""))
			ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, msg, err := ws.ReadMessage()
			if err != nil || !bytes.Equal(msg, connack311) {
				t.Fatalf("CONNACK: % x, %v", msg, err)
			}
		})
	}

	// A plain HTTP request on the path is told to upgrade.
	resp, err := http.Get("http://" + addr + "/mqtt")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain GET = %d, want 426", resp.StatusCode)
	}
}

func TestWebSocketRemoteAddr(t *testing.T) {
	for _, trust := range []bool{false, true} {
		srv, addr := startWSBroker(t, nil, "", listener.WebSocketOptions{TrustProxy: trust})
		id := "direct"
		if trust {
			id = "proxied"
		}
		c := dialWS(t, "ws://"+addr+"/mqtt", nil, http.Header{"X-Forwarded-For": {"192.0.2.1, 198.51.100.7"}})
		c.send(connect311(id))
		c.read(4)
		ci, _, ok := srv.Client(id)
		if !ok {
			t.Fatalf("client %s not found", id)
		}
		host, _, _ := net.SplitHostPort(ci.Remote)
		want := "127.0.0.1"
		if trust {
			want = "198.51.100.7" // the entry the proxy appended
		}
		if host != want {
			t.Errorf("TrustProxy %v: remote %q, want host %s", trust, ci.Remote, want)
		}
	}
}

// A read deadline must not close the socket: an administrator's
// disconnect still reaches a v5 client as DISCONNECT 0x98.
func TestWebSocketAdminDisconnectV5(t *testing.T) {
	srv, addr := startWSBroker(t, nil, "", listener.WebSocketOptions{})
	c := dialWS(t, "ws://"+addr+"/mqtt", nil, nil)
	conn, _ := packet.Append(nil, 5, &packet.Connect{ProtocolName: "MQTT", Version: 5, CleanStart: true, KeepAlive: 60, ClientID: "v5"})
	c.send(conn)
	if ack, ok := c.read(5).(*packet.Connack); !ok || ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %+v", ack)
	}
	if !srv.Disconnect("v5") {
		t.Fatal("Disconnect reported the client not connected")
	}
	d, ok := c.read(5).(*packet.Disconnect)
	if !ok || d.ReasonCode != 0x98 {
		t.Fatalf("want DISCONNECT 0x98, got %+v", d)
	}
	// Then the broker closes the WebSocket.
	c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.ws.NextReader(); err == nil {
		t.Fatal("connection still open after the DISCONNECT")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("connection still open 5 s after the DISCONNECT")
	}
}

// Keep alive applies over WebSocket as over TCP [MQTT-3.1.2-24].
func TestWebSocketKeepAlive(t *testing.T) {
	_, addr := startWSBroker(t, nil, "", listener.WebSocketOptions{})
	c := dialWS(t, "ws://"+addr+"/mqtt", nil, nil)
	conn := connect311("idle")
	conn[11] = 1 // keep alive 1 s
	c.send(conn)
	c.read(4)
	start := time.Now()
	c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.ws.NextReader()
	if err == nil {
		t.Fatal("got a message, want the connection closed")
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("still open after 5 s with keep alive 1 s")
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("closed after %v, before 1.5 x keep alive", el)
	}
}

// MQTT packets travel in binary messages only [MQTT-6.0.0-1].
func TestWebSocketTextMessageCloses(t *testing.T) {
	_, addr := startWSBroker(t, nil, "", listener.WebSocketOptions{})
	c := dialWS(t, "ws://"+addr+"/mqtt", nil, nil)
	if err := c.ws.WriteMessage(websocket.TextMessage, connect311("text")); err != nil {
		t.Fatal(err)
	}
	c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.ws.NextReader()
	if !websocket.IsCloseError(err, websocket.CloseUnsupportedData) {
		t.Fatalf("got %v, want close 1003", err)
	}
}

func TestWebSocketOrigins(t *testing.T) {
	_, addr := startWSBroker(t, nil, "", listener.WebSocketOptions{AllowedOrigins: []string{"https://dash.example"}})
	d := &websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 5 * time.Second}
	for origin, ok := range map[string]bool{"": true, "https://dash.example": true, "https://evil.example": false} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		ws, resp, err := d.Dial("ws://"+addr+"/mqtt", h)
		if ok != (err == nil) {
			t.Errorf("origin %q: err %v (response %v), want allowed %v", origin, err, resp, ok)
		}
		if ws != nil {
			ws.Close()
		}
	}
}

// Secure WebSockets: the same listener over a TLS listener.
func TestWebSocketTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln := tls.NewListener(inner, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	_, addr := startWSBroker(t, tln, "", listener.WebSocketOptions{})
	d := &websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 5 * time.Second,
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
	c := dialWS(t, "wss://"+addr+"/mqtt", d, nil)
	c.send(append(connect311("secure"), 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'x', 0x00))
	c.read(4)
	c.read(4) // SUBACK
	c.send([]byte{0x30, 0x05, 0x00, 0x01, 'x', 'o', 'k'})
	if p, ok := c.read(4).(*packet.Publish); !ok || string(p.Payload) != "ok" {
		t.Fatalf("want PUBLISH x ok, got %+v", p)
	}
}

func TestWebSocketListenerClose(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := listener.NewWebSocketListener(inner, "/mqtt", listener.WebSocketOptions{})
	if ln.Path() != "/mqtt" || ln.Addr().String() != inner.Addr().String() {
		t.Fatalf("path %q addr %v", ln.Path(), ln.Addr())
	}
	accepted := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		accepted <- err
	}()
	ln.Close()
	select {
	case err := <-accepted:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still blocked after Close")
	}
	if _, err := net.DialTimeout("tcp", inner.Addr().String(), time.Second); err == nil {
		t.Error("inner listener still open after Close")
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// The accepted conn directly: a byte stream across message boundaries,
// one message per Write, and a read deadline that unblocks the reader
// without closing the socket (as on TCP), so a later Write still arrives.
func TestWebSocketConnSemantics(t *testing.T) {
	cert, pool := selfSigned(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln := tls.NewListener(inner, &tls.Config{Certificates: []tls.Certificate{cert}})
	ln := listener.NewWebSocketListener(tln, "", listener.WebSocketOptions{})
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	d := &websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 5 * time.Second,
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
	ws, _, err := d.Dial("wss://"+ln.Addr().String()+"/mqtt", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	sc := <-accepted
	defer sc.Close()

	if ts, ok := sc.(interface{ ConnectionState() tls.ConnectionState }); !ok || !ts.ConnectionState().HandshakeComplete {
		t.Error("conn over TLS does not show a completed TLS handshake")
	}
	if host, _, _ := net.SplitHostPort(sc.RemoteAddr().String()); host != "127.0.0.1" {
		t.Errorf("RemoteAddr %v", sc.RemoteAddr())
	}
	if sc.LocalAddr().String() != ln.Addr().String() {
		t.Errorf("LocalAddr %v, want %v", sc.LocalAddr(), ln.Addr())
	}

	for _, m := range []string{"ab", "", "cde", "f"} {
		ws.WriteMessage(websocket.BinaryMessage, []byte(m))
	}
	buf := make([]byte, 6)
	sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(sc, buf); err != nil || string(buf) != "abcdef" {
		t.Fatalf("read %q, %v", buf, err)
	}

	// A deadline in the past unblocks a waiting Read with a timeout...
	sc.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, err := sc.Read(buf)
		done <- err
	}()
	// Most likely the Read is blocked by now; if not, it meets the
	// deadline at once, which is just as right.
	time.Sleep(50 * time.Millisecond)
	sc.SetReadDeadline(time.Now())
	select {
	case err := <-done:
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Fatalf("Read after the deadline: %v, want a timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read still blocked after its deadline")
	}
	// ...and the connection still carries a Write, as one message.
	sc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := sc.Write([]byte{0xE0, 0x00}); err != nil {
		t.Fatalf("Write after a read deadline: %v", err)
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, msg, err := ws.ReadMessage()
	if err != nil || typ != websocket.BinaryMessage || !bytes.Equal(msg, []byte{0xE0, 0x00}) {
		t.Fatalf("client read %d % x, %v", typ, msg, err)
	}
	// Close sends a normal close frame.
	sc.Close()
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("after Close: %v, want close 1000", err)
	}
}

type reloadCounter struct {
	net.Listener
	n int
}

func (r *reloadCounter) Reload() error { r.n++; return nil }

// Reload reaches a reloadable inner listener (a wss listener's TLS).
func TestWebSocketReload(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc := &reloadCounter{Listener: inner}
	ln := listener.NewWebSocketListener(rc, "", listener.WebSocketOptions{})
	defer ln.Close()
	var r listener.Reloader = ln
	if err := r.Reload(); err != nil || rc.n != 1 {
		t.Errorf("Reload: %v after %d inner reloads", err, rc.n)
	}
	inner2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	plain := listener.NewWebSocketListener(inner2, "", listener.WebSocketOptions{})
	defer plain.Close()
	if err := plain.Reload(); err != nil {
		t.Errorf("Reload of a plain listener: %v", err)
	}
}
