//go:build linux

package broker

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/mastmq/mast/packet"
)

// parkServer runs a server whose connections park after idle with nothing
// to read.
func parkServer(t *testing.T, idle time.Duration) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{SysInterval: -1, NoConnectionMessages: true})
	s.park.idle = idle
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s, ln.Addr().String()
}

type parkClient struct {
	t       *testing.T
	nc      net.Conn
	br      *bufio.Reader
	version byte
}

// parkDial connects with cp and checks the CONNACK.
func parkDial(t *testing.T, addr string, cp *packet.Connect) *parkClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if cp.ProtocolName == "" {
		cp.ProtocolName = "MQTT"
	}
	if cp.Version == 0 {
		cp.Version = packet.Version311
	}
	cp.CleanStart = true
	c := &parkClient{t: t, nc: nc, br: bufio.NewReader(nc), version: cp.Version}
	c.send(cp)
	if ack, ok := c.next().(*packet.Connack); !ok || ack.ReasonCode != 0 {
		t.Fatalf("%s: got %v, want CONNACK 0", cp.ClientID, ack)
	}
	return c
}

func (c *parkClient) send(p packet.Packet) {
	c.t.Helper()
	b, err := packet.Append(nil, c.version, p)
	if err != nil {
		c.t.Fatal(err)
	}
	c.write(b)
}

func (c *parkClient) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the next packet from the broker, failing after 5 s.
func (c *parkClient) next() packet.Packet {
	c.t.Helper()
	p, err := c.read()
	if err != nil {
		c.t.Fatalf("reading from the broker: %v", err)
	}
	return p
}

func (c *parkClient) read() (packet.Packet, error) {
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	return packet.Read(c.br, c.version, 0)
}

func (c *parkClient) subscribe(filter string) {
	c.t.Helper()
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter}}})
	if _, ok := c.next().(*packet.Suback); !ok {
		c.t.Fatal("no SUBACK")
	}
}

func (c *parkClient) ping() {
	c.t.Helper()
	c.send(&packet.Pingreq{})
	if p := c.next(); p.Type() != packet.PINGRESP {
		c.t.Fatalf("got %v, want PINGRESP", p.Type())
	}
}

// expectEnd reads a v5 DISCONNECT with reason, then the end of the
// connection.
func (c *parkClient) expectEnd(reason byte) {
	c.t.Helper()
	p := c.next()
	if d, ok := p.(*packet.Disconnect); !ok || d.ReasonCode != reason {
		c.t.Fatalf("got %v, want DISCONNECT 0x%02X", p, reason)
	}
	if p, err := c.read(); !errors.Is(err, io.EOF) {
		c.t.Fatalf("got %v, %v after DISCONNECT; want the connection closed", p, err)
	}
}

func (c *parkClient) expectPublish(topic, payload string) {
	c.t.Helper()
	p := c.next()
	if pub, ok := p.(*packet.Publish); !ok || pub.Topic != topic || string(pub.Payload) != payload {
		c.t.Fatalf("got %v, want PUBLISH %s %q", p, topic, payload)
	}
}

// waitFor polls cond until it holds, failing after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func waitParked(t *testing.T, s *Server, n int) {
	t.Helper()
	waitFor(t, strconv.Itoa(n)+" parked connections", func() bool { return s.park.parked() == n })
}

// A parked connection wakes for what its client sends, is written to
// while parked, and parks again; a packet that stalls half-way past the
// park deadline is still read whole.
func TestParkWakesOnData(t *testing.T) {
	s, addr := parkServer(t, 50*time.Millisecond)
	sub := parkDial(t, addr, &packet.Connect{ClientID: "sub", KeepAlive: 60})
	sub.subscribe("t/1")
	waitParked(t, s, 1) // at once after SUBSCRIBE
	pub := parkDial(t, addr, &packet.Connect{ClientID: "pub"})
	waitParked(t, s, 2) // after idle

	pub.send(&packet.Publish{Topic: "t/1", Payload: []byte("hello")})
	sub.expectPublish("t/1", "hello")
	sub.ping()
	waitParked(t, s, 2)

	// A PINGREQ in two halves, the second after the park deadline.
	sub.write([]byte{0xC0})
	time.Sleep(200 * time.Millisecond) // the stall under test
	sub.write([]byte{0x00})
	if p := sub.next(); p.Type() != packet.PINGRESP {
		t.Fatalf("got %v, want PINGRESP", p.Type())
	}
	waitParked(t, s, 2)
	if got := s.Stats().ClientsConnected; got != 2 {
		t.Fatalf("%d clients connected, want 2", got)
	}
}

// The keep-alive clock restarts with each packet, also when packets follow
// each other without the reader ever waiting at a packet boundary: each
// write below ends half-way through a PUBLISH and the next completes it,
// so the reader's deadline, set at the last boundary, passes while the
// client is active.
func TestParkKeepAliveMidStream(t *testing.T) {
	pub := []byte{0x30, 0x0A, 0x00, 0x03, 'a', '/', 'b', 'h', 'e', 'l', 'l', 'o'}
	first, rest := pub[:4], pub[4:]
	ping := []byte{0xC0, 0x00}
	for _, idle := range []time.Duration{50 * time.Millisecond, 10 * time.Second} {
		t.Run(idle.String(), func(t *testing.T) {
			_, addr := parkServer(t, idle)
			c := parkDial(t, addr, &packet.Connect{ClientID: "stream", KeepAlive: 1})
			c.write(first)
			for i := range 4 {
				if i > 0 {
					time.Sleep(600 * time.Millisecond) // within the keep alive of 1 s
				}
				b := append(append(append([]byte(nil), rest...), ping...), first...)
				if i == 3 {
					b = append(append([]byte(nil), rest...), ping...)
				}
				c.write(b)
				if p := c.next(); p.Type() != packet.PINGRESP {
					t.Fatalf("got %v, want PINGRESP", p.Type())
				}
			}
		})
	}
}

