package interop_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mastmq/mast/broker"
)

// MQTT 5 with eclipse/paho.golang's paho package against the in-process
// broker.

func TestPahoV5PublishSubscribeQoS(t *testing.T) {
	b := startBroker(t, broker.Options{})
	for _, tc := range []struct {
		pubQoS, subQoS, wantQoS byte
	}{
		{0, 2, 0},
		{1, 2, 1},
		{2, 2, 2},
		// Delivered at the lower of the published and granted QoS
		// [MQTT-3.8.4-8].
		{2, 1, 1},
		{1, 0, 0},
	} {
		t.Run(fmt.Sprintf("pub%d-sub%d", tc.pubQoS, tc.subQoS), func(t *testing.T) {
			topic := fmt.Sprintf("v5/qos/%d/%d", tc.pubQoS, tc.subQoS)
			sub, _ := dialV5(t, b.addr, fmt.Sprintf("v5-sub-%d%d", tc.pubQoS, tc.subQoS), nil)
			sub.sub(topic, tc.subQoS)
			pub, _ := dialV5(t, b.addr, fmt.Sprintf("v5-pub-%d%d", tc.pubQoS, tc.subQoS), nil)
			want := []string{"one", "two", "three"}
			for _, p := range want {
				pub.publish(&paho.Publish{Topic: topic, QoS: tc.pubQoS, Payload: []byte(p)})
			}
			// One connection's messages on one topic arrive in the order
			// they were published [MQTT-4.6.0-6].
			for _, p := range want {
				m := sub.next()
				if m.Topic != topic || string(m.Payload) != p || m.QoS != tc.wantQoS || m.Retain {
					t.Fatalf("received %q %q QoS %d retain %v, want %q %q QoS %d retain false",
						m.Topic, m.Payload, m.QoS, m.Retain, topic, p, tc.wantQoS)
				}
			}
		})
	}
}

func TestPahoV5Retained(t *testing.T) {
	b := startBroker(t, broker.Options{})
	pub, _ := dialV5(t, b.addr, "v5-thermo", nil)
	pub.publish(&paho.Publish{Topic: "v5/house/temp", QoS: 1, Retain: true, Payload: []byte("21.5")})

	// A new subscription gets the retained message at once, flagged
	// retained [MQTT-3.3.1-9].
	late, _ := dialV5(t, b.addr, "v5-late", nil)
	late.sub("v5/house/+", 1)
	m := late.next()
	if m.Topic != "v5/house/temp" || string(m.Payload) != "21.5" || !m.Retain || m.QoS != 1 {
		t.Fatalf("on subscribe got %q %q retain %v QoS %d, want v5/house/temp 21.5 retain true QoS 1", m.Topic, m.Payload, m.Retain, m.QoS)
	}
	// A message published while subscribed is forwarded with RETAIN 0
	// (Retain As Published not set) [MQTT-3.3.1-12].
	pub.publish(&paho.Publish{Topic: "v5/house/temp", QoS: 1, Retain: true, Payload: []byte("22.0")})
	if m := late.next(); string(m.Payload) != "22.0" || m.Retain {
		t.Fatalf("live message %q retain %v, want 22.0 retain false", m.Payload, m.Retain)
	}

	// An empty retained message clears it [MQTT-3.3.1-6]: the next
	// subscriber's first message is the live one published after.
	pub.publish(&paho.Publish{Topic: "v5/house/temp", QoS: 1, Retain: true})
	if m := late.next(); len(m.Payload) != 0 {
		t.Fatalf("clearing message payload %q, want empty", m.Payload)
	}
	later, _ := dialV5(t, b.addr, "v5-later", nil)
	later.sub("v5/house/+", 1)
	pub.publish(&paho.Publish{Topic: "v5/house/temp", QoS: 1, Payload: []byte("live")})
	if m := later.next(); string(m.Payload) != "live" || m.Retain {
		t.Fatalf("after clearing, first message %q retain %v, want live retain false", m.Payload, m.Retain)
	}
	if got := b.srv.Stats().Retained; got != 0 {
		t.Errorf("Stats().Retained = %d after clearing, want 0", got)
	}
}

