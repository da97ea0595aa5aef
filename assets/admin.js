// switchyard admin page: polls the JSON API once a second, renders status, connections,
// users, channels and one connection; sends messages and disconnects through POST actions; streams
// the live tap over a WebSocket, bounded in memory. Every value from the server is rendered
// with textContent, never as HTML.
"use strict";

const REFRESH_MS = 1000;
const CONNECTION_LIMIT = 200;
const USER_LIMIT = 200;
const CHANNEL_LIMIT = 200;
const USER_IDS_SHOWN = 3;
const TAP_MAX_ROWS = 500;
const TAP_MAX_PENDING = 1000;
const TAP_PARAM_CHARS = 300;

const $ = (id) => document.getElementById(id);

const state = {
  previous: null, // the last status, for rates
  selected: null, // connection id shown in details
  selectedInfo: null,
  selectedGone: false, // the selected connection closed: stop asking for it
  channel: null, // channel whose members are shown
  channelGone: false,
  status: null,
  sendTouched: false, // the send form shows its problems only once someone has used it
  anonymous: null, // anonymous connections (known when the lists are complete)
};

// ---------- helpers ----------

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function fmtInt(n) {
  return Number(n || 0).toLocaleString("en-US");
}

function fmtBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = Number(n || 0);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function fmtDuration(seconds) {
  let s = Math.floor(seconds || 0);
  const d = Math.floor(s / 86400); s %= 86400;
  const h = Math.floor(s / 3600); s %= 3600;
  const m = Math.floor(s / 60); s %= 60;
  if (d) return `${d}d ${h}h ${m}m`;
  if (h) return `${h}h ${m}m ${s}s`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

function fmtSince(unixSeconds) {
  const date = new Date(unixSeconds * 1000);
  const age = Date.now() / 1000 - unixSeconds;
  return `${date.toLocaleTimeString()} (${fmtDuration(Math.max(0, age))} ago)`;
}

function fmtTime(ms) {
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function userLabel(user) {
  if (!user || user.anonymous) return "anonymous";
  return user.name && user.name !== user.id ? `${user.name} (${user.id})` : user.id;
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const response = await fetch(`/admin/api/${path}`, {
    credentials: "same-origin",
    cache: "no-store",
    ...options,
  });
  if (response.status === 401) {
    location.href = "/admin/login";
    throw new ApiError(401, "unauthorized");
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) throw new ApiError(response.status, (body && body.error) || `HTTP ${response.status}`);
  return body;
}

function post(path, body) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

function setResult(node, ok, text) {
  node.textContent = text;
  node.className = `result ${ok ? "ok" : "bad"}`;
}

// ---------- status ----------

function rate(status, previous, field) {
  if (!previous) return "";
  const dt = status.uptime_seconds - previous.uptime_seconds;
  if (dt <= 0) return "";
  return (status[field] - previous[field]) / dt;
}

function setStat(id, text, nonzero) {
  const node = $(id);
  node.textContent = text;
  node.classList.toggle("nonzero", Boolean(nonzero));
}

function renderStatus(status) {
  const prev = state.previous;
  setStat("stat-uptime", fmtDuration(status.uptime_seconds));
  setStat("stat-connections", fmtInt(status.connections));
  setStat("stat-channels", fmtInt(status.channels));
  setStat("stat-messages-in", fmtInt(status.messages_in));
  setStat("stat-messages-out", fmtInt(status.messages_out));
  setStat("stat-bytes-in", fmtBytes(status.bytes_in));
  setStat("stat-bytes-out", fmtBytes(status.bytes_out));
  setStat("stat-slow", fmtInt(status.slow_consumer_closes), status.slow_consumer_closes);
  setStat("stat-errors", fmtInt(status.errors_sent), status.errors_sent);
  const closes = `${fmtInt(status.protocol_closes)} / ${fmtInt(status.idle_closes)}`;
  setStat("stat-closes", closes, status.protocol_closes + status.idle_closes);
  setStat("stat-rejected", fmtInt(status.handshakes_rejected), status.handshakes_rejected);
  const perWorker = (status.worker_connections || []).join(" · ");
  $("stat-workers").textContent = `${status.workers} workers: ${perWorker}`;
  for (const [field, id, fmt] of [
    ["messages_in", "rate-messages-in", (r) => `${r.toFixed(1)}/s`],
    ["messages_out", "rate-messages-out", (r) => `${r.toFixed(1)}/s`],
    ["bytes_in", "rate-bytes-in", (r) => `${fmtBytes(r)}/s`],
    ["bytes_out", "rate-bytes-out", (r) => `${fmtBytes(r)}/s`],
  ]) {
    const r = rate(status, prev, field);
    $(id).textContent = r === "" ? "" : fmt(Math.max(0, r));
  }
  renderCluster(status.cluster);
  $("logout-form").hidden = !status.token;
  state.previous = status;
  state.status = status;
}

/** The Redis link of a clustered node: its state, the other nodes, outages. */
function renderCluster(cluster) {
  $("stat-cluster-card").hidden = !cluster;
  if (!cluster) return;
  const nodes = (cluster.nodes || []).length;
  setStat("stat-cluster", `${cluster.state} · ${nodes + 1} nodes`, cluster.state !== "up");
  const detail = cluster.state === "up"
    ? `${fmtInt(cluster.reconnects || 0)} reconnects, ${fmtInt(cluster.dropped || 0)} dropped`
    : `down ${fmtDuration((cluster.down_for_ms || 0) / 1000)}: ${cluster.last_error || ""}`;
  $("stat-cluster-detail").textContent = detail;
}

// ---------- connections ----------

function connectionRow(conn) {
  const row = el("tr");
  row.dataset.id = conn.id;
  if (conn.id === state.selected) row.classList.add("selected");
  const cells = [
    [conn.id, "id"],
    [userLabel(conn.user)],
    [conn.remote, "mono"],
    [conn.channels.join(", ")],
    [fmtSince(conn.connected_at)],
    [fmtInt(conn.messages_in), "num"],
    [fmtInt(conn.messages_out), "num"],
    [fmtBytes(conn.bytes_in), "num"],
    [fmtBytes(conn.bytes_out), "num"],
    [fmtBytes(conn.queued_bytes), "num"],
  ];
  for (const [text, className] of cells) row.append(el("td", text, className));
  row.addEventListener("click", () => select(conn.id));
  return row;
}

function renderConnections(list) {
  const body = $("connections").tBodies[0];
  body.replaceChildren(...list.connections.map(connectionRow));
  if (!list.connections.length) {
    const empty = el("td", list.total ? "no connection matches the filter" : "no open connections", "muted");
    empty.colSpan = 10;
    body.append(el("tr"));
    body.rows[0].append(empty);
  }
  const shown = list.connections.length;
  const filtered = list.matching !== list.total ? `, ${fmtInt(list.matching)} match` : "";
  const capped = shown < list.matching ? `, first ${fmtInt(shown)} shown` : "";
  $("conn-count").textContent = `${fmtInt(list.total)} open${filtered}${capped}`;
}

function connectionsPath() {
  const q = $("conn-filter").value.trim();
  const params = new URLSearchParams({ limit: String(CONNECTION_LIMIT) });
  if (q) params.set("q", q);
  return `connections?${params}`;
}

// ---------- users ----------

function userRow(user) {
  const row = el("tr");
  row.dataset.id = user.id;
  const more = user.connections.length - USER_IDS_SHOWN;
  const ids = user.connections.slice(0, USER_IDS_SHOWN).join(", ") + (more > 0 ? ` +${more}` : "");
  row.append(el("td", user.id, "id"), el("td", user.name), el("td", fmtInt(user.connections.length), "num"), el("td", ids, "id"));
  row.title = "show this user's connections";
  row.addEventListener("click", () => {
    $("conn-filter").value = user.id;
    refresh().catch(() => {});
  });
  return row;
}

function renderUsers(list) {
  const body = $("users").tBodies[0];
  body.replaceChildren(...list.users.map(userRow));
  if (!list.users.length) {
    const empty = el("td", list.total ? "no user matches the filter" : "no signed-in users (anonymous connections are counted above, not listed)", "muted");
    empty.colSpan = 4;
    body.append(el("tr"));
    body.rows[0].append(empty);
  }
  const shown = list.users.length;
  const filtered = list.matching !== list.total ? `, ${fmtInt(list.matching)} match` : "";
  const capped = shown < list.matching ? `, first ${fmtInt(shown)} shown` : "";
  const anonymous = state.anonymous === null ? "" : ` · ${fmtInt(state.anonymous)} anonymous`;
  $("user-count").textContent = `${fmtInt(list.total)} signed in${anonymous}${filtered}${capped}`;
}

/** Anonymous connections: every registered connection not counted under a signed-in user
 * (only when both lists are unfiltered and complete). */
function countAnonymous(connections, users) {
  const complete = (list, items) => list.matching === list.total && items.length === list.total;
  if (!complete(connections, connections.connections) || !complete(users, users.users)) return null;
  return connections.connections.filter((c) => !c.user || c.user.anonymous).length;
}

function usersPath() {
  const q = $("user-filter").value.trim();
  const params = new URLSearchParams({ limit: String(USER_LIMIT) });
  if (q) params.set("q", q);
  return `users?${params}`;
}

// ---------- channels ----------

function renderChannels(list) {
  const rows = list.channels.map((c) => {
    const row = el("tr");
    row.dataset.name = c.name;
    if (c.name === state.channel) row.classList.add("selected");
    row.append(
      el("td", c.name),
      el("td", fmtInt(c.members), "num"),
      el("td", fmtInt(c.users), "num"),
      el("td", fmtInt(c.history ?? 0), "num"),
    );
    row.addEventListener("click", () => openChannel(c.name));
    return row;
  });
  $("channels").tBodies[0].replaceChildren(...rows);
  const shown = list.channels.length;
  const filtered = list.matching !== list.total ? `, ${fmtInt(list.matching)} match` : "";
  const capped = shown < list.matching ? `, first ${fmtInt(shown)} shown` : "";
  $("chan-count").textContent = `${fmtInt(list.total)}${filtered}${capped}`;
}

function channelsPath() {
  const q = $("chan-filter").value.trim();
  const params = new URLSearchParams({ limit: String(CHANNEL_LIMIT) });
  if (q) params.set("q", q);
  return `channels?${params}`;
}

function openChannel(name) {
  state.channel = name;
  state.channelGone = false;
  $("channel-members").hidden = false;
  $("members-of").textContent = name;
  refreshMembers();
}

async function refreshMembers() {
  if (state.channel === null || state.channelGone) return;
  const name = state.channel;
  const list = $("members-list");
  // The connection list filtered by channel answers 200 even once the channel is gone.
  let members;
  try {
    members = await api(`connections?${new URLSearchParams({ channel: name, limit: String(CONNECTION_LIMIT) })}`);
  } catch (error) {
    if (state.channel === name) list.replaceChildren(el("li", error.message, "muted"));
    return;
  }
  if (state.channel !== name) return;
  state.channelGone = members.total === 0; // reopened by a click on the channel
  if (state.channelGone) {
    list.replaceChildren(el("li", "(channel gone: no members)", "muted"));
    return;
  }
  list.replaceChildren(
    ...members.connections.map((conn) => {
      const item = el("li", conn.id);
      item.dataset.id = conn.id;
      item.append(el("span", `  ${userLabel(conn.user)} · ${conn.remote}`));
      item.addEventListener("click", () => select(conn.id));
      return item;
    }),
  );
}

// ---------- one connection ----------

function select(id) {
  state.selected = id;
  state.selectedGone = false;
  for (const row of $("connections").tBodies[0].rows) row.classList.toggle("selected", row.dataset.id === id);
  $("action-result").textContent = "";
  refreshDetails();
}

async function refreshDetails() {
  const id = state.selected;
  if (!id || state.selectedGone) return;
  // The list endpoint filtered by id answers 200 whether or not the connection is still
  // open, so a closed one costs no failed request (and no console error).
  let list;
  try {
    list = await api(`connections?${new URLSearchParams({ q: id, limit: "5" })}`);
  } catch {
    return; // the status line shows refresh failures
  }
  if (state.selected !== id) return;
  const conn = list.connections.find((c) => c.id === id);
  if (conn) {
    state.selectedInfo = conn;
    renderDetails(conn, false);
    return;
  }
  state.selectedGone = true;
  if (state.selectedInfo && state.selectedInfo.id === id) renderDetails(state.selectedInfo, true);
  else $("details").replaceChildren(el("p", `${id}: closed`, "muted"));
}

function renderDetails(conn, gone) {
  const list = el("dl");
  const items = [
    ["id", conn.id],
    ["state", gone ? "closed" : "open"],
    ["user", userLabel(conn.user)],
    ["user id", conn.user.id],
    ["roles", (conn.user.roles || []).join(", ") || "–"],
    ["remote", conn.remote],
    ["path", conn.path],
    ["channels", conn.channels.join(", ") || "–"],
    ["connected", fmtSince(conn.connected_at)],
    ["worker", conn.worker],
    ["messages in / out", `${fmtInt(conn.messages_in)} / ${fmtInt(conn.messages_out)}`],
    ["bytes in / out", `${fmtBytes(conn.bytes_in)} / ${fmtBytes(conn.bytes_out)}`],
    ["out-queue", fmtBytes(conn.queued_bytes)],
  ];
  for (const [key, value] of items) list.append(el("dt", key), el("dd", value));
  $("details").replaceChildren(list);
  $("details").dataset.id = conn.id;
  $("details").dataset.state = gone ? "closed" : "open";
  for (const id of ["send-here", "disconnect", "disconnect-notify"]) $(id).disabled = gone;
}

async function disconnect(notify) {
  const id = state.selected;
  if (!id) return;
  try {
    await post(`disconnect/${id}`, { notify });
    setResult($("action-result"), true, notify ? "sent close-connection and closed" : "closed");
  } catch (error) {
    setResult($("action-result"), false, error.message);
  }
  refresh();
}

// ---------- send ----------

const TARGETS = {
  connection: { label: "connection id", placeholder: "36-character connection id", field: "id" },
  channel: { label: "channel", placeholder: "channel name", field: "channel" },
  user: { label: "user id", placeholder: "user id", field: "user" },
  all: { label: "everyone", placeholder: "every open connection", field: null },
};

function onKindChange() {
  const target = TARGETS[$("send-kind").value];
  const label = $("send-target-label");
  label.firstChild.textContent = `${target.label} `;
  $("send-target").placeholder = target.placeholder;
  $("send-target").disabled = target.field === null;
  validateSend();
}

/// The param as JSON, or an error message: empty means null.
function parsedParam() {
  const text = $("send-param").value.trim();
  if (!text) return { ok: true, value: null };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, error: `param is not valid JSON: ${error.message}` };
  }
}