// A parked connection whose keep alive runs out is closed with DISCONNECT
// 0x8D and its will is published [MQTT-3.1.2-24].
func TestParkKeepAliveTimeout(t *testing.T) {
	s, addr := parkServer(t, 50*time.Millisecond)
	watcher := parkDial(t, addr, &packet.Connect{ClientID: "watcher"})
	watcher.subscribe("will/#")
	c := parkDial(t, addr, &packet.Connect{Version: packet.Version5, ClientID: "ka", KeepAlive: 1,
		WillFlag: true, WillTopic: "will/ka", WillPayload: []byte("gone")})
	start := time.Now()
	waitParked(t, s, 2)
	c.expectEnd(packet.KeepAliveTimeout)
	if d := time.Since(start); d < time.Second {
		t.Fatalf("closed %v after the last packet, before the keep alive of 1 s", d)
	}
	watcher.expectPublish("will/ka", "gone")
	if got := s.Stats().KeepAliveTimeouts; got != 1 {
		t.Fatalf("%d keep-alive timeouts counted, want 1", got)
	}
	waitParked(t, s, 1)
}

// Kicking a parked connection (administrator, takeover) tells the client
// why and closes it; a client that goes away while parked is cleaned up
// and its will published.
func TestParkKick(t *testing.T) {
	s, addr := parkServer(t, 50*time.Millisecond)
	watcher := parkDial(t, addr, &packet.Connect{ClientID: "watcher"})
	watcher.subscribe("will/#")
	admin := parkDial(t, addr, &packet.Connect{Version: packet.Version5, ClientID: "admin"})
	old := parkDial(t, addr, &packet.Connect{Version: packet.Version5, ClientID: "twice"})
	gone := parkDial(t, addr, &packet.Connect{ClientID: "gone", WillFlag: true, WillTopic: "will/gone", WillPayload: []byte("bye")})
	waitParked(t, s, 4)

	if !s.Disconnect("admin") {
		t.Fatal("Disconnect found no connection")
	}
	admin.expectEnd(0x98)

	parkDial(t, addr, &packet.Connect{Version: packet.Version5, ClientID: "twice"})
	old.expectEnd(packet.SessionTakenOver)

	gone.nc.Close()
	watcher.expectPublish("will/gone", "bye")
	waitFor(t, "the clients to be gone", func() bool { return s.Stats().ClientsConnected == 2 })
}

// Shutdown tells every parked v5 client the server is shutting down and
// stops the poller.
func TestParkShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{SysInterval: -1, NoConnectionMessages: true})
	s.park.idle = 20 * time.Millisecond
	go s.Serve(ln)
	var cs []*parkClient
	for i := range 3 {
		cs = append(cs, parkDial(t, ln.Addr().String(), &packet.Connect{Version: packet.Version5, ClientID: "c" + strconv.Itoa(i), KeepAlive: 60}))
	}
	waitParked(t, s, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		c.expectEnd(packet.ServerShuttingDown)
	}
	if s.park.pollerRuns() {
		t.Fatal("the poller still runs after Shutdown")
	}
}

// Many connections park, wake, park again and end.
func TestParkMany(t *testing.T) {
	s, addr := parkServer(t, 50*time.Millisecond)
	const n = 300
	cs := make([]*parkClient, n)
	for i := range cs {
		cs[i] = parkDial(t, addr, &packet.Connect{ClientID: "m" + strconv.Itoa(i), KeepAlive: 30})
		cs[i].subscribe("m/" + strconv.Itoa(i))
	}
	waitParked(t, s, n)
	pub := parkDial(t, addr, &packet.Connect{ClientID: "pub"})
	for i := range cs {
		pub.send(&packet.Publish{Topic: "m/" + strconv.Itoa(i), Payload: []byte("x")})
	}
	for i, c := range cs {
		c.expectPublish("m/"+strconv.Itoa(i), "x")
		c.send(&packet.Pingreq{})
	}
	for _, c := range cs {
		if p := c.next(); p.Type() != packet.PINGRESP {
			t.Fatalf("got %v, want PINGRESP", p.Type())
		}
	}
	waitParked(t, s, n+1)
	for _, c := range cs {
		c.nc.Close()
	}
	waitFor(t, "the clients to be gone", func() bool { return s.Stats().ClientsConnected == 1 })
	waitParked(t, s, 1)
	// With nothing parked the poller goroutine goes, and comes back.
	pub.nc.Close()
	waitParked(t, s, 0)
	waitFor(t, "the poller to stop", func() bool { return !s.park.pollerRuns() })
	again := parkDial(t, addr, &packet.Connect{ClientID: "again"})
	again.subscribe("again")
	waitParked(t, s, 1)
	if !s.park.pollerRuns() {
		t.Fatal("a connection is parked and no poller runs")
	}
	again.ping()
}

// Only plain TCP connections park.
func TestCanPark(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if canPark(a) {
		t.Fatal("a pipe can park")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if !canPark(nc) {
		t.Fatal("a TCP connection cannot park")
	}
}
