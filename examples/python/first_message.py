#!/usr/bin/env python3
"""Your first MQTT message through mast, with Python paho.

Subscribes to house/sensor1, publishes "my first message" to it and prints
the message when the broker sends it back.

Start the broker first (go run ./cmd/mast serve -v), then:

    python3 first_message.py [HOST [PORT]]

HOST and PORT default to $MQTT_HOST and $MQTT_PORT, then 127.0.0.1:1883.
Works with paho-mqtt 1.6 (Debian's python3-paho-mqtt) and 2.x.
"""

import os
import sys
import threading

import paho.mqtt.client as mqtt

TOPIC = "house/sensor1"
MESSAGE = "my first message"


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
    """An int from a 1.x return code or a 2.x ReasonCode."""
    return rc if isinstance(rc, int) else rc.value


connected = threading.Event()
received = threading.Event()


# The callbacks take *rest because paho 1.x and 2.x pass different trailing
# arguments: on_connect gets (flags, rc) in 1.x and (flags, reason_code,
# properties) in 2.x; on_disconnect gets (rc) in 1.x and (flags,
# reason_code, properties) in 2.x.
def on_connect(client, userdata, flags, rc, *rest):
    print("connected with result code", reason_value(rc), flush=True)
    if reason_value(rc) == 0:
        connected.set()


def on_message(client, userdata, message):
    print("message received:", message.payload.decode(), flush=True)
    print("message topic:", message.topic, flush=True)
    print("message qos:", message.qos, flush=True)
    print("message retain flag:", message.retain, flush=True)
    received.set()


def on_disconnect(client, userdata, *rest):
    rc = rest[1] if PAHO2 else rest[0]
    print("disconnected with result code", reason_value(rc), flush=True)


def on_log(client, userdata, level, buf):
    print("log:", buf, flush=True)


def main():
    host, port = broker_address()
    client = new_client("python1")
    client.on_connect = on_connect
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    client.on_log = on_log

    print("connecting to broker", host, port, flush=True)
    client.connect(host, port)
    client.loop_start()
    if not connected.wait(10):
        print("no CONNACK within 10 s", file=sys.stderr)
        return 1

    print("subscribing to topic", TOPIC, flush=True)
    client.subscribe(TOPIC)
    print("publishing message to topic", TOPIC, flush=True)
    client.publish(TOPIC, MESSAGE)

    ok = received.wait(10)
    client.loop_stop()
    client.disconnect()
    if not ok:
        print("the message did not come back within 10 s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
