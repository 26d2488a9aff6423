package bridge_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/mastmq/mast/bridge"
	"github.com/mastmq/mast/client"
	"github.com/mastmq/mast/packet"
	"github.com/mastmq/mast/store/memory"
)

// The remote broker goes away and comes back with its state (a store):
// the bridge reconnects by itself, resumes its persistent session, and
// what was published on either side meanwhile at QoS 1 arrives, in order.
func TestReconnect(t *testing.T) {
	for _, v := range []byte{packet.Version311, packet.Version5} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Parallel()
			remote := startBroker(t, "remote", memory.New())
			local := startBroker(t, "local", nil)

			// A persistent subscriber on the remote broker, which gets
			// what reached the broker while it was away.
			rsub := newRecorder()
			rc := connect(t, remote.addr, client.Options{ClientID: "rsub", Version: packet.Version311,
				AutoReconnect: true, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
				OnMessage: rsub.handle})
			subscribe(t, rc, "b/#", 1)
			lsub := subscriber(t, local.addr, "lsub", "a/#")
			lpub := connect(t, local.addr, client.Options{ClientID: "lpub", CleanStart: true})

			startBridge(t, local, bridge.Config{
				Name: "rc", Address: remote.addr, ClientID: "bridge-rc", Version: v,
				ReconnectMin: 100 * time.Millisecond, ReconnectMax: 400 * time.Millisecond,
				Topics: bridgeTopics(),
			})
			local.console.waitN(t, "Bridge rc subscribed remotely to b/down/# (QoS 2), b/both/# (QoS 2)", 1)
			publish(t, lpub, "a/up/before", "x", 1, false)
			rsub.waitFor(t, "b/up/before", "x")

			remote.stop()
			local.console.waitN(t, "Bridge rc disconnected from "+remote.addr, 1)
			local.console.waitN(t, "Connecting bridge rc ("+remote.addr+"), attempt 1", 1)
			const n = 10
			for i := range n {
				publish(t, lpub, "a/up/outage", fmt.Sprint(i), 1, false)
			}
			// The remote broker is back, its sessions restored, but no
			// client can connect yet: what is published now waits in the
			// bridge's session there.
			remote.open()
			for i := range n {
				if err := remote.server().Publish("b/down/outage", []byte(fmt.Sprint(i)), 1, false); err != nil {
					t.Fatal(err)
				}
			}
			if ci, _, ok := remote.server().Client("bridge-rc"); !ok || ci.Connected || ci.Queued != n {
				t.Fatalf("bridge session at the remote broker: %+v (found %v), want offline with %d queued", ci, ok, n)
			}
			remote.listen()
			local.console.waitN(t, "Bridge rc connected to "+remote.addr+" as bridge-rc", 2)
			if line := local.console.waitN(t, "Bridge rc connected to", 2); !contains(line, "session present 1") {
				t.Errorf("reconnected without the session: %s", line)
			}
			checkSeq(t, lsub.waitFor(t, "a/down/outage", fmt.Sprint(n-1)), n, 1)
			checkSeq(t, rsub.waitFor(t, "b/up/outage", fmt.Sprint(n-1)), n, 1)
		})
	}
}
