// Package conformance is a black-box conformance suite for the mast broker.
//
// The tests start a real broker on 127.0.0.1 and speak MQTT to it with
// bytes written by hand, as Mosquitto's test suite does: every packet a
// test sends is a byte slice whose bytes are commented, never the output of
// package packet's encoder, so that an encoder bug cannot hide a broker bug.
// The broker's answers are compared byte for byte where the standard fixes
// them, and decoded with package packet where properties make them vary.
//
// Each test names the normative statements it checks, in the form
// [MQTT-x.y.z-n], for MQTT 3.1.1 (protocol level 4), 3.1 (level 3) where
// it differs, and 5.0. Where a rule has no numbered statement the section
// of the standard is given instead.
//
// The package holds tests only; run them with
//
//	go test -race ./test/conformance/
package conformance
