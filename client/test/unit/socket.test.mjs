// socket.test.mjs — Socket behaviour against a fake WebSocket: constructor forms, handlers,
// bad input from the server, rooms restored after reconnect, close / close-connection, heartbeat.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Socket, SocketError } from "../../dist/switchyard.js";
import { makeFakeWebSocket } from "../helpers/fake-websocket.mjs";
import { sleep, waitFor } from "../helpers/wait.mjs";

function openSocket(options = {}) {
  const FakeWebSocket = makeFakeWebSocket();
  const seen = { messages: [], errors: [], opens: [], closes: [] };
  const socket = new Socket({
    url: "ws://h/s",
    WebSocket: FakeWebSocket,
    heartbeat: false,
    backoff: { initialMs: 5, maxMs: 20 },
    onMessage: (m) => seen.messages.push(m),
    onError: (e) => seen.errors.push(e),
    onOpen: (info) => seen.opens.push(info),
    onClose: (info) => seen.closes.push(info),
    ...options,
  });
  FakeWebSocket.last.open();
  return { socket, FakeWebSocket, seen, server: FakeWebSocket.last };
}

test("Go-compatible constructor: (debug, onOpen, onMessage, onError, url)", (t) => {
  const FakeWebSocket = makeFakeWebSocket();
  globalThis.WebSocket = FakeWebSocket;
  t.after(() => delete globalThis.WebSocket);
  const opened = [];
  const messages = [];
  const socket = new Socket(false, (info) => opened.push(info), (m) => messages.push(m), null, "ws://h/go");
  assert.equal(socket.url, "ws://h/go");
  assert.equal(socket.state, "connecting");
  FakeWebSocket.last.open();
  assert.equal(socket.state, "open");
  assert.deepEqual(opened, [{ reconnected: false }]);
  FakeWebSocket.last.receive({ cmd: "pong", param: { timestamp: 1 } });
  assert.deepEqual(messages, [{ cmd: "pong", param: { timestamp: 1 } }]);
  socket.close();
  assert.equal(socket.state, "closed");
});

test("without a global WebSocket and without the option, the constructor explains what to do", () => {
  assert.equal(globalThis.WebSocket, undefined);
  assert.throws(
    () => new Socket({ url: "ws://h/s" }),
    (error) => error instanceof SocketError && error.kind === "config" && /WebSocket option/.test(error.message),
  );
});

test("onMessage gets parsed messages; on(cmd) handlers get their command only; off removes", () => {
  const { socket, server, seen } = openSocket();
  const chats = [];
  const pongs = [];
  const stopChats = socket.on("chat", (m) => chats.push(m.param.text));
  socket.on("pong", (m) => pongs.push(m));
  socket.on("chat", (m) => chats.push(`again:${m.param.text}`));
  server.receive({ from: "c1", channel: "lobby", cmd: "chat", param: { user: "c1", text: "hi", time: 1 } });
  server.receive({ cmd: "pong", param: { timestamp: 5 } });
  stopChats();
  server.receive({ cmd: "chat", param: { text: "later" } });
  assert.deepEqual(chats, ["hi", "again:hi", "again:later"]);
  assert.equal(pongs.length, 1);
  assert.equal(seen.messages.length, 3);
  assert.equal(seen.messages[0].from, "c1");
  assert.equal(seen.messages[0].channel, "lobby");
  socket.close();
});

test("a missing param arrives as null", () => {
  const { socket, server, seen } = openSocket();
  server.receive('{"cmd":"close-soon"}');
  assert.deepEqual(seen.messages, [{ cmd: "close-soon", param: null }]);
  socket.close();
});

test("a handler that throws is reported to onError and the others still run", () => {
  const { socket, server, seen } = openSocket();
  const after = [];
  socket.on("x", () => {
    throw new Error("boom");
  });
  socket.on("x", () => after.push(1));
  server.receive({ cmd: "x", param: null });
  assert.deepEqual(after, [1]);
  assert.equal(seen.errors.length, 1);
  assert.equal(seen.errors[0].kind, "handler");
  assert.match(seen.errors[0].message, /boom/);
  assert.equal(socket.state, "open");
  socket.close();
});

