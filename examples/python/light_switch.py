#!/usr/bin/env python3
"""Turn the main light off: publish "off" to house/main-light.

It waits until the broker has accepted the connection (the connected flag
set by on_connect) before publishing, as a script must: publishing before
the CONNACK arrives races the connection.

    python3 light_switch.py [HOST [PORT]]

HOST and PORT default to $MQTT_HOST and $MQTT_PORT, then 127.0.0.1:1883.
Works with paho-mqtt 1.6 (Debian's python3-paho-mqtt) and 2.x. Watch it
with: mosquitto_sub -t 'house/#' -v
"""

import os
import sys
import threading

import paho.mqtt.client as mqtt

TOPIC = "house/main-light"


def broker_address():
    host = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MQTT_HOST", "127.0.0.1")
    port = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("MQTT_PORT", "1883")
    return host, int(port)


# paho 2.x has CallbackAPIVersion and calls callbacks with its VERSION2
# arguments; 1.x has neither.
PAHO2 = hasattr(mqtt, "CallbackAPIVersion")


def new_client(client_id):
    """Client(client_id) on paho 1.x; paho 2.x wants the callback API first."""
    if PAHO2:
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id)
    return mqtt.Client(client_id)


def reason_value(rc):
    return rc if isinstance(rc, int) else rc.value


connected_flag = threading.Event()


def on_connect(client, userdata, flags, rc, *rest):
    if reason_value(rc) == 0:
        print("connected OK", flush=True)
        connected_flag.set()
    else:
        print("bad connection, result code", reason_value(rc), flush=True)


def on_disconnect(client, userdata, *rest):
    rc = rest[1] if PAHO2 else rest[0]
    print("disconnected with result code", reason_value(rc), flush=True)


def main():
    host, port = broker_address()
    client = new_client("light-switch")
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect

    print("connecting to broker", host, port, flush=True)
    client.connect(host, port)
    client.loop_start()
    if not connected_flag.wait(10):
        print("no CONNACK within 10 s", file=sys.stderr)
        client.loop_stop()
        return 1

    info = client.publish(TOPIC, "off")
    info.wait_for_publish()
    print("published off to", TOPIC, flush=True)

    client.disconnect()
    client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
