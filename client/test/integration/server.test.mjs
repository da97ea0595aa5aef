// server.test.mjs — the client against the real switchyard binary (SWITCHYARD_BIN, default
// ../target/release/switchyard), started by the test on a free port: connect, echo, chat between
// two clients, online-update, join/leave rooms, the bad-JSON error path, the built-in heartbeat,
// and the served assets (/client/switchyard.js, /example).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { WebSocket } from "ws";
import { startServer } from "../helpers/server.mjs";
import { closeAllClients, connectClient } from "../helpers/clients.mjs";
import { waitFor } from "../helpers/wait.mjs";

let server;
const open = (channel, options) => connectClient(server.socketUrl(channel), options);

before(async () => {
  server = await startServer();
});

after(async () => {
  closeAllClients();
  await server?.stop();
});

test("connect: the socket opens and reports state open", { timeout: 30_000 }, async () => {
  const client = await open("it-connect");
  assert.equal(client.socket.state, "open");
  assert.deepEqual(client.opens.map((o) => o.reconnected), [false]);
});

test("echo: the same param comes back to the sender only", { timeout: 30_000 }, async () => {
  const a = await open("it-echo");
  const b = await open("it-echo");
  const param = { n: 42, nested: { list: [1, "two", null] }, text: "héllo ✓" };
  assert.equal(a.socket.send({ cmd: "echo", param }), "sent");
  const echo = await a.received((m) => m.cmd === "echo");
  assert.deepEqual(echo.param, param);
  assert.ok(await b.silentFor((m) => m.cmd === "echo", 300), "echo goes to the sender only");
});

test("chat between two clients: both get {user, text, time} with from and channel", { timeout: 30_000 }, async () => {
  const a = await open("it-chat");
  const b = await open("it-chat");
  a.socket.send({ cmd: "chat", param: { text: "hello b" } });
  const atB = await b.received((m) => m.cmd === "chat" && m.param.text === "hello b");
  const atA = await a.received((m) => m.cmd === "chat" && m.param.text === "hello b");
  assert.equal(atB.channel, "it-chat");
  assert.match(atB.from, /^[0-9a-f-]{36}$/);
  assert.equal(atA.from, atB.from, "the sender gets its own message, from itself");
  assert.equal(typeof atB.param.user, "string");
  assert.equal(typeof atB.param.time, "number");
  b.socket.send({ cmd: "chat", param: { text: "hello a" } });
  const reply = await a.received((m) => m.cmd === "chat" && m.param.text === "hello a");
  assert.notEqual(reply.from, atA.from);
});

test("online-update: the others hear about a join and a leave", { timeout: 30_000 }, async () => {
  const a = await open("it-online");
  const b = await open("it-online");
  const joined = await a.received((m) => m.cmd === "online-update" && m.param.connected === true);
  b.socket.send({ cmd: "chat", param: { text: "me" } });
  const bChat = await a.received((m) => m.cmd === "chat" && m.param.text === "me");
  assert.equal(joined.param.userID, bChat.from, "userID of an anonymous user is its connection id");
  b.close();
  const left = await a.received((m) => m.cmd === "online-update" && m.param.connected === false);
  assert.equal(left.param.userID, bChat.from);
});

test("join and leave a room: chat to the room reaches members only while joined", { timeout: 30_000 }, async () => {
  const a = await open("it-rooms-a");
  const b = await open("it-rooms-b");
  a.socket.join("it-room-x");
  b.socket.join("it-room-x");
  assert.deepEqual(b.socket.rooms, ["it-room-x"]);
  // b's join is processed when b's frame arrives; retry a's chat until b hears it.
  await waitFor(
    async () => {
      a.socket.send({ channel: "it-room-x", cmd: "chat", param: { text: "in room" } });
      return b.received((m) => m.param?.text === "in room", { timeoutMs: 300 }).catch(() => false);
    },
    { timeoutMs: 5000, what: "b hearing the room" },
  );
  const heard = b.messages.find((m) => m.param?.text === "in room");
  assert.equal(heard.channel, "it-room-x");
  b.socket.leave("it-room-x");
  assert.deepEqual(b.socket.rooms, []);
  // b proves its leave was processed by echoing after it (frames of one connection are in order).
  b.socket.send({ cmd: "echo", param: "after-leave" });
  await b.received((m) => m.cmd === "echo" && m.param === "after-leave");
  a.socket.send({ channel: "it-room-x", cmd: "chat", param: { text: "after leave" } });
  await a.received((m) => m.param?.text === "after leave"); // a is still a member
  assert.ok(await b.silentFor((m) => m.param?.text === "after leave", 300), "b left: it hears nothing");
});

