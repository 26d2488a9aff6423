// A minimal MQTT 3.1.1 client over WebSocket, written for the mast
// dashboard: CONNECT, SUBSCRIBE, PUBLISH at QoS 0, PINGREQ and DISCONNECT.
// Incoming PUBLISH at QoS 1 and 2 is acknowledged so a broker never waits
// on us. The WebSocket carries a byte stream: a packet may span messages
// and one message may hold several packets.
"use strict";

(function (global) {
  const enc = new TextEncoder();
  const dec = new TextDecoder("utf-8", { fatal: false });

  // Packet types (high nibble of the first byte).
  const CONNECT = 1, CONNACK = 2, PUBLISH = 3, PUBACK = 4, PUBREC = 5, PUBREL = 6, PUBCOMP = 7,
    SUBSCRIBE = 8, SUBACK = 9, PINGREQ = 12, PINGRESP = 13, DISCONNECT = 14;

  const connackText = {
    1: "unacceptable protocol version", 2: "client identifier rejected", 3: "server unavailable",
    4: "bad user name or password", 5: "not authorized",
  };

  function varint(n) {
    const out = [];
    do {
      let b = n % 128;
      n = Math.floor(n / 128);
      if (n > 0) b |= 0x80;
      out.push(b);
    } while (n > 0);
    return out;
  }

  function str(s) {
    const b = enc.encode(s);
    if (b.length > 65535) throw new Error("string longer than 65535 bytes");
    return [b.length >> 8, b.length & 255, ...b];
  }

  function packet(first, body) {
    return new Uint8Array([first, ...varint(body.length), ...body]);
  }

  class MQTTClient {
    // opts: {clientId, username, password, keepAlive (s), clean}
    constructor(url, opts) {
      this.url = url;
      this.opts = Object.assign({ clientId: "", keepAlive: 30, clean: true }, opts || {});
      this.buf = new Uint8Array(0);
      this.nextId = 1;
      this.pending = new Map(); // SUBSCRIBE packet id -> resolve
      this.handlers = { message: [], close: [], error: [] };
      this.ws = null;
      this.timer = null;
      this.connected = false;
    }

    on(event, fn) { this.handlers[event].push(fn); return this; }
    emit(event, ...args) { for (const fn of this.handlers[event]) fn(...args); }

    // connect resolves once the broker has accepted the CONNECT.
    connect() {
      return new Promise((resolve, reject) => {
        let ws;
        try {
          ws = new WebSocket(this.url, ["mqtt"]);
        } catch (e) {
          reject(e);
          return;
        }
        this.ws = ws;
        ws.binaryType = "arraybuffer";
        this.onConnack = (code) => {
          if (code === 0) {
            this.connected = true;
            this.startPing();
            resolve();
          } else {
            reject(new Error("connection refused: " + (connackText[code] || "code " + code)));
            ws.close();
          }
        };
        ws.onopen = () => this.send(this.connectPacket());
        ws.onmessage = (ev) => this.receive(new Uint8Array(ev.data));
        ws.onerror = () => {
          if (!this.connected) reject(new Error("cannot open " + this.url));
          this.emit("error", new Error("WebSocket error"));
        };
        ws.onclose = (ev) => {
          const was = this.connected;
          this.connected = false;
          clearInterval(this.timer);
          if (!was) reject(new Error("connection closed before CONNACK (WebSocket code " + ev.code + ")"));
          this.emit("close", ev.code);
        };
      });
    }

    connectPacket() {
      const o = this.opts;
      let flags = o.clean ? 0x02 : 0;
      const payload = [...str(o.clientId)];
      if (o.username) {
        flags |= 0x80;
        payload.push(...str(o.username));
        if (o.password) {
          flags |= 0x40;
          payload.push(...str(o.password));
        }
      }
      const body = [...str("MQTT"), 4, flags, o.keepAlive >> 8, o.keepAlive & 255, ...payload];
      return packet(CONNECT << 4, body);
    }

    startPing() {
      if (this.opts.keepAlive > 0) {
        this.timer = setInterval(() => this.send(new Uint8Array([PINGREQ << 4, 0])), this.opts.keepAlive * 1000 / 2);
      }
    }

    send(bytes) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes);
    }

    packetId() {
      const id = this.nextId;
      this.nextId = id === 65535 ? 1 : id + 1;
      return id;
    }

    // subscribe resolves with the granted QoS (0x80: refused).
    subscribe(filter, qos) {
      const id = this.packetId();
      const body = [id >> 8, id & 255, ...str(filter), qos || 0];
      return new Promise((resolve) => {
        this.pending.set(id, resolve);
        this.send(packet((SUBSCRIBE << 4) | 0x02, body));
      });
    }

    // publish sends at QoS 0; payload is a string or a Uint8Array.
    publish(topic, payload, retain) {
      const p = typeof payload === "string" ? enc.encode(payload) : payload;
      this.send(packet((PUBLISH << 4) | (retain ? 1 : 0), [...str(topic), ...p]));
    }

    disconnect() {
      this.send(new Uint8Array([DISCONNECT << 4, 0]));
      clearInterval(this.timer);
      if (this.ws) this.ws.close(1000);
    }

    receive(chunk) {
      const b = new Uint8Array(this.buf.length + chunk.length);
      b.set(this.buf);
      b.set(chunk, this.buf.length);
      this.buf = b;
      for (;;) {
        if (this.buf.length < 2) return;
        let len = 0, mult = 1, i = 1, done = false;
        for (; i < 5 && i < this.buf.length; i++) {
          len += (this.buf[i] & 127) * mult;
          mult *= 128;
          if ((this.buf[i] & 128) === 0) { done = true; i++; break; }
        }
        if (!done) {
          if (i >= 5) { this.ws.close(1002); } // malformed length
          return;
        }
        if (this.buf.length < i + len) return;
        const first = this.buf[0];
        const body = this.buf.subarray(i, i + len);
        this.buf = this.buf.slice(i + len);
        this.handle(first >> 4, first & 15, body);
      }
    }

    handle(type, flags, body) {
      switch (type) {
        case CONNACK:
          if (this.onConnack) this.onConnack(body[1]);
          break;
        case SUBACK: {
          const id = (body[0] << 8) | body[1];
          const resolve = this.pending.get(id);
          this.pending.delete(id);
          if (resolve) resolve(body[2]);
          break;
        }
        case PUBLISH: {
          const qos = (flags >> 1) & 3;
          const tlen = (body[0] << 8) | body[1];
          const topic = dec.decode(body.subarray(2, 2 + tlen));
          let at = 2 + tlen;
          if (qos > 0) {
            const id = [body[at], body[at + 1]];
            at += 2;
            this.send(new Uint8Array([(qos === 1 ? PUBACK : PUBREC) << 4, 2, ...id]));
          }
          const payload = body.slice(at);
          this.emit("message", topic, payload, { retain: (flags & 1) === 1, qos });
          break;
        }
        case PUBREL:
          this.send(new Uint8Array([PUBCOMP << 4, 2, body[0], body[1]]));
          break;
        case PINGRESP:
          break;
      }
    }
  }

  MQTTClient.decodeText = (bytes) => dec.decode(bytes);
  global.MQTTClient = MQTTClient;
})(window);
