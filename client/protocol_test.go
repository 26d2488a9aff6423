package client_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
)

// Tests against a scripted server: what the client puts on the wire, and
// how it answers what a server may send.

func connack(props packet.Properties) *packet.Connack {
	return &packet.Connack{Properties: props}
}

// connectFake connects a client with opts to a new fake server and returns
// both ends after CONNACK (with props, v5).
func connectFake(t *testing.T, opts client.Options, props packet.Properties) (*client.Client, *fakeServer, *fakeConn) {
	t.Helper()
	f := newFakeServer(t)
	c := newClient(t, f.addr(), opts)
	errc := make(chan error, 1)
	go func() { _, err := c.Connect(ctxT(t)); errc <- err }()
	fc, _ := f.accept()
	fc.send(connack(props))
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return c, f, fc
}

func TestConnectPacket(t *testing.T) {
	f := newFakeServer(t)
	will := &client.Will{Topic: "will/t", Payload: []byte("bye"), QoS: 1, Retain: true}
	will.Properties.WillDelay = 5
	will.Properties.Set(packet.PropWillDelay)
	opts := client.Options{ClientID: "id1", Username: "u", Password: []byte("p"), KeepAlive: 30 * time.Second,
		SessionExpiry: 100, CleanStart: true, Will: will}
	opts.ConnectProperties.ReceiveMaximum = 10
	opts.ConnectProperties.Set(packet.PropReceiveMaximum)
	c := newClient(t, f.addr(), opts)
	go c.Connect(ctxT(t))
	fc, p := f.accept()
	if p.Version != 5 || p.ClientID != "id1" || p.Username != "u" || string(p.Password) != "p" ||
		p.KeepAlive != 30 || !p.CleanStart || !p.WillFlag || p.WillTopic != "will/t" || p.WillQoS != 1 ||
		!p.WillRetain || p.WillProperties.WillDelay != 5 || p.Properties.SessionExpiry != 100 ||
		p.Properties.ReceiveMaximum != 10 {
		t.Errorf("CONNECT %+v", p)
	}
	fc.send(connack(packet.Properties{}))
}

func TestConnectRefused(t *testing.T) {
	for _, v := range []byte{4, 5} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			f := newFakeServer(t)
			c := newClient(t, f.addr(), client.Options{Version: v, ClientID: "x"})
			errc := make(chan error, 1)
			go func() { _, err := c.Connect(ctxT(t)); errc <- err }()
			fc, _ := f.accept()
			code := packet.ConnRefusedNotAuthorized
			if v == 5 {
				code = packet.NotAuthorized
			}
			fc.send(&packet.Connack{ReasonCode: code})
			err := <-errc
			var re *client.ReasonError
			if !errors.As(err, &re) || re.Code != code || re.Packet != packet.CONNACK {
				t.Fatalf("err %v", err)
			}
			t.Log(err)
			if c.IsConnected() {
				t.Error("connected")
			}
		})
	}
}

