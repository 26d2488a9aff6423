"""Python paho over WebSocket: connect, subscribe, publish, receive.

Usage: python3 paho_ws.py HOST PORT PATH TOPIC_PREFIX
Prints "SUBSCRIBED" once subscribed (the Go test then publishes
PREFIX/from-go over TCP) and "RESULT {json}" once it has received its own
message and the Go one.
"""
import json
import sys
import threading

import paho.mqtt.client as mqtt

host, port, path, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
want = {prefix + "/own": "hello from paho", prefix + "/from-go": "hello from go"}
got = {}
done = threading.Event()
failed = []


def on_connect(client, userdata, flags, rc):
    if rc != 0:
        failed.append("CONNACK %d" % rc)
        done.set()
        return
    client.subscribe(prefix + "/#", qos=1)


def on_subscribe(client, userdata, mid, granted_qos):
    print("SUBSCRIBED", flush=True)
    client.publish(prefix + "/own", "hello from paho", qos=1)


def on_message(client, userdata, msg):
    text = msg.payload.decode()
    if want.get(msg.topic) != text:
        failed.append("unexpected %s %r" % (msg.topic, text))
        done.set()
        return
    got[msg.topic] = {"qos": msg.qos}
    if len(got) == len(want):
        done.set()


kwargs = {"client_id": "paho-ws", "transport": "websockets"}
if hasattr(mqtt, "CallbackAPIVersion"):  # paho 2.x; Debian 12 has 1.6
    kwargs["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION1
client = mqtt.Client(**kwargs)
client.ws_set_options(path=path)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect(host, port, keepalive=30)
client.loop_start()
if not done.wait(30):
    failed.append("timed out; got %s" % got)
client.disconnect()
client.loop_stop()
if failed:
    print("paho_ws: " + "; ".join(failed), file=sys.stderr)
    sys.exit(1)
print("RESULT " + json.dumps(got), flush=True)