test("bad JSON from the server goes to onError and the connection stays open", () => {
  const { socket, server, seen } = openSocket();
  server.receive("{not json");
  server.receive("[1,2]");
  server.receiveBinary(new Uint8Array([1, 2]));
  assert.deepEqual(seen.errors.map((e) => e.kind), ["parse", "protocol", "protocol"]);
  assert.equal(seen.errors[0].detail, "{not json");
  assert.equal(socket.state, "open");
  assert.equal(server.closedWith, null);
  server.receive({ cmd: "still-here", param: 1 });
  assert.equal(seen.messages.at(-1).cmd, "still-here");
  socket.close();
});

test("server error messages reach onMessage and on('error') as messages", () => {
  const { socket, server, seen } = openSocket();
  const errors = [];
  socket.on("error", (m) => errors.push(m.param));
  server.receive({ cmd: "error", param: { message: "unknown cmd", code: "unknown-cmd" } });
  assert.deepEqual(errors, [{ message: "unknown cmd", code: "unknown-cmd" }]);
  assert.equal(seen.errors.length, 0);
  socket.close();
});

test("join and leave send the example protocol's commands", () => {
  const { socket, server } = openSocket();
  socket.join("room-a");
  socket.join("room-b");
  socket.leave("room-a");
  assert.deepEqual(server.sentMessages(), [
    { cmd: "join-room", param: { room: "room-a" } },
    { cmd: "join-room", param: { room: "room-b" } },
    { cmd: "leave-room", param: { room: "room-a" } },
  ]);
  assert.deepEqual(socket.rooms, ["room-b"]);
  assert.throws(() => socket.join(""), SocketError);
  socket.close();
});

test("after a reconnect: rooms are joined again first, then queued messages in order", async () => {
  const { socket, FakeWebSocket, seen } = openSocket();
  socket.join("room-a");
  socket.join("room-b");
  socket.leave("room-a");
  FakeWebSocket.last.drop(1001, "server going away");
  assert.equal(socket.state, "connecting");
  assert.deepEqual(seen.closes, [{ code: 1001, reason: "server going away", willReconnect: true }]);
  socket.join("room-c"); // joined while down: sent once, on open
  assert.equal(socket.send({ channel: "room-b", cmd: "chat", param: { text: "1" } }), "queued");
  assert.equal(socket.send({ channel: "room-c", cmd: "chat", param: { text: "2" } }), "queued");
  const second = await waitFor(() => FakeWebSocket.instances[1], { what: "reconnect" });
  second.open();
  assert.deepEqual(second.sentMessages(), [
    { cmd: "join-room", param: { room: "room-b" } },
    { cmd: "join-room", param: { room: "room-c" } },
    { channel: "room-b", cmd: "chat", param: { text: "1" } },
    { channel: "room-c", cmd: "chat", param: { text: "2" } },
  ]);
  assert.deepEqual(seen.opens, [{ reconnected: false }, { reconnected: true }]);
  socket.close();
});

test("close() stops for good: no reconnect, state closed, onClose says so", async () => {
  const { socket, FakeWebSocket, seen } = openSocket();
  const server = FakeWebSocket.last;
  socket.close();
  assert.equal(socket.state, "closed");
  assert.deepEqual(server.closedWith, { code: 1000, reason: "" });
  assert.deepEqual(seen.closes, [{ code: 1000, reason: "", willReconnect: false }]);
  server.drop(1000); // the real close event arrives later: ignored
  await sleep(40);
  assert.equal(FakeWebSocket.instances.length, 1);
  assert.equal(seen.closes.length, 1);
});

test("close() while waiting to reconnect cancels the retry", async () => {
  const { socket, FakeWebSocket } = openSocket({ backoff: { initialMs: 30, maxMs: 30 }, random: () => 0.99 });
  FakeWebSocket.last.drop(1006);
  socket.close();
  assert.equal(socket.state, "closed");
  await sleep(60);
  assert.equal(FakeWebSocket.instances.length, 1);
});

test("close-connection from the server: delivered, then closed for good", async () => {
  const { socket, FakeWebSocket, seen } = openSocket();
  const server = FakeWebSocket.last;
  server.receive({ cmd: "close-connection", param: null });
  assert.equal(seen.messages.at(-1).cmd, "close-connection");
  assert.equal(socket.state, "closed");
  assert.deepEqual(server.closedWith, { code: 1000, reason: "close-connection" });
  assert.equal(seen.closes.at(-1).willReconnect, false);
  assert.equal(socket.send({ cmd: "x" }), "dropped");
  await sleep(40);
  assert.equal(FakeWebSocket.instances.length, 1);
});

