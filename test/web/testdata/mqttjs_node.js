// MQTT.js in Node over WebSocket: connect, subscribe, publish, receive.
// Usage: node mqttjs_node.js WS_URL TOPIC_PREFIX PROTOCOL_VERSION
// Prints "SUBSCRIBED" once subscribed (the Go test then publishes
// PREFIX/from-go over TCP) and "RESULT {json}" once it has received its own
// message, a large one and the Go one.
"use strict";
const mqtt = require("mqtt");

const [url, prefix, version] = process.argv.slice(2);
const fail = (msg) => { console.error("mqttjs_node: " + msg); process.exit(1); };
setTimeout(() => fail("timed out"), 30000).unref();

const big = "x".repeat(200 * 1024); // spans many TCP segments and WebSocket frames
const want = new Map([[prefix + "/own", "hello over ws"], [prefix + "/big", big], [prefix + "/from-go", "hello from go"]]);
const got = {};

const client = mqtt.connect(url, {
  protocolVersion: Number(version),
  clientId: "mqttjs-node-v" + version,
  reconnectPeriod: 0,
  connectTimeout: 10000,
});
client.on("error", (e) => fail("error: " + e.message));
client.on("connect", (ack) => {
  client.subscribe(prefix + "/#", { qos: 1 }, (err, granted) => {
    if (err) fail("subscribe: " + err.message);
    if (granted[0].qos !== 1) fail("granted " + JSON.stringify(granted));
    console.log("SUBSCRIBED");
    client.publish(prefix + "/own", "hello over ws", { qos: 1 }, (err) => err && fail("publish: " + err.message));
    client.publish(prefix + "/big", big, { qos: 0 });
  });
});
client.on("message", (topic, payload, packet) => {
  const text = payload.toString();
  if (!want.has(topic)) fail("unexpected message on " + topic);
  if (want.get(topic) !== text) fail("wrong payload on " + topic + " (" + text.length + " bytes)");
  got[topic] = { qos: packet.qos, bytes: payload.length };
  if (Object.keys(got).length === want.size) {
    console.log("RESULT " + JSON.stringify(got));
    client.end(false, () => process.exit(0));
  }
});