func TestPahoV5WillOnAbruptClose(t *testing.T) {
	b := startBroker(t, broker.Options{})
	watcher, _ := dialV5(t, b.addr, "v5-watcher", nil)
	watcher.sub("v5/status/#", 1)

	will := func(id string) func(*paho.Connect) {
		return func(c *paho.Connect) {
			c.WillMessage = &paho.WillMessage{Topic: "v5/status/" + id, QoS: 1, Payload: []byte(id + " gone")}
			// paho.golang v0.23 encodes only the CONNECT-level will
			// properties (user properties, will delay); a content type
			// set here would never reach the wire.
			c.WillProperties = &paho.WillProperties{
				User: paho.UserProperties{{Key: "cause", Value: "no DISCONNECT"}},
			}
		}
	}

	// A client that says goodbye with DISCONNECT 0x00 has its will
	// deleted [MQTT-3.1.2-10]: once the broker logs the disconnection, the
	// next message the watcher sees is a later one.
	polite, _ := dialV5(t, b.addr, "polite", will("polite"))
	polite.Disconnect(&paho.Disconnect{ReasonCode: 0})
	b.console.waitFor(t, "Client polite disconnected.")

	// A client whose connection just drops has its will published
	// [MQTT-3.1.2-8], with its user properties [MQTT-3.3.2-17].
	dying, _ := dialV5(t, b.addr, "dying", will("dying"))
	dying.conn.Close()
	m := watcher.next()
	if m.Topic != "v5/status/dying" || string(m.Payload) != "dying gone" {
		t.Fatalf("watcher got %q %q, want the will of dying (and none from polite)", m.Topic, m.Payload)
	}
	if m.Properties == nil || !slices.Equal(m.Properties.User, paho.UserProperties{{Key: "cause", Value: "no DISCONNECT"}}) {
		t.Errorf("will properties %+v, want user property cause=no DISCONNECT", m.Properties)
	}
	b.console.waitFor(t, "Sending will message of dying to 'v5/status/dying'.")
}

func TestPahoV5SessionResume(t *testing.T) {
	b := startBroker(t, broker.Options{})
	expiry := uint32(300)
	persistent := func(clean bool) func(*paho.Connect) {
		return func(c *paho.Connect) {
			c.CleanStart = clean
			c.Properties = &paho.ConnectProperties{SessionExpiryInterval: &expiry}
		}
	}
	worker, ca := dialV5(t, b.addr, "v5-worker", persistent(true))
	if ca.SessionPresent {
		t.Fatal("CONNACK session present on a clean start, want false [MQTT-3.2.2-2]")
	}
	worker.sub("v5/jobs", 1)
	worker.Disconnect(&paho.Disconnect{ReasonCode: 0})
	b.console.waitFor(t, "Client v5-worker disconnected.")

	// The session outlives the connection [MQTT-3.1.2-23] and queues QoS 1
	// messages while it is away.
	boss, _ := dialV5(t, b.addr, "v5-boss", nil)
	jobs := []string{"job 1", "job 2", "job 3"}
	for _, j := range jobs {
		boss.publish(&paho.Publish{Topic: "v5/jobs", QoS: 1, Payload: []byte(j)})
	}

	worker, ca = dialV5(t, b.addr, "v5-worker", persistent(false))
	if !ca.SessionPresent {
		t.Fatal("CONNACK session present false on resuming, want true [MQTT-3.2.2-3]")
	}
	for _, j := range jobs {
		m := worker.next()
		if m.Topic != "v5/jobs" || string(m.Payload) != j || m.QoS != 1 {
			t.Fatalf("resumed session got %q %q QoS %d, want v5/jobs %q QoS 1", m.Topic, m.Payload, m.QoS, j)
		}
	}
	// The subscription survived too: a new message reaches it live.
	boss.publish(&paho.Publish{Topic: "v5/jobs", QoS: 1, Payload: []byte("job 4")})
	if m := worker.next(); string(m.Payload) != "job 4" {
		t.Fatalf("live message after resume %q, want job 4", m.Payload)
	}
}