function validateSend() {
  const param = parsedParam();
  const target = TARGETS[$("send-kind").value];
  let problem = param.ok ? "" : param.error;
  if (!problem && !$("send-cmd").value.trim()) problem = "cmd is required";
  if (!problem && target.field && !$("send-target").value.trim()) problem = `${target.label} is required`;
  if (!problem && target.field === "id" && !/^[0-9a-f-]{36}$/i.test($("send-target").value.trim())) problem = "a connection id has 36 characters";
  $("param-error").textContent = state.sendTouched ? problem : "";
  $("send-button").disabled = Boolean(problem);
  return problem ? null : param.value;
}

async function onSend(event) {
  event.preventDefault();
  const param = validateSend();
  if ($("send-button").disabled) return;
  const kind = $("send-kind").value;
  const body = { to: kind, cmd: $("send-cmd").value.trim(), param };
  if (TARGETS[kind].field) body[TARGETS[kind].field] = $("send-target").value.trim();
  try {
    const answer = await post("send", body);
    setResult($("send-result"), true, `sent "${body.cmd}" to ${answer.delivered} connection${answer.delivered === 1 ? "" : "s"}`);
  } catch (error) {
    setResult($("send-result"), false, error.message);
  }
}

function sendHere() {
  if (!state.selected) return;
  $("send-kind").value = "connection";
  onKindChange();
  $("send-target").value = state.selected;
  validateSend();
  $("send-cmd").focus();
}

