// The lwm2m-sms web console: plain JavaScript, no build step, no libraries.
// Everything from the API (endpoint names, values) is put in the page as text
// (textContent), never as HTML: device data is untrusted.
"use strict";

const state = { model: {}, devices: [], device: null, observed: new Set(), pending: new Map(), source: null };

function $(sel, root) { return (root || document).querySelector(sel); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return node;
}

async function api(method, url, body) {
  const opts = { method, credentials: "same-origin", headers: { "X-Lwm2m-Sms": "1" } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(url, opts);
  if (r.status === 401) { show("login"); throw new Error("sign in first"); }
  let data = {};
  try { data = await r.json(); } catch (e) { /* an empty body */ }
  return { status: r.status, data };
}

function show(page) {
  for (const id of ["login", "devices-page", "device-page"]) $("#" + id).hidden = id !== page;
}

function ago(t) {
  if (!t) return "";
  const s = Math.max(0, Math.round(Date.now() / 1000 - t));
  return s < 60 ? s + " s ago" : s < 3600 ? Math.round(s / 60) + " min ago" : Math.round(s / 3600) + " h ago";
}

function text(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function epUrl(ep) { return "/api/devices/" + encodeURIComponent(ep); }

// --- the device list --------------------------------------------------------------------

async function loadDevices() {
  const { data } = await api("GET", "/api/devices?limit=1000");
  state.devices = data.devices || [];
  renderDevices();
}

function renderDevices() {
  const q = $("#filter").value.trim().toLowerCase();
  const body = $("#devices tbody");
  body.replaceChildren();
  const shown = state.devices.filter(d => !q || [d.endpoint, d.binding, d.msisdn || ""].some(f => f.toLowerCase().includes(q)));
  for (const d of shown) {
    body.append(el("tr", { "data-endpoint": d.endpoint },
      el("td", {}, el("a", { href: "#/device/" + encodeURIComponent(d.endpoint) }, d.endpoint)),
      el("td", {}, d.binding),
      el("td", {}, d.msisdn || "-"),
      el("td", { class: "state-" + d.state }, d.state),
      el("td", {}, d.queued),
      el("td", {}, d.sms.sent + " / " + d.sms.received),
      el("td", {}, ago(d.last_seen))));
  }
  $("#device-count").textContent = "(" + shown.length + (shown.length !== state.devices.length ? " of " + state.devices.length : "") + ")";
}

async function loadTotals() {
  const { data } = await api("GET", "/api/stats");
  let out = 0, inn = 0;
  for (const b of data.sms || []) { out += b.sms_sent; inn += b.sms_received; }
  $("#totals").textContent = data.registrations + " devices · SMS out " + out + " · in " + inn +
    " · queued " + ((data.queue || {}).queued || 0);
}

// --- one device ---------------------------------------------------------------------------

async function loadDevice(ep) {
  const { status, data } = await api("GET", epUrl(ep));
  show("device-page");
  $("#device-title").textContent = ep;
  if (status !== 200) {
    state.device = null;
    $("#device-facts").replaceChildren(el("dt", {}, "error"), el("dd", { class: "error" }, data.error));
    $("#objects").replaceChildren();
    return;
  }
  const first = !state.device || state.device.endpoint !== ep;
  state.device = data;
  state.observed = new Set(data.observations || []);
  renderFacts(data);
  if (first) {
    renderObjects(data);
    $("#device-events").replaceChildren();
  }
  await loadQueue(ep);
}

function renderFacts(d) {
  const facts = [["binding", d.binding], ["state", d.state], ["MSISDN", d.msisdn || "-"], ["UDP", d.udp || "-"],
    ["lifetime", d.lifetime + " s"], ["last seen", ago(d.last_seen)], ["registration", d.location],
    ["SMS out / in", d.sms.sent + " / " + d.sms.received], ["untrusted SMS dropped", d.sms.dropped_untrusted],
    ["queued", d.queued]];
  const dl = $("#device-facts");
  dl.replaceChildren();
  for (const [k, v] of facts) dl.append(el("dt", {}, k), el("dd", { class: k === "state" ? "state-" + v : "" }, v));
}

function renderObjects(d) {
  const box = $("#objects");
  box.replaceChildren();
  for (const link of d.objects) {
    const ids = link.path.split("/").filter(Boolean).map(Number);
    const def = state.model[ids[0]];
    const section = el("div", { class: "object" }, el("h3", {}, link.path + (def ? " " + def.name : "")));
    if (!def || ids.length !== 2) {
      section.append(buttons(link.path, "R"));
      section.append(el("div", { class: "result", id: "val" + link.path.replace(/\//g, "-") }));
      box.append(section);
      continue;
    }
    const table = el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Resource"), el("th", {}, "Value"), el("th", {}, ""))));
    const tbody = el("tbody");
    for (const [rid, r] of Object.entries(def.resources)) {
      if (!r.operations) continue;
      const path = link.path + "/" + rid;
      tbody.append(el("tr", { id: "res" + path.replace(/\//g, "-") },
        el("td", {}, rid + " " + r.name),
        el("td", { class: "value", id: "val" + path.replace(/\//g, "-") }),
        el("td", {}, buttons(path, r.operations, r.type))));
    }
    table.append(tbody);
    section.append(el("div", { class: "scroll" }, table));
    box.append(section);
  }
}

function buttons(path, operations, type) {
  const span = el("span");
  const add = (op, label) => span.append(el("button", {
    class: "small", type: "button", "data-op": op, "data-path": path,
    onclick: () => runFromRow(op, path, type),
  }, label), " ");
  if (operations.includes("R")) { add("read", "Read"); add("observe", state.observed.has(path) ? "Cancel" : "Observe"); }
  if (operations.includes("W")) add("write", "Write");
  if (operations === "E") add("execute", "Execute");
  return span;
}

function typed(raw, type) {
  if (type === "integer" || type === "time") return Number.parseInt(raw, 10);
  if (type === "float") return Number.parseFloat(raw);
  if (type === "boolean") return raw === "true" || raw === "1";
  return raw;
}

function runFromRow(op, path, type) {
  let value;
  if (op === "write") {
    const raw = window.prompt("New value of " + path);
    if (raw === null) return;
    value = typed(raw, type);
  }
  return run(op, path, value);
}

function showResult(path, text_, cls) {
  const cell = document.getElementById("val" + path.replace(/\//g, "-"));
  const target = cell || $("#path-result");
  target.textContent = text_;
  target.className = (cell ? "value " : "result ") + (cls || "");
}

function describe(op) {
  if (op.state === "answered") {
    const via = op.bearer ? " via " + op.bearer + (op.sms ? ", " + op.sms + " SMS" : "") : "";
    return (op.value !== null && op.value !== undefined ? text(op.value) + "  " : "") + "(" + op.code + via + ")";
  }
  if (op.state === "queued" || op.state === "waiting" || op.state === "sent" || op.state === "running") {
    return op.state + (op.queue_id ? " #" + op.queue_id : "") + ": waiting for the device";
  }
  return op.state + (op.code ? " " + op.code : "") + (op.error ? ": " + op.error : "");
}

async function run(op, path, value) {
  const ep = state.device.endpoint;
  const base = epUrl(ep);
  let r;
  if (op === "read") r = await api("GET", base + "/data" + path);
  else if (op === "write") r = await api("PUT", base + "/data" + path, { value });
  else if (op === "execute") r = await api("POST", base + "/data" + path, { args: value || "" });
  else if (op === "discover") r = await api("GET", base + "/discover" + path);
  else if (op === "observe") {
    if (state.observed.has(path)) {
      await api("DELETE", base + "/observe" + path);
      state.observed.delete(path);
      showResult(path, "observation cancelled");
      observeLabel(path);
      return;
    }
    r = await api("POST", base + "/observe" + path);
    if (r.status === 200 && r.data.state === "answered") { state.observed.add(path); observeLabel(path); }
  }
  if (r.status >= 400 && !r.data.state) { showResult(path, r.data.error || ("HTTP " + r.status), "error"); return; }
  if (r.status === 202) state.pending.set(r.data.id, path);
  showResult(path, describe(r.data), "state-" + r.data.state);
  loadQueue(ep);
}

function observeLabel(path) {
  for (const b of document.querySelectorAll('#objects button[data-op="observe"]')) {
    if (b.dataset.path === path) b.textContent = state.observed.has(path) ? "Cancel" : "Observe";
  }
}

async function loadQueue(ep) {
  const { data } = await api("GET", epUrl(ep) + "/queue");
  const body = $("#queue tbody");
  body.replaceChildren();
  for (const q of data.requests || []) {
    const cancel = q.state === "queued"
      ? el("button", { class: "small", type: "button", onclick: () => api("DELETE", epUrl(ep) + "/queue/" + q.id).then(() => loadQueue(ep)) }, "Cancel")
      : "";
    body.append(el("tr", { id: "q-" + q.id, "data-state": q.state },
      el("td", {}, q.id), el("td", {}, q.method + " " + q.path), el("td", {}, q.transport),
      el("td", { class: "state-" + q.state }, q.state), el("td", {}, q.response_code || q.detail || ""), el("td", {}, cancel)));
  }
}

// --- live updates -------------------------------------------------------------------------

let refreshTimer = null;
function refreshSoon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    loadTotals().catch(() => {});
    if (!$("#devices-page").hidden) loadDevices().catch(() => {});
    if (!$("#device-page").hidden && state.device) loadDevice(state.device.endpoint).catch(() => {});
  }, 1000);  // a list of a thousand devices is not rebuilt more often than this
}

function onEvent(e) {
  const ev = JSON.parse(e.data);
  if (state.device && ev.endpoint === state.device.endpoint) {
    const line = ev.type + (ev.path ? " " + ev.path : "") + (ev.request ? " #" + ev.request.id + " " + ev.request.path + " " + ev.request.state : "") +
      (ev.value !== undefined ? " = " + text(ev.value) : "");
    const list = $("#device-events");
    list.prepend(el("li", {}, new Date(ev.time * 1000).toLocaleTimeString() + " " + line));
    while (list.children.length > 50) list.lastChild.remove();
    if (ev.type === "notification" && state.observed.has(ev.path)) {  // not one still on its way after Cancel
      showResult(ev.path, text(ev.value) + "  (notification)", "state-answered");
    }
    if (ev.type === "operation" && state.pending.has(ev.operation.id)) {
      showResult(state.pending.get(ev.operation.id), describe(ev.operation), "state-" + ev.operation.state);
      state.pending.delete(ev.operation.id);
    }
  }
  if (ev.type !== "notification") refreshSoon();
}

function connect() {
  if (state.source) state.source.close();
  const source = new EventSource("/api/events");
  state.source = source;
  source.onopen = () => { $("#live").textContent = "live"; $("#live").className = "live on"; };
  source.onerror = () => { $("#live").textContent = "reconnecting"; $("#live").className = "live"; };
  for (const t of ["register", "update", "deregister", "expire", "changed", "removed", "queue", "wake-up", "notification", "operation"]) {
    source.addEventListener(t, onEvent);
  }
}

// --- pages and start ----------------------------------------------------------------------

async function route() {
  const m = location.hash.match(/^#\/device\/(.+)$/);
  if (m) await loadDevice(decodeURIComponent(m[1]));
  else { show("devices-page"); state.device = null; await loadDevices(); }
}

async function start() {
  const r = await fetch("/api/stats", { credentials: "same-origin" });
  if (r.status === 401) { show("login"); return; }
  state.model = (await api("GET", "/api/objects")).data;
  connect();
  await loadTotals();
  await route();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#filter").addEventListener("input", renderDevices);
  window.addEventListener("hashchange", () => route().catch(() => {}));
  $("#login-form").addEventListener("submit", async e => {
    e.preventDefault();
    const r = await fetch("/api/session", { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: $("#token").value }) });
    if (r.status !== 200) { $("#login-error").textContent = "That token is not accepted."; return; }
    $("#token").value = "";
    start();
  });
  for (const b of document.querySelectorAll("#path-form button")) {
    b.addEventListener("click", () => {
      const path = $("#path").value.trim();
      if (!/^(\/\d{1,5}){1,4}$/.test(path)) { showResult("", "a path looks like /3/0/0", "error"); return; }
      const raw = $("#path-value").value;
      let value = raw;
      if (b.dataset.op === "write") { try { value = JSON.parse(raw); } catch (e) { value = raw; } }
      run(b.dataset.op, path, value).catch(err => showResult("", String(err), "error"));
    });
  }
  start().catch(err => { $("#main").prepend(el("p", { class: "error" }, String(err))); });
});
