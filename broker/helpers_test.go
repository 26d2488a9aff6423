package broker_test

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"

	"github.com/mastmq/mast/broker"
	"github.com/mastmq/mast/packet"
)

// startBroker runs a broker on 127.0.0.1 port 0 and stops it when the test
// ends. It returns the address to dial.
func startBroker(t testing.TB, opts broker.Options) (*broker.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.SysInterval == 0 {
		opts.SysInterval = -1
	}
	srv := broker.New(opts)
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv, ln.Addr().String()
}

func newReader(nc net.Conn) *bufio.Reader { return bufio.NewReader(nc) }

func deadline() time.Time { return time.Now().Add(5 * time.Second) }

// rawClient speaks MQTT with bytes the test writes and decodes the
// broker's answers.
type rawClient struct {
	t       testing.TB
	nc      net.Conn
	br      *bufio.Reader
	version byte
}

func dial(t testing.TB, addr string, version byte) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc, br: bufio.NewReader(nc), version: version}
}

func (c *rawClient) send(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *rawClient) sendPacket(p packet.Packet) {
	c.t.Helper()
	b, err := packet.Append(nil, c.version, p)
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(b)
}

// read returns the next packet, failing the test after 5 s.
func (c *rawClient) read() packet.Packet {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := packet.Read(c.br, c.version, 0)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

// expectClosed waits for the broker to close the connection, returning
// any packets (such as a v5 DISCONNECT) it sent first.
func (c *rawClient) expectClosed() []packet.Packet {
	c.t.Helper()
	var got []packet.Packet
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		p, err := packet.Read(c.br, c.version, 0)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatalf("connection not closed; got %v", got)
			}
			return got
		}
		got = append(got, p)
	}
}

// expectNothing checks that no packet arrives within d.
func (c *rawClient) expectNothing(d time.Duration) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(d))
	p, err := packet.Read(c.br, c.version, 0)
	if err == nil {
		c.t.Fatalf("unexpected %T %+v", p, p)
	}
}

func (c *rawClient) connect(cp *packet.Connect) *packet.Connack {
	c.t.Helper()
	cp.Version = c.version
	if cp.ProtocolName == "" {
		cp.ProtocolName = "MQTT"
		if c.version == packet.Version31 {
			cp.ProtocolName = "MQIsdp"
		}
	}
	c.sendPacket(cp)
	ack, ok := c.read().(*packet.Connack)
	if !ok {
		c.t.Fatal("expected CONNACK")
	}
	return ack
}

// connectClient dials and connects with a client id and clean start.
func connectClient(t testing.TB, addr string, version byte, id string, clean bool) *rawClient {
	t.Helper()
	c := dial(t, addr, version)
	ack := c.connect(&packet.Connect{ClientID: id, CleanStart: clean, KeepAlive: 60})
	if ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	return c
}

func (c *rawClient) subscribe(pid uint16, filter string, qos byte) *packet.Suback {
	c.t.Helper()
	c.sendPacket(&packet.Subscribe{PacketID: pid, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}})
	for {
		p := c.read()
		if sa, ok := p.(*packet.Suback); ok {
			if sa.PacketID != pid {
				c.t.Fatalf("SUBACK id %d, want %d", sa.PacketID, pid)
			}
			return sa
		}
	}
}

func (c *rawClient) readPublish() *packet.Publish {
	c.t.Helper()
	p := c.read()
	pub, ok := p.(*packet.Publish)
	if !ok {
		c.t.Fatalf("expected PUBLISH, got %T %+v", p, p)
	}
	return pub
}