func TestPahoV5PropertiesPassThrough(t *testing.T) {
	b := startBroker(t, broker.Options{})
	sub0, _ := dialV5(t, b.addr, "v5-props-sub0", nil)
	sub0.sub("v5/rpc/request", 0)
	sub1, _ := dialV5(t, b.addr, "v5-props-sub1", nil)
	sub1.sub("v5/rpc/+", 1)

	utf8 := byte(1)
	sent := &paho.PublishProperties{
		PayloadFormat:   &utf8,
		ContentType:     "application/json; charset=utf-8",
		ResponseTopic:   "v5/rpc/reply/42",
		CorrelationData: []byte{0x00, 0xff, 0x10, 'i', 'd'},
		// Repeated keys and their order are part of the message.
		User: paho.UserProperties{
			{Key: "trace", Value: "a"},
			{Key: "unit", Value: "°C"},
			{Key: "trace", Value: "b"},
			{Key: "", Value: ""},
		},
	}
	req, _ := dialV5(t, b.addr, "v5-props-pub", nil)
	req.publish(&paho.Publish{Topic: "v5/rpc/request", QoS: 1, Payload: []byte(`{"get":"temp"}`), Properties: sent})

	for _, s := range []*v5Peer{sub0, sub1} {
		m := s.next()
		if string(m.Payload) != `{"get":"temp"}` {
			t.Fatalf("payload %q", m.Payload)
		}
		got := m.Properties
		if got == nil {
			t.Fatal("received no properties")
		}
		if got.PayloadFormat == nil || *got.PayloadFormat != 1 {
			t.Errorf("payload format indicator %v, want 1 [MQTT-3.3.2-4]", got.PayloadFormat)
		}
		if got.ContentType != sent.ContentType {
			t.Errorf("content type %q, want %q [MQTT-3.3.2-20]", got.ContentType, sent.ContentType)
		}
		if got.ResponseTopic != sent.ResponseTopic {
			t.Errorf("response topic %q, want %q [MQTT-3.3.2-15]", got.ResponseTopic, sent.ResponseTopic)
		}
		if !bytes.Equal(got.CorrelationData, sent.CorrelationData) {
			t.Errorf("correlation data %x, want %x [MQTT-3.3.2-16]", got.CorrelationData, sent.CorrelationData)
		}
		if !slices.Equal(got.User, sent.User) {
			t.Errorf("user properties %q, want %q in order [MQTT-3.3.2-17] [MQTT-3.3.2-18]", got.User, sent.User)
		}
		if got.TopicAlias != nil || got.SubscriptionIdentifier != nil || got.MessageExpiry != nil {
			t.Errorf("unexpected alias %v, subscription id %v or expiry %v", got.TopicAlias, got.SubscriptionIdentifier, got.MessageExpiry)
		}
	}
}

func TestPahoV5SubscriptionIdentifiers(t *testing.T) {
	b := startBroker(t, broker.Options{})
	c, ca := dialV5(t, b.addr, "v5-subid", nil)
	if ca.Properties != nil && !ca.Properties.SubIDAvailable {
		t.Fatal("CONNACK says subscription identifiers are not available")
	}
	id := func(n int) *paho.SubscribeProperties { return &paho.SubscribeProperties{SubscriptionIdentifier: &n} }
	c.subscribe(&paho.Subscribe{Properties: id(7), Subscriptions: []paho.SubscribeOptions{{Topic: "v5/sid/lights/+", QoS: 1}}})
	c.subscribe(&paho.Subscribe{Properties: id(268435455), Subscriptions: []paho.SubscribeOptions{{Topic: "v5/sid/doors/#", QoS: 1}}})
	c.sub("v5/sid/plain", 1)

	pub, _ := dialV5(t, b.addr, "v5-subid-pub", nil)
	for _, tc := range []struct {
		topic string
		want  int // 0: none
	}{
		{"v5/sid/lights/kitchen", 7},
		{"v5/sid/doors/front/lock", 268435455},
		{"v5/sid/plain", 0},
	} {
		pub.publish(&paho.Publish{Topic: tc.topic, QoS: 1, Payload: []byte("x")})
		m := c.next()
		if m.Topic != tc.topic {
			t.Fatalf("got %q, want %q", m.Topic, tc.topic)
		}
		var got int
		if m.Properties != nil && m.Properties.SubscriptionIdentifier != nil {
			got = *m.Properties.SubscriptionIdentifier
		}
		// The PUBLISH carries the identifier of the subscription it
		// matched [MQTT-3.3.4-3], and none when that had none.
		if got != tc.want {
			t.Errorf("%s: subscription identifier %d, want %d", tc.topic, got, tc.want)
		}
	}
}

func TestPahoV5NoLocal(t *testing.T) {
	b := startBroker(t, broker.Options{})
	chat, _ := dialV5(t, b.addr, "v5-chatter", nil)
	chat.subscribe(&paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "v5/chat/room", QoS: 1, NoLocal: true},
		{Topic: "v5/chat/echo", QoS: 1},
	}})
	other, _ := dialV5(t, b.addr, "v5-listener", nil)
	other.sub("v5/chat/room", 1)

	chat.publish(&paho.Publish{Topic: "v5/chat/room", QoS: 1, Payload: []byte("hello room")})
	chat.publish(&paho.Publish{Topic: "v5/chat/echo", QoS: 1, Payload: []byte("echo")})

	if m := other.next(); string(m.Payload) != "hello room" {
		t.Fatalf("other subscriber got %q, want hello room", m.Payload)
	}
	// No Local: the publisher's own message is not sent back to it
	// [MQTT-3.8.3-3]; the message on its other subscription is.
	if m := chat.next(); m.Topic != "v5/chat/echo" {
		t.Fatalf("publisher got %q %q back first, want only v5/chat/echo", m.Topic, m.Payload)
	}
}

