package bridge_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mastmq/mast/bridge"
	"github.com/mastmq/mast/client"
)

// Stopping a bridge ends every goroutine it started, connected or still
// trying to connect, and leaves the local broker serving.
func TestStopLeavesNothing(t *testing.T) {
	remote := startBroker(t, "remote", nil)
	local := startBroker(t, "local", nil)
	up := startBridge(t, local, bridge.Config{Name: "up", Address: remote.addr, Version: 5, Topics: bridgeTopics()})
	down := startBridge(t, local, bridge.Config{Name: "down", Address: "127.0.0.1:1", ReconnectMin: time.Hour, Topics: bridgeTopics()})
	local.console.waitN(t, "Bridge up subscribed remotely to b/down/# (QoS 2), b/both/# (QoS 2)", 1)
	local.console.waitN(t, "Bridge down could not connect to 127.0.0.1:1", 1)

	// Traffic on the way out when the bridges stop, published by the
	// broker itself so that no test client's goroutines are about.
	for range 20 {
		if err := local.server().Publish("a/up/x", []byte("x"), 1, false); err != nil {
			t.Fatal(err)
		}
	}
	up()
	down()
	local.console.waitN(t, "Bridge up stopped.", 1)
	local.console.waitN(t, "Bridge down stopped.", 1)

	// stop has waited for every goroutine; one may still be returning.
	var left []string
	for deadline := time.Now().Add(waitTimeout); ; time.Sleep(10 * time.Millisecond) {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		left = left[:0]
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "mast/bridge.") || strings.Contains(g, "broker.(*Internal)") ||
				strings.Contains(g, "mast/client.") || strings.Contains(g, "net.(*pipe)") {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, g := range left {
		t.Errorf("goroutine left running:\n%s", g)
	}
	if cs := local.server().Clients(); len(cs) != 0 {
		t.Errorf("local broker's clients after stop: %+v", cs)
	}
	if n := local.server().Stats().Subscriptions; n != 0 {
		t.Errorf("local broker has %d subscriptions after stop, want 0", n)
	}
	// The local broker keeps serving.
	lpub := connect(t, local.addr, client.Options{ClientID: "lpub", CleanStart: true})
	lsub := subscriber(t, local.addr, "lsub", "a/#")
	publish(t, lpub, "a/after", "y", 1, false)
	lsub.waitFor(t, "a/after", "y")
}
