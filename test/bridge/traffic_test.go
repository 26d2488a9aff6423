package bridge_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/mastmq/mast/bridge"
	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
)

// The traffic a bridge carries, checked the same way whatever the remote
// broker: mast or Mosquitto.

// bridgeTopics maps a/up/# out to b/up/#, b/down/# in to a/down/#, and
// a/both/# <-> b/both/# both ways, every one at QoS 2 so that messages
// keep their own QoS.
func bridgeTopics() []bridge.Topic {
	return []bridge.Topic{
		{Pattern: "up/#", Direction: bridge.Out, QoS: 2, LocalPrefix: "a/", RemotePrefix: "b/"},
		{Pattern: "down/#", Direction: bridge.In, QoS: 2, LocalPrefix: "a/", RemotePrefix: "b/"},
		{Pattern: "both/#", Direction: bridge.Both, QoS: 2, LocalPrefix: "a/", RemotePrefix: "b/"},
	}
}

// exercise starts a bridge named name on local to the broker at remote,
// speaking MQTT version v, and checks what it carries.
func exercise(t *testing.T, local *testBroker, remote string, name string, v byte) {
	// Retained messages from before the bridge: the local one is sent out
	// when the bridge starts, the remote one comes in when it subscribes.
	lpub := connect(t, local.addr, client.Options{ClientID: "lpub", CleanStart: true})
	rpub := connect(t, remote, client.Options{ClientID: "rpub", CleanStart: true})
	publish(t, lpub, "a/up/pre", "pre-local", 1, true)
	publish(t, rpub, "b/down/pre", "pre-remote", 1, true)

	lsub := subscriber(t, local.addr, "lsub", "a/#")
	rsub := subscriber(t, remote, "rsub", "b/#")

	id := "bridge-" + name
	startBridge(t, local, bridge.Config{
		Name: name, Address: "mqtt://" + remote, ClientID: id, Version: v, CleanSession: true,
		Topics: bridgeTopics(),
	})
	local.console.waitN(t, "Bridge "+name+" connected to mqtt://"+remote+" as "+id, 1)
	local.console.waitN(t, "Bridge "+name+" subscribed remotely to b/down/# (QoS 2), b/both/# (QoS 2)", 1)

	t.Run("retained before start", func(t *testing.T) {
		if m := rsub.waitFor(t, "b/up/pre", "pre-local"); !m[0].Retain {
			t.Errorf("b/up/pre arrived without its retain flag")
		}
		if m := lsub.waitFor(t, "a/down/pre", "pre-remote"); !m[0].Retain {
			t.Errorf("a/down/pre arrived without its retain flag")
		}
		expectRetained(t, remote, "b/up/pre", "pre-local")
		expectRetained(t, local.addr, "a/down/pre", "pre-remote")
	})

	// Five messages at each QoS each way; each direction's topic keeps
	// its order, each message its QoS, and none is doubled.
	const n = 5
	for qos := range byte(3) {
		for i := range n {
			publish(t, lpub, fmt.Sprintf("a/up/q%d", qos), fmt.Sprint(i), qos, false)
			publish(t, rpub, fmt.Sprintf("b/down/q%d", qos), fmt.Sprint(i), qos, false)
		}
	}
	for qos := range byte(3) {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			last := fmt.Sprint(n - 1)
			checkSeq(t, rsub.waitFor(t, fmt.Sprintf("b/up/q%d", qos), last), n, qos)
			checkSeq(t, lsub.waitFor(t, fmt.Sprintf("a/down/q%d", qos), last), n, qos)
		})
	}

	// Both ways on one topic, and no loop: each side's subscriber sees
	// each message once. A message back from the other side is the signal
	// that an echo of the one before would have arrived by then: the
	// remote broker sends the bridge its messages in order, and the
	// bridge's lane of a topic keeps it.
	t.Run("both ways, no loop", func(t *testing.T) {
		for qos := range byte(3) {
			lt, rt := fmt.Sprintf("a/both/q%d", qos), fmt.Sprintf("b/both/q%d", qos)
			publish(t, lpub, lt, "from-local", qos, false)
			rsub.waitFor(t, rt, "from-local")
			publish(t, rpub, rt, "from-remote", qos, false)
			lsub.waitFor(t, lt, "from-remote")
			publish(t, lpub, lt, "end", qos, false)
			rsub.waitFor(t, rt, "end")
			lsub.waitFor(t, lt, "end")
			want := "[from-local(q%d,r0) from-remote(q%d,r0) end(q%d,r0)]"
			if got := payloads(lsub.on(lt)); got != fmt.Sprintf(want, qos, qos, qos) {
				t.Errorf("local subscriber on %s got %s", lt, got)
			}
			if got := payloads(rsub.on(rt)); got != fmt.Sprintf(want, qos, qos, qos) {
				t.Errorf("remote subscriber on %s got %s", rt, got)
			}
		}
	})

	t.Run("live retained", func(t *testing.T) {
		publish(t, lpub, "a/up/ret", "r-out", 1, true)
		if m := rsub.waitFor(t, "b/up/ret", "r-out"); !m[0].Retain {
			t.Errorf("b/up/ret arrived without its retain flag")
		}
		expectRetained(t, remote, "b/up/ret", "r-out")
		if v < packet.Version5 {
			return // a 3.1.1 broker clears the flag of live messages
		}
		publish(t, rpub, "b/down/ret", "r-in", 1, true)
		if m := lsub.waitFor(t, "a/down/ret", "r-in"); !m[0].Retain {
			t.Errorf("a/down/ret arrived without its retain flag")
		}
		expectRetained(t, local.addr, "a/down/ret", "r-in")
	})

	t.Run("state notification", func(t *testing.T) {
		expectRetained(t, local.addr, "$SYS/broker/connection/"+id+"/state", "1")
	})
}

// checkSeq checks that ms are the payloads 0..n-1 in order at QoS qos.
func checkSeq(t *testing.T, ms []*client.Message, n int, qos byte) {
	t.Helper()
	ok := len(ms) == n
	for i := 0; ok && i < n; i++ {
		ok = string(ms[i].Payload) == fmt.Sprint(i) && ms[i].QoS == qos
	}
	if !ok {
		t.Errorf("got %s, want 0..%d in order at QoS %d, once each", payloads(ms), n-1, qos)
	}
}

// expectRetained checks that a new subscriber to topic gets payload,
// flagged retained.
func expectRetained(t *testing.T, addr, topic, payload string) {
	t.Helper()
	rec := newRecorder()
	c := connect(t, addr, client.Options{ClientID: "ret-check", CleanStart: true})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := c.Subscribe(ctx, rec.handle, packet.Subscription{Filter: topic, QoS: 1}); err != nil {
		t.Fatal(err)
	}
	ms := rec.waitFor(t, topic, payload)
	if !ms[len(ms)-1].Retain {
		t.Errorf("%s: %q not flagged retained", topic, payload)
	}
	c.Disconnect(ctx)
}
