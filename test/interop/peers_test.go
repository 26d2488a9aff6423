package interop_test

import (
	"context"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// v5Peer is an eclipse/paho.golang client (MQTT 5) whose received
// messages and server DISCONNECTs arrive on channels.
type v5Peer struct {
	*paho.Client
	t           testing.TB
	conn        net.Conn
	msgs        chan *paho.Publish
	disconnects chan *paho.Disconnect
}

// dialV5 connects a paho.golang client with a clean start and keep alive
// 30 s; edit may change the CONNECT before it is sent. The client
// disconnects normally when the test ends unless it is gone already.
func dialV5(t testing.TB, addr, id string, edit func(*paho.Connect)) (*v5Peer, *paho.Connack) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	p := &v5Peer{
		t:           t,
		conn:        nc,
		msgs:        make(chan *paho.Publish, 1024),
		disconnects: make(chan *paho.Disconnect, 1),
	}
	p.Client = paho.NewClient(paho.ClientConfig{
		ClientID: id,
		Conn:     nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				p.msgs <- pr.Packet
				return true, nil
			},
		},
		OnServerDisconnect: func(d *paho.Disconnect) {
			select {
			case p.disconnects <- d:
			default:
			}
		},
		OnClientError: func(error) {},
		PacketTimeout: waitTimeout,
	})
	cp := &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true}
	if edit != nil {
		edit(cp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ca, err := p.Connect(ctx, cp)
	if err != nil {
		nc.Close()
		if ca != nil {
			t.Fatalf("%s: CONNECT refused: reason 0x%02X %q", id, ca.ReasonCode, ca.Properties.ReasonString)
		}
		t.Fatalf("%s: connect: %v", id, err)
	}
	t.Cleanup(func() {
		select {
		case <-p.Done():
		default:
			p.Disconnect(&paho.Disconnect{ReasonCode: 0})
		}
	})
	return p, ca
}

// subscribe sends one SUBSCRIBE and fails unless every filter is granted.
func (p *v5Peer) subscribe(s *paho.Subscribe) *paho.Suback {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	sa, err := p.Subscribe(ctx, s)
	if err != nil {
		p.t.Fatalf("subscribe %+v: %v", s.Subscriptions, err)
	}
	for i, rc := range sa.Reasons {
		if rc >= 0x80 {
			p.t.Fatalf("subscribe %q refused: reason 0x%02X", s.Subscriptions[i].Topic, rc)
		}
	}
	return sa
}

// sub subscribes to one filter at a QoS.
func (p *v5Peer) sub(filter string, qos byte) {
	p.t.Helper()
	p.subscribe(&paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
}

// publish sends a PUBLISH and, for QoS 1 and 2, waits for its
// acknowledgement, failing on an error reason code.
func (p *v5Peer) publish(pb *paho.Publish) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	resp, err := p.Publish(ctx, pb)
	if err != nil {
		p.t.Fatalf("publish to %q: %v", pb.Topic, err)
	}
	if resp != nil && resp.ReasonCode >= 0x80 {
		p.t.Fatalf("publish to %q: reason 0x%02X", pb.Topic, resp.ReasonCode)
	}
}

// next returns the next message received, failing after waitTimeout.
func (p *v5Peer) next() *paho.Publish {
	p.t.Helper()
	select {
	case m := <-p.msgs:
		return m
	case <-time.After(waitTimeout):
		p.t.Fatalf("no message received within %v", waitTimeout)
		return nil
	}
}

// serverDisconnect waits for the DISCONNECT the server sends and returns
// it, failing if the connection ends without one.
func (p *v5Peer) serverDisconnect() *paho.Disconnect {
	p.t.Helper()
	timeout := time.After(waitTimeout)
	select {
	case d := <-p.disconnects:
		return d
	case <-p.Done():
		// paho closes the client before it calls OnServerDisconnect.
		select {
		case d := <-p.disconnects:
			return d
		case <-timeout:
			p.t.Fatal("connection closed without a DISCONNECT from the server")
		}
	case <-timeout:
		p.t.Fatalf("no DISCONNECT from the server within %v", waitTimeout)
	}
	return nil
}

// v3Peer is an eclipse/paho.mqtt.golang client (MQTT 3.1 or 3.1.1) whose
// received messages arrive on a channel.
type v3Peer struct {
	mqtt.Client
	t    testing.TB
	msgs chan mqtt.Message

	mu   sync.Mutex
	conn net.Conn // the socket, kept so a test can drop it abruptly
}

// dialV3 connects a paho.mqtt.golang client speaking protocol level
// version (3 for MQTT 3.1, 4 for 3.1.1) with a clean session and no
// reconnection; edit may change the options. It returns whether the
// server said a session was present.
func dialV3(t testing.TB, addr, id string, version uint, edit func(*mqtt.ClientOptions)) (*v3Peer, bool) {
	t.Helper()
	p := &v3Peer{t: t, msgs: make(chan mqtt.Message, 1024)}
	opts := mqtt.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(id).
		SetProtocolVersion(version).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(waitTimeout).
		SetKeepAlive(30 * time.Second).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { p.msgs <- m }).
		SetCustomOpenConnectionFn(func(uri *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			nc, err := net.DialTimeout("tcp", uri.Host, waitTimeout)
			if err == nil {
				p.mu.Lock()
				p.conn = nc
				p.mu.Unlock()
			}
			return nc, err
		})
	if edit != nil {
		edit(opts)
	}
	p.Client = mqtt.NewClient(opts)
	tok := p.Connect()
	p.await(tok, "connect")
	t.Cleanup(func() {
		if p.IsConnectionOpen() {
			p.Disconnect(250)
		}
	})
	return p, tok.(*mqtt.ConnectToken).SessionPresent()
}

// await waits for a token and fails the test on a time-out or an error.
func (p *v3Peer) await(tok mqtt.Token, what string) {
	p.t.Helper()
	if !tok.WaitTimeout(waitTimeout) {
		p.t.Fatalf("%s: no answer within %v", what, waitTimeout)
	}
	if err := tok.Error(); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// sub subscribes to one filter and checks the granted QoS.
func (p *v3Peer) sub(filter string, qos byte) {
	p.t.Helper()
	tok := p.Subscribe(filter, qos, nil)
	p.await(tok, "subscribe "+filter)
	if got := tok.(*mqtt.SubscribeToken).Result()[filter]; got != qos {
		p.t.Fatalf("subscribe %q: granted %d, want %d", filter, got, qos)
	}
}

// pub publishes and waits for the flow for its QoS to complete.
func (p *v3Peer) pub(topic string, qos byte, retain bool, payload string) {
	p.t.Helper()
	p.await(p.Publish(topic, qos, retain, payload), "publish to "+topic)
}

func (p *v3Peer) next() mqtt.Message {
	p.t.Helper()
	select {
	case m := <-p.msgs:
		return m
	case <-time.After(waitTimeout):
		p.t.Fatalf("no message received within %v", waitTimeout)
		return nil
	}
}

// drop closes the socket under the client, as a crash or a pulled cable
// would: no DISCONNECT is sent.
func (p *v3Peer) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conn.Close()
}
