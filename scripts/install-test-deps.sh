#!/usr/bin/env bash
# Installs what the test suite needs from Debian's packages: the Mosquitto
# clients and broker (interop peers), Python paho, Chromium (the browser
# tests in test/web drive it headless) and Node.js with npm (they install
# MQTT.js and playwright-core from the npm registry themselves) and ip
# (iproute2: the cluster partition test). Fails
# loudly if it cannot: no test is ever skipped because a tool is missing.
set -euo pipefail

need=()
command -v mosquitto_pub >/dev/null || need+=(mosquitto-clients)
command -v mosquitto >/dev/null && [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
/usr/bin/python3 -c 'import paho.mqtt.client' 2>/dev/null || need+=(python3-paho-mqtt)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v ip >/dev/null || need+=(iproute2) # test/cluster's partition test builds network namespaces

if [ ${#need[@]} -gt 0 ]; then
	echo "install-test-deps: installing ${need[*]}"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Check, so that a failed install stops here with a clear message.
command -v mosquitto_pub >/dev/null || { echo "install-test-deps: mosquitto_pub missing" >&2; exit 1; }
command -v mosquitto_sub >/dev/null || { echo "install-test-deps: mosquitto_sub missing" >&2; exit 1; }
[ -x /usr/sbin/mosquitto ] || { echo "install-test-deps: mosquitto broker missing" >&2; exit 1; }
/usr/bin/python3 -c 'import paho.mqtt.client' || { echo "install-test-deps: python3-paho-mqtt missing" >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "install-test-deps: /usr/bin/chromium missing" >&2; exit 1; }
command -v node >/dev/null || { echo "install-test-deps: node missing" >&2; exit 1; }
command -v npm >/dev/null || { echo "install-test-deps: npm missing" >&2; exit 1; }
command -v ip >/dev/null || { echo "install-test-deps: ip (iproute2) missing" >&2; exit 1; }
# playwright-core (test/web) needs Node.js 20 or newer.
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
	{ echo "install-test-deps: node $(node --version) is too old: test/web needs Node.js 20 or newer" >&2; exit 1; }
echo "install-test-deps: ok"