func TestPahoV5SharedSubscription(t *testing.T) {
	b := startBroker(t, broker.Options{})
	const n = 40
	workers := make([]*v5Peer, 2)
	for i := range workers {
		workers[i], _ = dialV5(t, b.addr, fmt.Sprintf("v5-shared-%d", i), nil)
		workers[i].sub("$share/g/v5/tasks", 1)
	}
	// An ordinary subscriber on the same topic still gets everything.
	all, _ := dialV5(t, b.addr, "v5-shared-all", nil)
	all.sub("v5/tasks", 1)

	pub, _ := dialV5(t, b.addr, "v5-shared-pub", nil)
	for i := range n {
		pub.publish(&paho.Publish{Topic: "v5/tasks", QoS: 1, Payload: fmt.Appendf(nil, "task %d", i)})
	}
	for i := range n {
		if m := all.next(); string(m.Payload) != fmt.Sprintf("task %d", i) {
			t.Fatalf("non-shared subscriber got %q, want task %d", m.Payload, i)
		}
	}
	// Each message goes to exactly one member of the group (MQTT 5
	// §4.8.2), and with two members connected both get some.
	seen := map[string]int{}
	counts := make([]int, len(workers))
	for len(seen) < n {
		select {
		case m := <-workers[0].msgs:
			seen[string(m.Payload)]++
			counts[0]++
		case m := <-workers[1].msgs:
			seen[string(m.Payload)]++
			counts[1]++
		case <-time.After(waitTimeout):
			t.Fatalf("group received %d distinct messages, want %d (per member %v)", len(seen), n, counts)
		}
	}
	// Anything delivered twice would have been received by now: the
	// non-shared subscriber got all n, and each member's messages arrive
	// in the order routed. Send a marker through each member to flush.
	for i := range workers {
		workers[i].sub("v5/flush/"+fmt.Sprint(i), 1)
		pub.publish(&paho.Publish{Topic: "v5/flush/" + fmt.Sprint(i), QoS: 1, Payload: []byte("flush")})
		for {
			m := workers[i].next()
			if m.Topic == "v5/flush/"+fmt.Sprint(i) {
				break
			}
			seen[string(m.Payload)]++
			counts[i]++
		}
	}
	for p, c := range seen {
		if c != 1 {
			t.Errorf("%q delivered %d times to the group, want once", p, c)
		}
	}
	if counts[0] == 0 || counts[1] == 0 {
		t.Errorf("messages per group member %v: want both members used", counts)
	}
}

func TestPahoV5TopicAliasFromClient(t *testing.T) {
	b := startBroker(t, broker.Options{})
	_, ca := dialV5(t, b.addr, "v5-alias-probe", nil)
	if ca.Properties == nil || ca.Properties.TopicAliasMaximum == nil || *ca.Properties.TopicAliasMaximum == 0 {
		t.Fatal("CONNACK offers no Topic Alias Maximum")
	}
	sub, _ := dialV5(t, b.addr, "v5-alias-sub", nil)
	sub.sub("v5/alias/#", 1)
	pub, _ := dialV5(t, b.addr, "v5-alias-pub", nil)
	alias := func(a uint16) *paho.PublishProperties { return &paho.PublishProperties{TopicAlias: &a} }

	long := "v5/alias/a/rather/long/topic/name/worth/aliasing"
	// Topic and alias set the mapping; an empty topic then uses it, and a
	// new topic with the same alias replaces it (MQTT 5 §3.3.2.3.4).
	pub.publish(&paho.Publish{Topic: long, QoS: 1, Payload: []byte("1"), Properties: alias(1)})
	pub.publish(&paho.Publish{QoS: 1, Payload: []byte("2"), Properties: alias(1)})
	pub.publish(&paho.Publish{QoS: 0, Payload: []byte("3"), Properties: alias(1)})
	pub.publish(&paho.Publish{Topic: "v5/alias/other", QoS: 1, Payload: []byte("4"), Properties: alias(1)})
	pub.publish(&paho.Publish{QoS: 1, Payload: []byte("5"), Properties: alias(1)})

	want := []struct{ topic, payload string }{
		{long, "1"}, {long, "2"}, {long, "3"}, {"v5/alias/other", "4"}, {"v5/alias/other", "5"},
	}
	for _, w := range want {
		m := sub.next()
		// The subscriber asked for no aliases (Topic Alias Maximum 0), so
		// it gets the full topic name [MQTT-3.3.2-11].
		if m.Topic != w.topic || string(m.Payload) != w.payload {
			t.Fatalf("got %q %q, want %q %q", m.Topic, m.Payload, w.topic, w.payload)
		}
		if m.Properties != nil && m.Properties.TopicAlias != nil {
			t.Fatalf("message carries topic alias %d to a client that allowed none", *m.Properties.TopicAlias)
		}
	}
}