func TestConnectNoServer(t *testing.T) {
	defer noLeak(t)()
	c, err := client.New(client.Options{Servers: []string{"mqtt://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Connect(ctxT(t)); err == nil {
		t.Fatal("connected to port 1")
	}
	if err := c.Disconnect(ctxT(t)); !errors.Is(err, client.ErrNotConnected) {
		t.Errorf("Disconnect: %v", err)
	}
}

// The client never has more unacknowledged QoS 1/2 messages than the
// server's Receive Maximum [MQTT-3.3.4-7].
func TestReceiveMaximumOutbound(t *testing.T) {
	var props packet.Properties
	props.ReceiveMaximum = 2
	props.Set(packet.PropReceiveMaximum)
	c, _, fc := connectFake(t, client.Options{}, props)
	ctx := ctxT(t)
	errs := make(chan error, 5)
	for i := range 5 {
		go func() {
			errs <- c.Publish(ctx, &client.Message{Topic: "t", Payload: []byte{byte(i)}, QoS: 1})
		}()
	}
	a := expect[*packet.Publish](fc)
	b := expect[*packet.Publish](fc)
	if p, err := fc.readErr(200 * time.Millisecond); err == nil {
		t.Fatalf("third packet %v before an ack", p.Type())
	}
	// One ack frees one slot.
	fc.send(&packet.Ack{Kind: packet.PUBACK, PacketID: a.PacketID})
	third := expect[*packet.Publish](fc)
	if _, err := fc.readErr(200 * time.Millisecond); err == nil {
		t.Fatal("fourth packet with two unacknowledged")
	}
	for _, id := range []uint16{b.PacketID, third.PacketID} {
		fc.send(&packet.Ack{Kind: packet.PUBACK, PacketID: id})
	}
	for range 2 {
		p := expect[*packet.Publish](fc)
		fc.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
	}
	for range 5 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// A v5 failure reason code in PUBACK or PUBREC ends Publish with a
// *ReasonError carrying it.
func TestPublishReasonCode(t *testing.T) {
	c, _, fc := connectFake(t, client.Options{}, packet.Properties{})
	ctx := ctxT(t)
	for _, qos := range []byte{1, 2} {
		errc := make(chan error, 1)
		go func() { errc <- c.Publish(ctx, &client.Message{Topic: "t", QoS: qos}) }()
		p := expect[*packet.Publish](fc)
		kind := packet.PUBACK
		if qos == 2 {
			kind = packet.PUBREC
		}
		ack := &packet.Ack{Kind: kind, PacketID: p.PacketID, ReasonCode: packet.NotAuthorized}
		ack.Properties.ReasonString = "no"
		ack.Properties.Set(packet.PropReasonString)
		fc.send(ack)
		err := <-errc
		var re *client.ReasonError
		if !errors.As(err, &re) || re.Code != packet.NotAuthorized || re.Packet != kind || re.Reason != "no" {
			t.Errorf("QoS %d: %v", qos, err)
		}
	}
	// "No matching subscribers" is a success.
	errc := make(chan error, 1)
	go func() { errc <- c.Publish(ctx, &client.Message{Topic: "t", QoS: 1}) }()
	p := expect[*packet.Publish](fc)
	fc.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID, ReasonCode: packet.NoMatchingSubscribers})
	if err := <-errc; err != nil {
		t.Error(err)
	}
}

// The server's limits from CONNACK: maximum QoS, retain available, maximum
// packet size.
func TestServerLimits(t *testing.T) {
	var props packet.Properties
	props.MaximumQoS = 1
	props.RetainAvailable = 0
	props.MaximumPacketSize = 100
	props.Set(packet.PropMaximumQoS)
	props.Set(packet.PropRetainAvailable)
	props.Set(packet.PropMaximumPacketSize)
	c, _, _ := connectFake(t, client.Options{}, props)
	ctx := ctxT(t)
	if err := c.Publish(ctx, &client.Message{Topic: "t", QoS: 2}); !errors.Is(err, client.ErrNotSupported) {
		t.Errorf("QoS 2: %v", err)
	}
	if err := c.Publish(ctx, &client.Message{Topic: "t", Retain: true}); !errors.Is(err, client.ErrNotSupported) {
		t.Errorf("retain: %v", err)
	}
	if err := c.Publish(ctx, &client.Message{Topic: "t", Payload: make([]byte, 200)}); !errors.Is(err, client.ErrPacketTooLarge) {
		t.Errorf("200 bytes: %v", err)
	}
	if err := c.Publish(ctx, &client.Message{Topic: "t", Payload: make([]byte, 50)}); err != nil {
		t.Errorf("50 bytes: %v", err)
	}
}

// Outbound topic aliases: the first PUBLISH on a topic maps an alias, the
// next ones send only the alias; a resend after reconnecting carries the
// topic again.
func TestTopicAliasOutbound(t *testing.T) {
	var props packet.Properties
	props.TopicAliasMaximum = 1
	props.Set(packet.PropTopicAliasMaximum)
	c, _, fc := connectFake(t, client.Options{TopicAliases: true}, props)
	ctx := ctxT(t)
	for _, tp := range []string{"a/long/topic", "a/long/topic", "other", "a/long/topic"} {
		if err := c.Publish(ctx, &client.Message{Topic: tp}); err != nil {
			t.Fatal(err)
		}
	}
	want := []struct {
		topic string
		alias uint16
	}{{"a/long/topic", 1}, {"", 1}, {"other", 0}, {"", 1}}
	for i, w := range want {
		p := expect[*packet.Publish](fc)
		if p.Topic != w.topic || p.Properties.TopicAlias != w.alias {
			t.Errorf("publish %d: topic %q alias %d, want %q %d", i, p.Topic, p.Properties.TopicAlias, w.topic, w.alias)
		}
	}
}

// Inbound topic aliases within our Topic Alias Maximum are resolved; one
// above it closes the connection with 0x94.
func TestTopicAliasInbound(t *testing.T) {
	rec := newRecorder()
	opts := client.Options{OnMessage: rec.handle}
	opts.ConnectProperties.TopicAliasMaximum = 2
	opts.ConnectProperties.Set(packet.PropTopicAliasMaximum)
	_, _, fc := connectFake(t, opts, packet.Properties{})
	p := &packet.Publish{Topic: "x/y", Payload: []byte("1")}
	p.Properties.TopicAlias = 2
	p.Properties.Set(packet.PropTopicAlias)
	fc.send(p)
	p2 := &packet.Publish{Payload: []byte("2")}
	p2.Properties.TopicAlias = 2
	p2.Properties.Set(packet.PropTopicAlias)
	fc.send(p2)
	got := rec.wait(t, 2)
	for _, m := range got {
		if m.Topic != "x/y" || m.Properties.Has(packet.PropTopicAlias) {
			t.Errorf("message %q on %q, alias %d", m.Payload, m.Topic, m.Properties.TopicAlias)
		}
	}
	p3 := &packet.Publish{Topic: "z", Payload: []byte("3")}
	p3.Properties.TopicAlias = 3
	p3.Properties.Set(packet.PropTopicAlias)
	fc.send(p3)
	d := expect[*packet.Disconnect](fc)
	if d.ReasonCode != packet.TopicAliasInvalid {
		t.Errorf("DISCONNECT 0x%02X", d.ReasonCode)
	}
}

// An inbound QoS 2 message is delivered once even when the server sends it
// again before PUBREL; PUBREC answers each copy, PUBCOMP the PUBREL, and
// the identifier then starts a new message [MQTT-4.3.3-11] [MQTT-4.3.3-13].
func TestInboundQoS2ExactlyOnce(t *testing.T) {
	for _, v := range []byte{4, 5} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			rec := newRecorder()
			_, _, fc := connectFake(t, client.Options{Version: v, ClientID: "x", OnMessage: rec.handle}, packet.Properties{})
			fc.send(&packet.Publish{QoS: 2, PacketID: 7, Topic: "t", Payload: []byte("one")})
			fc.send(&packet.Publish{QoS: 2, PacketID: 7, Dup: true, Topic: "t", Payload: []byte("one")})
			for range 2 {
				if a := expect[*packet.Ack](fc); a.Kind != packet.PUBREC || a.PacketID != 7 {
					t.Fatalf("got %v %d", a.Kind, a.PacketID)
				}
			}
			fc.send(&packet.Ack{Kind: packet.PUBREL, PacketID: 7})
			if a := expect[*packet.Ack](fc); a.Kind != packet.PUBCOMP || a.PacketID != 7 {
				t.Fatalf("got %v %d", a.Kind, a.PacketID)
			}
			fc.send(&packet.Publish{QoS: 2, PacketID: 7, Topic: "t", Payload: []byte("two")})
			expect[*packet.Ack](fc)
			got := rec.wait(t, 2)
			time.Sleep(50 * time.Millisecond)
			if got = rec.all(); len(got) != 2 || string(got[0].Payload) != "one" || string(got[1].Payload) != "two" {
				t.Errorf("delivered %d messages", len(got))
			}
		})
	}
}