test("a server restart (close 1001) reconnects by itself", async () => {
  const { socket, FakeWebSocket } = openSocket();
  FakeWebSocket.last.drop(1001, "");
  const second = await waitFor(() => FakeWebSocket.instances[1], { what: "reconnect" });
  second.open();
  assert.equal(socket.state, "open");
  socket.close();
});

test("heartbeat: sent after idleMs of silence, its reply is swallowed, traffic postpones it", async () => {
  const { socket, server, seen } = openSocket({ heartbeat: { idleMs: 60, timeoutMs: 200 } });
  await sleep(30);
  server.receive({ cmd: "pong", param: null }); // traffic: the silence starts again
  await sleep(45);
  assert.deepEqual(server.sentMessages(), [], "no heartbeat while the server talks");
  await waitFor(() => server.sent.length === 1, { what: "heartbeat" });
  assert.deepEqual(server.sentMessages(), [{ cmd: "heartbeat", param: null }]);
  server.receive({ cmd: "heartbeat", param: null });
  assert.equal(seen.messages.filter((m) => m.cmd === "heartbeat").length, 0);
  await sleep(250);
  assert.equal(socket.state, "open", "answered heartbeat keeps the connection");
  assert.ok(server.sent.length >= 2, "heartbeats go on while idle");
  socket.close();
});

test("heartbeat: no reply within timeoutMs abandons the connection and reconnects", async () => {
  const { socket, FakeWebSocket, seen } = openSocket({ heartbeat: { idleMs: 30, timeoutMs: 40 } });
  const dead = FakeWebSocket.last;
  const second = await waitFor(() => FakeWebSocket.instances[1], { what: "reconnect after heartbeat timeout" });
  assert.deepEqual(dead.sentMessages(), [{ cmd: "heartbeat", param: null }]);
  assert.deepEqual(dead.closedWith, { code: 4000, reason: "heartbeat timeout" });
  assert.ok(seen.errors.some((e) => e.kind === "timeout"));
  assert.equal(seen.closes[0].willReconnect, true);
  second.open();
  assert.equal(socket.state, "open");
  socket.close();
});

test("a handshake that never opens is abandoned after connectTimeoutMs and retried", async () => {
  const FakeWebSocket = makeFakeWebSocket();
  const errors = [];
  const socket = new Socket({
    url: "ws://h/s",
    WebSocket: FakeWebSocket,
    connectTimeoutMs: 30,
    backoff: { initialMs: 5, maxMs: 5 },
    onError: (e) => errors.push(e.kind),
  });
  await waitFor(() => FakeWebSocket.instances.length >= 2, { what: "retry after connect timeout" });
  assert.ok(errors.includes("timeout"));
  socket.close();
});

test("stale events from an abandoned socket are ignored", async () => {
  const { socket, FakeWebSocket, seen } = openSocket({ heartbeat: { idleMs: 10, timeoutMs: 10 } });
  const dead = FakeWebSocket.last;
  await waitFor(() => FakeWebSocket.instances.length >= 2, { what: "reconnect" });
  const before = seen.messages.length;
  dead.receive({ cmd: "ghost", param: null });
  dead.drop(1006);
  assert.equal(seen.messages.length, before);
  socket.close();
});

test("debug logging goes to console.debug with a prefix", (t) => {
  const lines = [];
  t.mock.method(console, "debug", (...parts) => lines.push(parts.join(" ")));
  const { socket } = openSocket({ debug: true });
  socket.close();
  assert.ok(lines.some((line) => line.startsWith("[switchyard] connecting to ws://h/s")));
});

test("in a page, pagehide stops reconnecting; pageshow from the back/forward cache reconnects", async (t) => {
  const listeners = {};
  globalThis.document = {};
  globalThis.addEventListener = (type, fn) => (listeners[type] = fn);
  globalThis.removeEventListener = (type) => delete listeners[type];
  t.after(() => {
    delete globalThis.document;
    delete globalThis.addEventListener;
    delete globalThis.removeEventListener;
  });
  const { socket, FakeWebSocket } = openSocket();
  listeners.pagehide({ persisted: true });
  assert.equal(socket.state, "closed");
  FakeWebSocket.last.drop(1001);
  await sleep(30);
  assert.equal(FakeWebSocket.instances.length, 1, "no reconnect from a hidden page");
  listeners.pageshow({ persisted: true });
  assert.equal(FakeWebSocket.instances.length, 2);
  FakeWebSocket.last.open();
  assert.equal(socket.state, "open");
  socket.close();
  assert.deepEqual(Object.keys(listeners), [], "close() removes the page listeners");
});