func TestPahoV5SessionTakeover(t *testing.T) {
	b := startBroker(t, broker.Options{})
	first, _ := dialV5(t, b.addr, "v5-phone", nil)
	second, _ := dialV5(t, b.addr, "v5-phone", nil)
	// The first connection is told 0x8E Session taken over and closed
	// [MQTT-3.1.4-3].
	if d := first.serverDisconnect(); d.ReasonCode != 0x8E {
		t.Errorf("first connection got DISCONNECT reason 0x%02X, want 0x8E (Session taken over)", d.ReasonCode)
	}
	// The new one works.
	second.sub("v5/phone", 1)
	second.publish(&paho.Publish{Topic: "v5/phone", QoS: 1, Payload: []byte("still here")})
	if m := second.next(); string(m.Payload) != "still here" {
		t.Fatalf("new connection got %q, want still here", m.Payload)
	}
}

func TestPahoV5SessionExpiry(t *testing.T) {
	b := startBroker(t, broker.Options{})
	one := uint32(1)
	brief := func(clean bool) func(*paho.Connect) {
		return func(c *paho.Connect) {
			c.CleanStart = clean
			c.Properties = &paho.ConnectProperties{SessionExpiryInterval: &one}
		}
	}
	c, _ := dialV5(t, b.addr, "v5-brief", brief(true))
	c.sub("v5/brief", 1)
	c.Disconnect(&paho.Disconnect{ReasonCode: 0})
	// One second after the disconnection the session is gone
	// [MQTT-3.1.2-23], and the console says so as mosquitto does.
	b.console.waitFor(t, "Expiring client v5-brief due to timeout.")
	_, ca := dialV5(t, b.addr, "v5-brief", brief(false))
	if ca.SessionPresent {
		t.Error("CONNACK session present after the session expired, want 0 [MQTT-3.2.2-3]")
	}
}

func TestPahoV5LargePayload(t *testing.T) {
	b := startBroker(t, broker.Options{})
	sub, _ := dialV5(t, b.addr, "v5-big-sub", nil)
	sub.sub("v5/big", 2)
	pub, _ := dialV5(t, b.addr, "v5-big-pub", nil)
	payload := make([]byte, 512<<10)
	for i := range payload {
		payload[i] = byte(i*7 + i>>9)
	}
	for qos := range byte(3) {
		pub.publish(&paho.Publish{Topic: "v5/big", QoS: qos, Payload: payload})
		m := sub.next()
		if m.QoS != qos || !bytes.Equal(m.Payload, payload) {
			t.Fatalf("QoS %d: received %d bytes at QoS %d, want the %d bytes sent", qos, len(m.Payload), m.QoS, len(payload))
		}
	}
	b.console.waitFor(t, "Sending PUBLISH to v5-big-sub (d0, q2, r0, m")
	if !b.console.has("'v5/big', ... (524288 bytes))") {
		t.Error("console does not give the payload size")
	}
}

// mosquitto -v names the topic an aliased PUBLISH resolves to, and so must
// mast's console: a person reading it sees which topic the message went
// to, not the alias number.
func TestConsoleNamesTopicOfAliasedPublish(t *testing.T) {
	b := startBroker(t, broker.Options{})
	pub, _ := dialV5(t, b.addr, "v5-alias-log", nil)
	alias := uint16(1)
	props := &paho.PublishProperties{TopicAlias: &alias}
	pub.publish(&paho.Publish{Topic: "v5/alias/log", QoS: 1, Payload: []byte("1"), Properties: props})
	pub.publish(&paho.Publish{QoS: 1, Payload: []byte("2"), Properties: props})
	for n := 1; n <= 2; n++ {
		line := b.console.waitN(t, "Received PUBLISH from v5-alias-log (", n)
		if !strings.Contains(line, ", 'v5/alias/log', ... (1 bytes))") {
			t.Errorf("console line %q, want the topic 'v5/alias/log' as mosquitto -v prints it", line)
		}
	}
}