test("bad JSON to the server: an error message comes back and the connection stays open", { timeout: 30_000 }, async () => {
  const a = await open("it-bad-json");
  assert.equal(a.socket.sendRaw("{this is not json"), true);
  const error = await a.received((m) => m.cmd === "error");
  assert.equal(typeof error.param.message, "string");
  assert.ok(error.param.message.length > 0);
  assert.equal(a.socket.state, "open");
  a.socket.send({ cmd: "no-such-command" });
  const unknown = await a.received((m) => m.cmd === "error" && m !== error);
  assert.equal(typeof unknown.param.message, "string");
  a.socket.send({ cmd: "echo", param: "still open" });
  await a.received((m) => m.cmd === "echo" && m.param === "still open");
  assert.equal(a.closes.length, 0);
  assert.equal(a.errors.length, 0, "server errors are messages, not client errors");
});

test("heartbeat: the server answers {cmd:heartbeat,param:null} to the sender, never to the app", { timeout: 30_000 }, async () => {
  const raw = new WebSocket(server.socketUrl("it-heartbeat"));
  const frames = [];
  raw.on("message", (data) => frames.push(data.toString()));
  const rawOpen = new Promise((resolve, reject) => {
    raw.once("open", resolve);
    raw.once("error", reject);
  });
  const peer = await open("it-heartbeat");
  await rawOpen;
  raw.send('{"cmd":"heartbeat"}');
  await waitFor(() => frames.some((f) => JSON.parse(f).cmd === "heartbeat"), { what: "heartbeat reply" });
  assert.deepEqual(
    frames.map((f) => JSON.parse(f)).find((m) => m.cmd === "heartbeat"),
    { cmd: "heartbeat", param: null },
  );
  assert.ok(await peer.silentFor((m) => m.cmd === "heartbeat", 200), "not sent to the channel");
  raw.close();
});

test("the client's own heartbeat keeps a quiet connection open and is answered", { timeout: 30_000 }, async () => {
  const a = await open("it-quiet", { heartbeat: { idleMs: 150, timeoutMs: 400 } });
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(a.socket.state, "open");
  assert.equal(a.closes.length, 0, "no heartbeat timeout: the server answered");
  assert.equal(a.messages.filter((m) => m.cmd === "heartbeat").length, 0);
});

/** The connection id of a client: the `from` of its own chat message. */
async function connectionId(client, channel) {
  const marker = `whoami-${Math.random()}`;
  client.socket.send({ cmd: "chat", param: { text: marker } });
  const own = await client.received((m) => m.cmd === "chat" && m.param?.text === marker);
  assert.equal(own.channel, channel);
  return own.from;
}

/** POST /admin/api/disconnect/{id} as a same-origin loopback client (no --admin-token). */
async function adminDisconnect(id, notify) {
  const response = await fetch(`${server.httpUrl}/admin/api/disconnect/${id}`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: server.httpUrl },
    body: JSON.stringify({ notify }),
  });
  const body = await response.text();
  assert.equal(response.status, 200, `admin disconnect answered ${response.status}: ${body}`);
}

test("admin disconnect with notify sends close-connection: the client stops for good", { timeout: 30_000 }, async () => {
  const a = await open("it-admin-notify", { backoff: { initialMs: 50, maxMs: 100 } });
  await adminDisconnect(await connectionId(a, "it-admin-notify"), true);
  await waitFor(() => a.socket.state === "closed", { what: "closed for good" });
  assert.ok(a.messages.some((m) => m.cmd === "close-connection"), "close-connection was delivered");
  assert.equal(a.closes.at(-1).willReconnect, false);
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(a.opens.length, 1, "it did not reconnect");
  assert.equal(a.socket.state, "closed");
});

test("admin disconnect without notify: the client reconnects by itself", { timeout: 30_000 }, async () => {
  const a = await open("it-admin-plain", { backoff: { initialMs: 50, maxMs: 100 } });
  await adminDisconnect(await connectionId(a, "it-admin-plain"), false);
  await a.opened(2);
  assert.equal(a.closes[0].willReconnect, true);
  assert.equal(a.socket.state, "open");
});

test("the server serves the committed client at /client/switchyard.js and the page at /example", { timeout: 30_000 }, async () => {
  const js = await fetch(`${server.httpUrl}/client/switchyard.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get("content-type") ?? "", /javascript/);
  const served = await js.text();
  const committed = readFileSync(new URL("../../dist/switchyard.js", import.meta.url), "utf8");
  assert.equal(served, committed, "the binary embeds the current dist/switchyard.js (rebuild the server?)");
  const page = await fetch(`${server.httpUrl}/example`);
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /from "\/client\/switchyard\.js"/);
});
