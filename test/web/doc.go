// Package web holds the browser-side interoperability tests of mast's
// WebSocket listener and dashboard: MQTT.js in Node, MQTT.js and the
// dashboard in headless Chromium (Debian's chromium, driven by
// playwright-core), and Python paho with transport="websockets".
//
// The package has no code of its own; everything is in _test.go files and
// testdata/. MQTT.js and playwright-core come from the npm registry and
// are installed by the tests into testdata/node_modules (not committed);
// node, npm, chromium and python3-paho-mqtt come from Debian's packages
// (scripts/install-test-deps.sh). A test whose tool is missing fails; it
// is never skipped. Every server listens on 127.0.0.1 port 0.
//
// Screenshots of the dashboard go to $MAST_TEST_ARTIFACTS when it is set
// (a temporary directory otherwise).
//
// Run with: go test -race ./test/web/
package web
