package conformance_test

import (
	"testing"

	"github.com/mastmq/mast/broker"
)

// [MQTT-3.12.4-1] The server answers PINGREQ with PINGRESP, at every
// protocol level.
func TestPing(t *testing.T) {
	t.Parallel()
	addr := startBroker(t, broker.Options{})
	for _, v := range []byte{v31, v311, v5} {
		t.Run(versionName(v), func(t *testing.T) {
			t.Parallel()
			c := connectClean(t, addr, v, "ping"+versionName(v))
			for range 3 {
				c.send([]byte{
					0xC0, // PINGREQ
					0x00, // remaining length 0
				})
				c.expect([]byte{
					0xD0, // PINGRESP
					0x00, // remaining length 0
				}, "PINGRESP")
			}
		})
	}
}
