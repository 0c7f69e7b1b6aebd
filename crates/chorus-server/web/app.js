// Chorus admin UI: plain JavaScript, no build step. Talks to admin/init,
// admin/auth, admin/api and admin/stats relative to the page's own path.
"use strict";

const base = location.pathname.endsWith("/") ? location.pathname : location.pathname + "/";
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("chorus-admin-token") || "";
let insecure = false;
let timer = null;
const points = []; // {in, out} rate points for the chart
let last = null; // previous stats sample

const templates = {
  publish: { channel: "news", data: { text: "hello" } },
  broadcast: { channels: ["news", "chat:1"], data: { text: "hello" } },
  presence: { channel: "news" },
  presence_stats: { channel: "news" },
  history: { channel: "news", limit: 10, reverse: true },
  history_remove: { channel: "news" },
  unsubscribe: { channel: "news", user: "42" },
  disconnect: { user: "42" },
  channels: { pattern: "" },
  connections: { user: "" },
  info: {},
};

function headers() {
  const h = { "Content-Type": "application/json" };
  if (token) h.Authorization = "token " + token;
  return h;
}

async function call(method, params) {
  const resp = await fetch(base + "admin/api", {
    method: "POST",
    headers: headers(),
    body: JSON.stringify({ method, params }),
  });
  if (resp.status === 401) { logout(); throw new Error("session expired"); }
  return resp.json();
}

function show(view) {
  $("login-view").hidden = view !== "login";
  $("app-view").hidden = view !== "app";
}

function logout() {
  token = "";
  sessionStorage.removeItem("chorus-admin-token");
  if (timer) clearInterval(timer);
  timer = null;
  show("login");
}

async function login(ev) {
  ev.preventDefault();
  $("login-error").textContent = "";
  const resp = await fetch(base + "admin/auth", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ password: $("password").value }),
  });
  if (!resp.ok) {
    $("login-error").textContent = "Wrong password";
    return;
  }
  token = (await resp.json()).token;
  sessionStorage.setItem("chorus-admin-token", token);
  start();
}

function fmtUptime(s) {
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return (d ? d + "d " : "") + (h ? h + "h " : "") + m + "m " + (s % 60) + "s";
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
}

async function refreshNodes() {
  const resp = await fetch(base + "admin/stats", { headers: headers() });
  if (resp.status === 401) { logout(); return; }
  const s = await resp.json();
  const now = performance.now() / 1000;
  let inRate = 0, outRate = 0, cpu = "";
  if (last) {
    const dt = Math.max(now - last.t, 0.001);
    inRate = (s.messages_in - last.s.messages_in) / dt;
    outRate = (s.messages_out - last.s.messages_out) / dt;
    if (s.cpu_seconds != null) cpu = (((s.cpu_seconds - last.s.cpu_seconds) / dt) * 100).toFixed(1) + "%";
  }
  last = { t: now, s };
  points.push({ in: inRate, out: outRate });
  if (points.length > 60) points.shift();

  const tbody = document.querySelector("#nodes tbody");
  tbody.textContent = "";
  const row = document.createElement("tr");
  row.className = "node";
  [s.name, s.version, fmtUptime(s.uptime), s.num_clients, s.num_users, s.num_subs, s.num_channels,
    cpu, s.rss_bytes != null ? (s.rss_bytes / 1048576).toFixed(1) + " MB" : "",
    inRate.toFixed(1), outRate.toFixed(1)].forEach((v) => cell(row, String(v)));
  tbody.appendChild(row);
  // Other nodes of the cluster: their last heartbeat (no process figures).
  for (const n of s.others || []) {
    const other = document.createElement("tr");
    other.className = "node other";
    [n.name, n.version, fmtUptime(n.uptime), n.num_clients, n.num_users, n.num_subs, n.num_channels,
      "", "", "", ""].forEach((v) => cell(other, String(v)));
    tbody.appendChild(other);
  }
  drawChart();
}

function drawChart() {
  const c = $("rates"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  const max = Math.max(1, ...points.map((p) => Math.max(p.in, p.out)));
  g.fillStyle = "#6b7785";
  g.fillText(max.toFixed(1) + "/s", 4, 12);
  for (const [key, color] of [["in", "#2866d8"], ["out", "#e07b00"]]) {
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    points.forEach((p, i) => {
      const x = (i / 59) * (c.width - 10) + 5;
      const y = c.height - 5 - (p[key] / max) * (c.height - 25);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  }
}

async function searchChannels(ev) {
  if (ev) ev.preventDefault();
  const reply = await call("channels", { pattern: $("channels-pattern").value });
  const tbody = document.querySelector("#channels tbody");
  tbody.textContent = "";
  const channels = (reply.result && reply.result.channels) || {};
  for (const name of Object.keys(channels).sort()) {
    const row = document.createElement("tr");
    cell(row, name);
    cell(row, String(channels[name].num_clients));
    tbody.appendChild(row);
  }
}

function summarize(method, reply) {
  if (reply.error) return "Error " + reply.error.code + ": " + reply.error.message;
  const r = reply.result || {};
  switch (method) {
    case "publish": return "Published" + (r.offset ? " at offset " + r.offset + " (epoch " + r.epoch + ")" : "");
    case "broadcast": return "Broadcast to " + (r.responses || []).length + " channels";
    case "presence": return Object.keys(r.presence || {}).length + " connections present";
    case "presence_stats": return r.num_clients + " clients, " + r.num_users + " users";
    case "history": return (r.publications || []).length + " publications, top offset " + (r.offset || 0);
    case "channels": return Object.keys(r.channels || {}).length + " channels";
    case "connections": {
      const conns = Object.values(r.connections || {});
      const users = new Set(conns.map((c) => c.user || ""));
      return conns.length + " connections of " + users.size + " users";
    }
    default: return "Done";
  }
}

async function runAction(ev) {
  ev.preventDefault();
  const method = $("action-method").value;
  let params;
  try {
    params = JSON.parse($("action-params").value || "{}");
  } catch (e) {
    $("action-summary").textContent = "Parameters are not valid JSON: " + e.message;
    $("action-summary").className = "error";
    return;
  }
  const reply = await call(method, params);
  $("action-summary").textContent = summarize(method, reply);
  $("action-summary").className = reply.error ? "error" : "ok";
  $("action-result").textContent = JSON.stringify(reply, null, 2);
}

function selectTab(name) {
  document.querySelectorAll(".tab").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  document.querySelectorAll(".panel").forEach((p) => { p.hidden = p.id !== "tab-" + name; });
  if (name === "channels") searchChannels();
}

function start() {
  show("app");
  refreshNodes();
  if (!timer) timer = setInterval(refreshNodes, 1000);
}

async function init() {
  const sel = $("action-method");
  for (const m of Object.keys(templates)) {
    const o = document.createElement("option");
    o.value = o.textContent = m;
    sel.appendChild(o);
  }
  const fill = () => { $("action-params").value = JSON.stringify(templates[sel.value], null, 2); };
  sel.addEventListener("change", fill);
  fill();
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("channels-form").addEventListener("submit", searchChannels);
  $("action-form").addEventListener("submit", runAction);
  document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => selectTab(b.dataset.tab)));

  const resp = await fetch(base + "admin/init");
  insecure = (await resp.json()).insecure;
  if (insecure || token) start(); else show("login");
}

init();
