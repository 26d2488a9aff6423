package bridge_test

import (
	"fmt"
	"testing"

	"github.com/mastmq/mast/packet"
)

// mast bridged to Debian's Mosquitto, with MQTT 3.1.1 and 5.
func TestMastToMosquitto(t *testing.T) {
	for _, v := range []byte{packet.Version311, packet.Version5} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Parallel()
			remote := startMosquitto(t)
			local := startBroker(t, "local", nil)
			exercise(t, local, remote, "mosq", v)
		})
	}
}