// Acknowledgements follow the order the messages arrived in, after their
// handler [MQTT-4.6.0-2] [MQTT-4.6.0-3].
func TestInboundAckOrder(t *testing.T) {
	var mu sync.Mutex
	var handled []uint16
	h := func(_ *client.Client, m *client.Message) {
		time.Sleep(time.Duration(10-m.PacketID) * time.Millisecond) // later ones are quicker
		mu.Lock()
		handled = append(handled, m.PacketID)
		mu.Unlock()
	}
	_, _, fc := connectFake(t, client.Options{OnMessage: h}, packet.Properties{})
	for id := uint16(1); id <= 6; id++ {
		fc.send(&packet.Publish{QoS: 1 + byte(id%2), PacketID: id, Topic: "t"})
	}
	for id := uint16(1); id <= 6; id++ {
		a := expect[*packet.Ack](fc)
		if a.PacketID != id {
			t.Fatalf("ack %d for %d", a.PacketID, id)
		}
		mu.Lock()
		n := len(handled)
		mu.Unlock()
		if n < int(id) {
			t.Fatalf("ack %d before its handler ran", id)
		}
	}
}

// After reconnecting to a session the server kept, unacknowledged PUBLISH
// packets are resent with DUP and their identifiers, and PUBREL for those
// past PUBREC, in the original order, before anything new [MQTT-4.4.0-1]
// [MQTT-4.6.0-1].
func TestResendOnSessionResume(t *testing.T) {
	c, f, fc := connectFake(t, client.Options{ClientID: "r", AutoReconnect: true, MinBackoff: 10 * time.Millisecond}, packet.Properties{})
	ctx := ctxT(t)
	errs := make(chan error, 4)
	publish := func(payload string, qos byte) {
		go func() { errs <- c.Publish(ctx, &client.Message{Topic: "t", Payload: []byte(payload), QoS: qos}) }()
	}
	publish("a", 1)
	a := expect[*packet.Publish](fc)
	publish("b", 2)
	b := expect[*packet.Publish](fc)
	publish("c", 2)
	cc := expect[*packet.Publish](fc)
	fc.send(&packet.Ack{Kind: packet.PUBREC, PacketID: b.PacketID})
	if rel := expect[*packet.Ack](fc); rel.Kind != packet.PUBREL || rel.PacketID != b.PacketID {
		t.Fatalf("got %v", rel.Kind)
	}
	fc.nc.Close() // the connection drops with three messages in flight

	fc2, p := f.accept()
	if p.CleanStart {
		t.Error("reconnect with Clean Start 1")
	}
	fc2.send(&packet.Connack{SessionPresent: true})
	r1 := expect[*packet.Publish](fc2)
	r2 := expect[*packet.Ack](fc2)
	r3 := expect[*packet.Publish](fc2)
	if r1.PacketID != a.PacketID || !r1.Dup || string(r1.Payload) != "a" {
		t.Errorf("first resend: id %d dup %v %q", r1.PacketID, r1.Dup, r1.Payload)
	}
	if r2.Kind != packet.PUBREL || r2.PacketID != b.PacketID {
		t.Errorf("second resend: %v %d", r2.Kind, r2.PacketID)
	}
	if r3.PacketID != cc.PacketID || !r3.Dup || string(r3.Payload) != "c" {
		t.Errorf("third resend: id %d dup %v %q", r3.PacketID, r3.Dup, r3.Payload)
	}
	publish("d", 1)
	d := expect[*packet.Publish](fc2)
	if d.Dup || string(d.Payload) != "d" {
		t.Errorf("new message: dup %v %q", d.Dup, d.Payload)
	}
	fc2.send(&packet.Ack{Kind: packet.PUBACK, PacketID: a.PacketID})
	fc2.send(&packet.Ack{Kind: packet.PUBCOMP, PacketID: b.PacketID})
	fc2.send(&packet.Ack{Kind: packet.PUBREC, PacketID: cc.PacketID})
	expect[*packet.Ack](fc2)
	fc2.send(&packet.Ack{Kind: packet.PUBCOMP, PacketID: cc.PacketID})
	fc2.send(&packet.Ack{Kind: packet.PUBACK, PacketID: d.PacketID})
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// A reconnect that finds no session renews the subscriptions, sends QoS 1
// messages in flight again as new ones and fails QoS 2 ones with
// ErrSessionLost.
func TestReconnectSessionLost(t *testing.T) {
	c, f, fc := connectFake(t, client.Options{ClientID: "r", AutoReconnect: true, MinBackoff: 10 * time.Millisecond}, packet.Properties{})
	ctx := ctxT(t)
	subc := make(chan error, 1)
	go func() {
		var r client.SubscribeRequest
		r.Subscriptions = []packet.Subscription{{Filter: "s/+", QoS: 1, NoLocal: true}}
		r.ID = 42
		_, err := c.SubscribeWith(ctx, &r)
		subc <- err
	}()
	s := expect[*packet.Subscribe](fc)
	fc.send(&packet.Suback{PacketID: s.PacketID, ReasonCodes: []byte{1}})
	if err := <-subc; err != nil {
		t.Fatal(err)
	}
	e1, e2 := make(chan error, 1), make(chan error, 1)
	go func() { e1 <- c.Publish(ctx, &client.Message{Topic: "t", Payload: []byte("q1"), QoS: 1}) }()
	expect[*packet.Publish](fc)
	go func() { e2 <- c.Publish(ctx, &client.Message{Topic: "t", Payload: []byte("q2"), QoS: 2}) }()
	expect[*packet.Publish](fc)
	fc.nc.Close()

	fc2, _ := f.accept()
	fc2.send(&packet.Connack{SessionPresent: false})
	s2 := expect[*packet.Subscribe](fc2)
	if len(s2.Subscriptions) != 1 || s2.Subscriptions[0] != s.Subscriptions[0] ||
		len(s2.Properties.SubscriptionIDs) != 1 || s2.Properties.SubscriptionIDs[0] != 42 {
		t.Errorf("renewed %+v", s2)
	}
	p := expect[*packet.Publish](fc2)
	if p.Dup || string(p.Payload) != "q1" {
		t.Errorf("resent dup %v %q", p.Dup, p.Payload)
	}
	if err := <-e2; !errors.Is(err, client.ErrSessionLost) {
		t.Errorf("QoS 2: %v", err)
	}
	fc2.send(&packet.Suback{PacketID: s2.PacketID, ReasonCodes: []byte{1}})
	fc2.send(&packet.Ack{Kind: packet.PUBACK, PacketID: p.PacketID})
	if err := <-e1; err != nil {
		t.Errorf("QoS 1: %v", err)
	}
}

// Keepalive: PINGREQ after an idle keepalive interval; a missing PINGRESP
// ends the connection with ErrPingTimeout.
func TestKeepalive(t *testing.T) {
	lost := make(chan error, 1)
	var logs lockedBuffer
	opts := client.Options{KeepAlive: time.Second, PingTimeout: 300 * time.Millisecond,
		OnConnectionLost: func(_ *client.Client, err error) { lost <- err },
		Logger:           func(s string) { logs.Write([]byte(s + "\n")) }}
	_, _, fc := connectFake(t, opts, packet.Properties{})
	start := time.Now()
	if _, ok := fc.read().(*packet.Pingreq); !ok {
		t.Fatal("want PINGREQ")
	}
	if d := time.Since(start); d < 800*time.Millisecond {
		t.Errorf("PINGREQ after %v", d)
	}
	fc.send(&packet.Pingresp{})
	if _, ok := fc.read().(*packet.Pingreq); !ok {
		t.Fatal("want a second PINGREQ")
	}
	// No PINGRESP this time.
	select {
	case err := <-lost:
		if !errors.Is(err, client.ErrPingTimeout) {
			t.Errorf("lost: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("connection not declared dead")
	}
	if !strings.Contains(logs.String(), "Sending PINGREQ\nReceived PINGRESP\nSending PINGREQ\n") {
		t.Errorf("logs:\n%s", logs.String())
	}
}

// A v5 DISCONNECT from the server ends the connection with its reason.
func TestServerDisconnect(t *testing.T) {
	lost := make(chan error, 1)
	_, _, fc := connectFake(t, client.Options{OnConnectionLost: func(_ *client.Client, err error) { lost <- err }}, packet.Properties{})
	fc.send(&packet.Disconnect{ReasonCode: packet.SessionTakenOver})
	err := <-lost
	var re *client.ReasonError
	if !errors.As(err, &re) || re.Code != packet.SessionTakenOver || !errors.Is(err, client.ErrConnectionLost) {
		t.Errorf("lost: %v", err)
	}
}

func TestSubscribeRefused(t *testing.T) {
	rec := newRecorder()
	c, _, fc := connectFake(t, client.Options{OnMessage: rec.handle}, packet.Properties{})
	ctx := ctxT(t)
	type result struct {
		sa  *packet.Suback
		err error
	}
	res := make(chan result, 1)
	h := func(*client.Client, *client.Message) { t.Error("handler of a refused filter called") }
	go func() {
		sa, err := c.Subscribe(ctx, h, packet.Subscription{Filter: "ok"}, packet.Subscription{Filter: "no"})
		res <- result{sa, err}
	}()
	s := expect[*packet.Subscribe](fc)
	fc.send(&packet.Suback{PacketID: s.PacketID, ReasonCodes: []byte{0, packet.NotAuthorized}})
	r := <-res
	var re *client.ReasonError
	if !errors.As(r.err, &re) || re.Filter != "no" || re.Code != packet.NotAuthorized || r.sa == nil {
		t.Fatalf("%v %v", r.sa, r.err)
	}
	fc.send(&packet.Publish{Topic: "no", Payload: []byte("x")})
	rec.wait(t, 1)
}

func TestUnsubscribe(t *testing.T) {
	addr := startMast(t, testBrokerOpts())
	ctx := ctxT(t)
	rec, def := newRecorder(), newRecorder()
	c := newClient(t, addr, client.Options{OnMessage: def.handle})
	if _, err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	c.Subscribe(ctx, rec.handle, packet.Subscription{Filter: "u/+"})
	c.Subscribe(ctx, nil, packet.Subscription{Filter: "u/#"})
	c.Publish(ctx, &client.Message{Topic: "u/1", Payload: []byte("1")})
	rec.wait(t, 1)
	if _, err := c.Unsubscribe(ctx, "u/+"); err != nil {
		t.Fatal(err)
	}
	c.Publish(ctx, &client.Message{Topic: "u/2", Payload: []byte("2")})
	got := def.wait(t, 1)
	if string(got[0].Payload) != "2" || len(rec.all()) != 1 {
		t.Errorf("after unsubscribe: default got %q, handler %d", got[0].Payload, len(rec.all()))
	}
}

var _ = bytes.Equal
