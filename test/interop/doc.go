// Package interop holds black-box interoperability tests: mast, in process
// and as the real binary, driven by the clients people use with it —
// eclipse/paho.golang (MQTT 5), eclipse/paho.mqtt.golang (3.1 and 3.1.1),
// mosquitto_pub and mosquitto_sub (3.1, 3.1.1 and 5), and Python paho
// running the scripts in examples/python.
//
// The package has no code of its own; everything is in _test.go files.
// The external peers come from Debian's packages (scripts/install-test-deps.sh,
// run by "make deps"); a test whose peer is missing fails, it is never
// skipped. Every broker listens on 127.0.0.1 port 0.
//
// Run with: go test -race ./test/interop/
package interop
