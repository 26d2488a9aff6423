package interop_test

import (
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Ctrl-C on "mast serve": every MQTT 5 client is told DISCONNECT 0x8B
// (Server shutting down, MQTT 5 §3.14.2.1), 3.1.1 clients, which have no
// server DISCONNECT, see their connection close, and the process exits 0.
func TestSIGINTShutsDownGracefully(t *testing.T) {
	m := startMast(t)
	v5, _ := dialV5(t, m.addr, "v5-at-shutdown", nil)
	lost := make(chan error, 1)
	dialV3(t, m.addr, "v311-at-shutdown", 4, func(o *mqtt.ClientOptions) {
		o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err })
	})
	m.console.waitFor(t, "Sending CONNACK to v311-at-shutdown (0, 0)")

	if err := m.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if d := v5.serverDisconnect(); d.ReasonCode != 0x8B {
		t.Errorf("v5 client got DISCONNECT reason 0x%02X, want 0x8B (Server shutting down)", d.ReasonCode)
	}
	select {
	case <-lost:
	case <-time.After(waitTimeout):
		t.Error("3.1.1 client's connection still open after SIGINT")
	}
	if code := m.wait(t); code != 0 {
		t.Errorf("mast exited with status %d after SIGINT, want 0", code)
	}
	consoleInOrder(t, m.console,
		`^\d+: mast received signal interrupt, shutting down$`,
		`^\d+: Sending DISCONNECT to v5-at-shutdown \(rc139\)$`,
		`^\d+: mast .* terminating$`,
	)
}
