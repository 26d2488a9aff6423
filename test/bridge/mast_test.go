package bridge_test

import (
	"fmt"
	"testing"

	"github.com/mastmq/mast/packet"
)

// Two mast brokers in this process, the bridge on "local" connecting to
// "remote", with MQTT 3.1.1 and 5.
func TestMastToMast(t *testing.T) {
	for _, v := range []byte{packet.Version311, packet.Version5} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Parallel()
			remote := startBroker(t, "remote", nil)
			local := startBroker(t, "local", nil)
			exercise(t, local, remote.addr, "mast", v)
		})
	}
}