// ---------- the live tap ----------

const tap = {
  socket: null,
  paused: false,
  pending: [], // events received while paused (bounded)
  queue: [], // events waiting for the next frame
  events: [], // the last TAP_MAX_ROWS events, for re-filtering
  received: 0,
  droppedByServer: 0,
  droppedHere: 0,
  retry: 1000,
  scheduled: false,
};

function tapUrl() {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/admin/api/tap`;
}

function setTapState(text) {
  $("tap-state").textContent = text;
}

function openTap() {
  if (tap.socket) return;
  if (state.status && state.status.tap === false) {
    setTapState("not available on this server");
    return;
  }
  let socket;
  try {
    socket = new WebSocket(tapUrl());
  } catch (error) {
    setTapState(`unavailable: ${error.message}`);
    return;
  }
  tap.socket = socket;
  setTapState("connecting…");
  socket.onopen = () => {
    tap.retry = 1000;
    setTapState("streaming");
  };
  socket.onmessage = (message) => onTapMessage(message.data);
  socket.onclose = () => {
    tap.socket = null;
    setTapState(`disconnected; retrying in ${Math.round(tap.retry / 1000)} s`);
    setTimeout(openTap, tap.retry);
    tap.retry = Math.min(tap.retry * 2, 30000);
  };
}

function onTapMessage(data) {
  let message;
  try {
    message = JSON.parse(data);
  } catch {
    return;
  }
  if (message.cmd === "tap-dropped") {
    tap.droppedByServer += Number((message.param && message.param.count) || 0);
  } else if (message.cmd === "tap" && message.param) {
    tap.received += 1;
    if (tap.paused) {
      if (tap.pending.length < TAP_MAX_PENDING) tap.pending.push(message.param);
      else tap.droppedHere += 1;
    } else {
      enqueue(message.param);
    }
  }
  updateTapCounts();
}

function enqueue(event) {
  tap.queue.push(event);
  if (tap.queue.length > TAP_MAX_ROWS) tap.queue.splice(0, tap.queue.length - TAP_MAX_ROWS);
  if (!tap.scheduled) {
    tap.scheduled = true;
    requestAnimationFrame(flushTap);
  }
}

function tapMatches(event) {
  const q = $("tap-filter").value.trim().toLowerCase();
  if (!q) return true;
  return [event.channel, event.cmd, event.user, event.conn].some((v) => typeof v === "string" && v.toLowerCase().includes(q));
}

function tapRow(event) {
  const row = el("tr");
  const param = JSON.stringify(event.param === undefined ? null : event.param);
  const conn = event.conn || "";
  row.append(
    el("td", fmtTime(event.time), "mono"),
    el("td", event.dir === "in" ? "→ in" : "← out", `dir-${event.dir}`),
    el("td", conn ? conn.slice(0, 8) : "–", "mono"),
    el("td", event.target || (event.dir === "in" ? "server" : "–")),
    el("td", event.channel || event.user || "–"),
    el("td", event.cmd),
    el("td", param.length > TAP_PARAM_CHARS ? `${param.slice(0, TAP_PARAM_CHARS)}…` : param, "param"),
  );
  row.cells[2].title = conn;
  row.cells[6].title = param.slice(0, 4000);
  row.dataset.cmd = event.cmd;
  if (conn) row.addEventListener("click", () => select(conn));
  return row;
}

function flushTap() {
  tap.scheduled = false;
  const batch = tap.queue.splice(0);
  tap.events.push(...batch);
  if (tap.events.length > TAP_MAX_ROWS) tap.events.splice(0, tap.events.length - TAP_MAX_ROWS);
  const body = $("tap-rows");
  const rows = batch.filter(tapMatches).map(tapRow).reverse();
  body.prepend(...rows);
  while (body.rows.length > TAP_MAX_ROWS) body.deleteRow(-1);
  updateTapCounts();
}

function redrawTap() {
  const rows = tap.events.filter(tapMatches).map(tapRow).reverse();
  $("tap-rows").replaceChildren(...rows);
  updateTapCounts();
}

function updateTapCounts() {
  const parts = [`${fmtInt(tap.received)} received`, `${fmtInt($("tap-rows").rows.length)} shown`];
  if (tap.paused) parts.push(`${fmtInt(tap.pending.length)} held while paused`);
  const dropped = tap.droppedByServer + tap.droppedHere;
  if (dropped) parts.push(`${fmtInt(dropped)} dropped (rate limit or pause buffer)`);
  $("tap-counts").textContent = parts.join(" · ");
}

function togglePause() {
  tap.paused = !tap.paused;
  $("tap-pause").textContent = tap.paused ? "Resume" : "Pause";
  if (!tap.paused) {
    const held = tap.pending.splice(0);
    for (const event of held) enqueue(event);
  }
  updateTapCounts();
}

function clearTap() {
  tap.events = [];
  tap.pending = [];
  $("tap-rows").replaceChildren();
  updateTapCounts();
}

// ---------- the refresh loop ----------

async function refresh() {
  const [status, connections, users, channels] = await Promise.all([
    api("status"),
    api(connectionsPath()),
    api(usersPath()),
    api(channelsPath()),
  ]);
  renderStatus(status);
  renderConnections(connections);
  state.anonymous = countAnonymous(connections, users);
  renderUsers(users);
  renderChannels(channels);
  await Promise.all([refreshDetails(), refreshMembers()]);
}

async function loop() {
  try {
    await refresh();
    $("live").textContent = `live · ${new Date().toLocaleTimeString()}`;
    $("live").className = "live ok";
    openTap();
  } catch (error) {
    $("live").textContent = `refresh failed: ${error.message}`;
    $("live").className = "live down";
  }
  setTimeout(loop, REFRESH_MS);
}

function debounce(fn, ms) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

function start() {
  $("conn-filter").addEventListener("input", debounce(() => refresh().catch(() => {}), 200));
  $("chan-filter").addEventListener("input", debounce(() => refresh().catch(() => {}), 200));
  $("user-filter").addEventListener("input", debounce(() => refresh().catch(() => {}), 200));
  $("members-close").addEventListener("click", () => {
    state.channel = null;
    $("channel-members").hidden = true;
  });
  $("disconnect").addEventListener("click", () => disconnect(false));
  $("disconnect-notify").addEventListener("click", () => disconnect(true));
  $("send-here").addEventListener("click", sendHere);
  $("send-kind").addEventListener("change", onKindChange);
  for (const id of ["send-target", "send-cmd", "send-param"]) {
    $(id).addEventListener("input", () => {
      state.sendTouched = true;
      validateSend();
    });
  }
  $("send-form").addEventListener("submit", onSend);
  $("tap-pause").addEventListener("click", togglePause);
  $("tap-clear").addEventListener("click", clearTap);
  $("tap-filter").addEventListener("input", redrawTap);
  onKindChange();
  loop();
}

document.addEventListener("DOMContentLoaded", start);
