// The mast dashboard. Everything it shows comes from the admin API
// (/api/v1/...); live numbers from its Server-Sent Events stream. Data is
// put on the page as text, never as HTML.
"use strict";

(function () {
  const $ = (sel) => document.querySelector(sel);
  const TOKEN_KEY = "mast-admin-token";
  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  let tokenWaiters = [];

  // ---- API ------------------------------------------------------------

  class APIError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(method, path, body) {
    for (;;) {
      const headers = {};
      if (token) headers["Authorization"] = "Bearer " + token;
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      if (resp.status === 401) {
        await askToken(token !== "");
        continue;
      }
      const data = await resp.json().catch(() => ({}));
      if (!resp.ok) throw new APIError(resp.status, data.error || resp.statusText);
      return data;
    }
  }

  // askToken shows the token dialog and resolves once a token is entered.
  function askToken(wrong) {
    const dlg = $("#token-dialog");
    $("#token-error").hidden = !wrong;
    $("#token-button").hidden = false;
    if (!dlg.open) dlg.showModal();
    return new Promise((resolve) => tokenWaiters.push(resolve));
  }

  $("#token-form").addEventListener("submit", () => {
    token = $("#token-input").value.trim();
    sessionStorage.setItem(TOKEN_KEY, token);
    const waiters = tokenWaiters;
    tokenWaiters = [];
    waiters.forEach((w) => w());
    if (stream) startStream(); // again, with the new token
  });
  $("#token-button").addEventListener("click", () => askToken(false).then(refreshAll));

  // ---- formatting -----------------------------------------------------

  function fmtNum(n) {
    if (n === undefined || n === null) return "–";
    if (n >= 100) return Math.round(n).toLocaleString("en");
    if (n >= 10) return n.toFixed(1);
    return n.toFixed(n === Math.round(n) ? 0 : 2);
  }

  function fmtBytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? Math.round(n) : n.toFixed(1)) + " " + units[i];
  }

  function fmtDuration(s) {
    const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
    if (d > 0) return d + "d " + h + "h";
    if (h > 0) return h + "h " + m + "m";
    if (m > 0) return m + "m " + (s % 60) + "s";
    return s + "s";
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // ---- charts ---------------------------------------------------------

  const POINTS = 120; // two minutes at one event a second

  class Chart {
    constructor(canvas, series) {
      this.canvas = canvas;
      this.series = series; // [{color, values: []}]
      new ResizeObserver(() => this.draw()).observe(canvas);
    }

    push(...vals) {
      vals.forEach((v, i) => {
        const s = this.series[i].values;
        s.push(v);
        if (s.length > POINTS) s.shift();
      });
      this.draw();
    }

    draw() {
      const c = this.canvas;
      const dpr = window.devicePixelRatio || 1;
      const w = c.clientWidth, h = c.clientHeight;
      if (w === 0 || h === 0) return;
      if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
        c.width = Math.round(w * dpr);
        c.height = Math.round(h * dpr);
      }
      const g = c.getContext("2d");
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.clearRect(0, 0, w, h);
      const left = 44, right = 8, top = 8, bottom = 20;
      const pw = w - left - right, ph = h - top - bottom;
      let max = 0;
      for (const s of this.series) for (const v of s.values) max = Math.max(max, v);
      max = niceCeil(max);
      // Grid and labels.
      g.font = "11px system-ui, sans-serif";
      g.fillStyle = "#6b7280";
      g.strokeStyle = "#e5e7eb";
      g.lineWidth = 1;
      g.textAlign = "right";
      g.textBaseline = "middle";
      for (let i = 0; i <= 4; i++) {
        const y = top + ph - (ph * i) / 4;
        g.beginPath();
        g.moveTo(left, Math.round(y) + 0.5);
        g.lineTo(left + pw, Math.round(y) + 0.5);
        g.stroke();
        g.fillText(fmtNum((max * i) / 4), left - 6, y);
      }
      g.textAlign = "left";
      g.textBaseline = "alphabetic";
      g.fillText("−2 min", left, h - 4);
      g.textAlign = "right";
      g.fillText("now", left + pw, h - 4);
      // Lines, newest point at the right edge.
      const step = pw / (POINTS - 1);
      for (const s of this.series) {
        const n = s.values.length;
        if (n === 0) continue;
        const xy = (v, i) => [left + pw - (n - 1 - i) * step, top + ph - (max > 0 ? (v / max) * ph : 0)];
        g.beginPath();
        s.values.forEach((v, i) => {
          const [x, y] = xy(v, i);
          if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
        });
        g.strokeStyle = s.color;
        g.lineWidth = 2;
        g.lineJoin = "round";
        g.setLineDash(s.dash || []); // so that equal series stay visible
        g.stroke();
        g.setLineDash([]);
        // A light fill under the line.
        const [x0] = xy(s.values[0], 0);
        g.lineTo(left + pw, top + ph);
        g.lineTo(x0, top + ph);
        g.closePath();
        g.fillStyle = s.color + "22";
        g.fill();
      }
    }
  }

  function niceCeil(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  const msgChart = new Chart($("#chart-msgs"), [{ color: "#2563eb", values: [] }, { color: "#16a34a", values: [], dash: [6, 4] }]);
  const connChart = new Chart($("#chart-conns"), [{ color: "#9333ea", values: [] }, { color: "#f59e0b", values: [] }]);

  // ---- live stats -----------------------------------------------------

  let stream = null;

  function startStream() {
    if (stream) stream.close();
    const url = "/api/v1/stats/stream" + (token ? "?token=" + encodeURIComponent(token) : "");
    stream = new EventSource(url);
    const live = $("#live");
    stream.addEventListener("open", () => { live.textContent = "live"; live.className = "pill on"; });
    stream.addEventListener("error", () => {
      live.textContent = "offline";
      live.className = "pill off";
      if (stream.readyState === EventSource.CLOSED) {
        // Refused (401) or gone: find out which through fetch, then retry.
        api("GET", "/api/v1/broker").then(() => setTimeout(startStream, 2000), () => setTimeout(startStream, 5000));
      }
    });
    stream.addEventListener("stats", (ev) => showStats(JSON.parse(ev.data)));
  }

  function showStats(ev) {
    const s = ev.stats, r = ev.rates;
    $("#t-clients").textContent = fmtNum(s.clients_connected);
    $("#t-in").textContent = fmtNum(r.messages_in_per_second);
    $("#t-out").textContent = fmtNum(r.messages_out_per_second);
    $("#t-subs").textContent = fmtNum(s.subscriptions);
    $("#t-retained").textContent = fmtNum(s.retained);
    $("#t-queue").textContent = fmtNum(s.inflight) + " / " + fmtNum(s.queued);
    $("#t-dropped").textContent = fmtNum(s.messages_dropped);
    $("#t-bytes").textContent = fmtBytes(r.bytes_in_per_second) + "/s · " + fmtBytes(r.bytes_out_per_second) + "/s";
    $("#broker-uptime").textContent = "up " + fmtDuration(s.uptime_seconds);
    if (ev.interval_seconds > 0) {
      msgChart.push(r.messages_in_per_second, r.messages_out_per_second);
      connChart.push(s.clients_connected, r.connections_per_second);
    }
  }

  // ---- broker info ----------------------------------------------------

  async function loadBroker() {
    const b = await api("GET", "/api/v1/broker");
    $("#broker-version").textContent = b.version;
    clustered = !!b.clustered;
    const url = $("#try-url");
    if (!url.value) url.value = browserURL(b.websocket_url || "");
    if (!url.value) url.placeholder = "ws://" + location.hostname + ":PORT/mqtt (no WebSocket URL configured)";
  }

  // browserURL puts the host this page came from into a WebSocket URL whose
  // host is a listen-everywhere address (ws://0.0.0.0:8083/mqtt).
  function browserURL(u) {
    if (!u) return u;
    try {
      const parsed = new URL(u);
      if (["0.0.0.0", "[::]", ""].includes(parsed.hostname)) {
        parsed.hostname = location.hostname;
        return parsed.toString();
      }
    } catch (e) {
      // Not a URL: show it as it is, for the reader to fix.
    }
    return u;
  }

  // ---- clients --------------------------------------------------------

  let selected = null; // client id whose detail is shown

  async function loadClients() {
    const q = new URLSearchParams({ limit: "200" });
    const search = $("#client-search").value.trim();
    if (search) q.set("q", search);
    if ($("#client-connected").checked) q.set("connected", "true");
    const data = await api("GET", "/api/v1/clients?" + q);
    const body = $("#clients-table tbody");
    body.replaceChildren(...data.clients.map(clientRow));
    $("#clients-empty").hidden = data.clients.length > 0;
    $("#clients-count").textContent = data.total > data.clients.length
      ? data.clients.length + " of " + data.total : String(data.total);
    if (selected) showClient(selected);
  }

  function clientRow(c) {
    const since = c.connected_at ? new Date(c.connected_at).toLocaleTimeString() : "";
    const proto = { 3: "3.1", 4: "3.1.1", 5: "5.0" }[c.protocol_level] || String(c.protocol_level);
    const idCell = el("td", { class: "id" },
      el("a", { href: "#clients", onclick: (e) => { e.preventDefault(); selected = c.client_id; showClient(c.client_id); } }, c.client_id));
    const action = c.connected
      ? el("button", { type: "button", class: "danger small", "data-client": c.client_id, onclick: () => disconnect(c.client_id) }, "Disconnect")
      : el("span", { class: "muted" }, "offline");
    return el("tr", { "data-client": c.client_id, class: c.connected ? "" : "offline" },
      idCell, el("td", {}, c.username || ""), el("td", { class: "mono" }, c.remote || ""),
      el("td", {}, proto), el("td", {}, since),
      el("td", { class: "num" }, c.subscriptions), el("td", { class: "num" }, c.inflight),
      el("td", { class: "num" }, c.queued), el("td", { class: "num" }, c.dropped), el("td", {}, action));
  }

  async function disconnect(id) {
    try {
      await api("DELETE", "/api/v1/clients/" + encodeURIComponent(id));
      toast("Disconnected " + id);
    } catch (e) {
      toast("Cannot disconnect " + id + ": " + e.message, true);
    }
    loadClients().catch(() => {});
  }

  async function showClient(id) {
    const box = $("#client-detail");
    let d;
    try {
      d = await api("GET", "/api/v1/clients/" + encodeURIComponent(id));
    } catch (e) {
      box.hidden = true;
      selected = null;
      return;
    }
    const subs = d.subscriptions.length
      ? el("ul", {}, ...d.subscriptions.map((s) => el("li", {}, el("code", {}, s.filter), " QoS " + s.qos)))
      : el("p", { class: "muted" }, "No subscriptions.");
    box.replaceChildren(
      el("div", { class: "card-head" }, el("h3", {}, "Client ", el("code", {}, d.client.client_id)),
        el("button", { type: "button", class: "ghost small", onclick: () => { selected = null; box.hidden = true; } }, "Close")),
      el("p", {}, (d.client.connected ? "Connected from " + d.client.remote : "Not connected") +
        " · keep alive " + d.client.keep_alive_seconds + " s · session expiry " + d.client.session_expiry_seconds +
        " s · in flight " + d.client.inflight + " · queued " + d.client.queued),
      subs);
    box.hidden = false;
  }

  let searchTimer = null;
  $("#client-search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => loadClients().catch(() => {}), 200);
  });
  $("#client-connected").addEventListener("change", () => loadClients().catch(() => {}));

  // ---- topic tree -----------------------------------------------------

  async function loadTopics() {
    const filter = $("#topic-filter").value.trim() || "#";
    const tree = $("#topic-tree");
    let data;
    try {
      data = await api("GET", "/api/v1/retained?limit=1000&filter=" + encodeURIComponent(filter));
    } catch (e) {
      tree.replaceChildren(el("p", { class: "error" }, e.message));
      return;
    }
    // Build nested levels: {children: Map, msg}
    const root = { children: new Map() };
    for (const m of data.messages) {
      let node = root;
      for (const level of m.topic.split("/")) {
        if (!node.children.has(level)) node.children.set(level, { children: new Map() });
        node = node.children.get(level);
      }
      node.msg = m;
    }
    // Levels start open; keep closed the ones the reader closed.
    const closed = new Set([...tree.querySelectorAll("details:not([open])")].map((d) => d.dataset.path));
    tree.replaceChildren(...renderLevel(root, "", closed, true));
    $("#topics-empty").hidden = data.messages.length > 0;
    $("#topics-count").textContent = data.truncated ? data.count + "+" : String(data.count);
  }

  function renderLevel(node, prefix, closed, first) {
    const out = [];
    for (const [name, child] of [...node.children.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
      const path = prefix === "" && first ? name : prefix + "/" + name;
      const label = el("span", { class: "level" }, name === "" ? "(empty)" : name);
      const value = child.msg ? valueView(child.msg) : null;
      if (child.children.size === 0) {
        out.push(el("div", { class: "leaf", "data-topic": path }, label, value));
        continue;
      }
      const d = el("details", { "data-path": path },
        el("summary", {}, label, el("span", { class: "muted" }, " " + countLeaves(child)), value),
        el("div", { class: "children" }, ...renderLevel(child, path, closed, false)));
      d.open = !closed.has(path);
      out.push(d);
    }
    return out;
  }

  function countLeaves(node) {
    let n = node.msg ? 1 : 0;
    for (const c of node.children.values()) n += countLeaves(c);
    return n;
  }

  function valueView(m) {
    const text = m.encoding === "utf-8" ? m.payload : "base64:" + m.payload;
    const shown = text.length > 80 ? text.slice(0, 80) + "…" : text;
    return el("span", { class: "value", title: m.topic + " (" + m.size + " bytes, QoS " + m.qos + ")" }, el("code", {}, shown),
      el("button", { type: "button", class: "ghost small", title: "delete this retained message", onclick: (e) => { e.preventDefault(); deleteRetained(m.topic); } }, "✕"));
  }

  async function deleteRetained(topic) {
    try {
      await api("DELETE", "/api/v1/retained?topic=" + encodeURIComponent(topic));
      toast("Deleted the retained message of " + topic);
    } catch (e) {
      toast(e.message, true);
    }
    loadTopics();
  }

  $("#topics-refresh").addEventListener("click", loadTopics);
  $("#topic-filter").addEventListener("keydown", (e) => { if (e.key === "Enter") loadTopics(); });

  // ---- try it ---------------------------------------------------------

  let client = null;
  $("#try-id").value = "dashboard-" + Math.random().toString(36).slice(2, 8);

  function logLine(kind, text) {
    const log = $("#try-log");
    log.prepend(el("li", { class: kind }, el("time", {}, new Date().toLocaleTimeString()), " ", text));
    while (log.children.length > 200) log.lastChild.remove();
  }

  function setConnected(on) {
    $("#try-state").textContent = on ? "connected to " + client.url : "not connected";
    $("#try-state").className = on ? "state on" : "state";
    $("#try-connect-btn").textContent = on ? "Disconnect" : "Connect";
    for (const b of document.querySelectorAll("#try-sub button, #try-pub button")) b.disabled = !on;
  }

  $("#try-connect").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (client && client.connected) {
      client.disconnect();
      return;
    }
    const url = $("#try-url").value.trim();
    if (!url) { logLine("error", "Enter the broker's WebSocket URL."); return; }
    client = new MQTTClient(url, {
      clientId: $("#try-id").value.trim(), username: $("#try-user").value, password: $("#try-pass").value, keepAlive: 30,
    });
    const c = client;
    c.on("message", (topic, payload, info) => {
      logLine("msg", el("span", {}, el("code", {}, topic), " ", MQTTClient.decodeText(payload), info.retain ? " (retained)" : ""));
    });
    c.on("close", () => { if (client === c) { setConnected(false); logLine("info", "Disconnected."); } });
    $("#try-state").textContent = "connecting…";
    try {
      await c.connect();
      setConnected(true);
      logLine("info", "Connected as " + (c.opts.clientId || "(assigned id)") + ".");
      loadClients().catch(() => {});
    } catch (err) {
      setConnected(false);
      logLine("error", err.message);
    }
  });

  $("#try-sub").addEventListener("submit", async (e) => {
    e.preventDefault();
    const filter = $("#try-sub-filter").value.trim();
    if (!client || !client.connected || !filter) return;
    const granted = await client.subscribe(filter, 0);
    logLine(granted === 0x80 ? "error" : "info", (granted === 0x80 ? "Refused: " : "Subscribed to ") + filter);
  });

  $("#try-pub").addEventListener("submit", (e) => {
    e.preventDefault();
    const topic = $("#try-pub-topic").value.trim();
    if (!client || !client.connected || !topic) return;
    const payload = $("#try-pub-payload").value;
    const retain = $("#try-pub-retain").checked;
    client.publish(topic, payload, retain);
    logLine("out", el("span", {}, "Published ", el("code", {}, topic), " ", payload, retain ? " (retain)" : ""));
    if (retain) setTimeout(loadTopics, 300);
  });

  // ---- cluster --------------------------------------------------------

  let clustered = false; // GET /api/v1/broker says

  async function loadCluster() {
    if (!clustered) return;
    let c;
    try {
      c = await api("GET", "/api/v1/cluster");
    } catch (e) {
      if (e.status === 404) clustered = false; // a single node: no card
      return;
    }
    $("#cluster").hidden = false;
    $("#nav-cluster").hidden = false;
    $("#cluster-name").textContent = c.cluster;
    const up = c.members.filter((m) => m.connected).length;
    $("#cluster-summary").textContent = "this node: " + c.node + " · " + up + " of " + c.members.length +
      " members connected · " + c.routes + " routes";
    $("#members-table tbody").replaceChildren(...c.members.map(memberRow));
    const js = c.jetstream;
    let hint = js.enabled ? "Meta leader: " + (js.meta_leader || "none") : "JetStream is off on this node.";
    if (js.error) hint += " — " + js.error;
    $("#cluster-js").textContent = hint;
    $("#streams-table tbody").replaceChildren(...js.streams.map(streamRow));
    $("#streams-empty").hidden = js.streams.length > 0;
  }

  function memberRow(m) {
    const state = m.self ? "this node" : m.connected ? "connected" : "no route";
    return el("tr", { class: m.connected ? "" : "offline" },
      el("td", {}, m.name), el("td", {}, state), el("td", { class: "mono" }, m.address || ""),
      el("td", { class: "num" }, m.self ? "" : m.routes || 0),
      el("td", { class: "num" }, m.rtt_seconds ? (m.rtt_seconds * 1000).toFixed(2) + " ms" : ""),
      el("td", {}, m.connected_since ? new Date(m.connected_since).toLocaleString() : ""));
  }

  function streamRow(s) {
    const name = s.kv_bucket ? s.name + " (KV " + s.kv_bucket + ")" : s.name;
    if (s.unavailable) {
      return el("tr", { class: "offline" }, el("td", {}, name), el("td", { colspan: "4" }, s.unavailable));
    }
    const peers = el("td", {});
    s.peers.forEach((p, i) => {
      if (i > 0) peers.append(", ");
      const behind = !p.current || p.lag > 0;
      peers.append(el("span", { class: behind ? "lag" : "", title: p.leader ? "leader" : p.current ? "current" : "not current" },
        p.name + (p.leader ? " ★" : "") + " (" + p.lag + ")"));
    });
    return el("tr", {}, el("td", {}, name), el("td", {}, s.leader || "none"), peers,
      el("td", { class: "num" }, fmtNum(s.messages)), el("td", { class: "num" }, fmtBytes(s.bytes)));
  }

  // ---- toasts and refresh ----------------------------------------------

  function toast(text, bad) {
    const t = el("div", { class: "toast" + (bad ? " bad" : ""), role: "status" }, text);
    document.body.append(t);
    setTimeout(() => t.remove(), 4000);
  }

  function refreshAll() {
    loadBroker().then(loadCluster, (e) => toast(e.message, true));
    loadClients().catch(() => {});
    loadTopics();
  }

  // authorized asks the server whether the token we hold (if any) is the
  // one it needs, without a request that fails.
  async function authorized() {
    const resp = await fetch("/api/v1/auth", { headers: token ? { Authorization: "Bearer " + token } : {} });
    const st = await resp.json();
    if (st.token_required) $("#token-button").hidden = false;
    return st.authorized;
  }

  async function boot() {
    let asked = false;
    while (!(await authorized())) {
      await askToken(asked);
      asked = true;
    }
    refreshAll();
    startStream();
    setInterval(() => loadClients().catch(() => {}), 2000);
    setInterval(loadCluster, 5000);
    setInterval(() => { if (!document.querySelector("#topic-tree details:hover")) loadTopics(); }, 10000);
  }

  boot().catch((e) => toast("Cannot reach the broker: " + e.message, true));
})();
