// queue.test.mjs — SendQueue bounds, and the Socket's queue while disconnected.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SendQueue, Socket, SocketError } from "../../dist/switchyard.js";
import { makeFakeWebSocket } from "../helpers/fake-websocket.mjs";

test("SendQueue keeps at most `limit` items and drops the oldest", () => {
  const queue = new SendQueue(3);
  assert.equal(queue.push("a"), undefined);
  assert.equal(queue.push("b"), undefined);
  assert.equal(queue.push("c"), undefined);
  assert.equal(queue.push("d"), "a");
  assert.equal(queue.push("e"), "b");
  assert.equal(queue.size, 3);
  assert.deepEqual(queue.drain(), ["c", "d", "e"]);
  assert.equal(queue.size, 0);
  assert.deepEqual(queue.drain(), []);
});

test("SendQueue with limit 0 keeps nothing", () => {
  const queue = new SendQueue(0);
  assert.equal(queue.push("a"), "a");
  assert.equal(queue.size, 0);
});

test("SendQueue rejects a bad limit", () => {
  for (const bad of [-1, 1.5, Number.NaN]) {
    assert.throws(() => new SendQueue(bad), SocketError);
  }
});

test("Socket queues while connecting, keeps the newest 100 by default, flushes them in order on open", () => {
  const FakeWebSocket = makeFakeWebSocket();
  const errors = [];
  const socket = new Socket({ url: "ws://h/s", WebSocket: FakeWebSocket, onError: (e) => errors.push(e) });
  const results = [];
  for (let i = 0; i < 105; i++) results.push(socket.send({ cmd: "chat", param: { text: `m${i}` } }));
  assert.deepEqual(new Set(results), new Set(["queued"]));
  assert.equal(socket.queued, 100);
  assert.equal(errors.length, 5);
  assert.ok(errors.every((e) => e.kind === "queue"));

  FakeWebSocket.last.open();
  const texts = FakeWebSocket.last.sentMessages().map((m) => m.param.text);
  assert.deepEqual(texts, Array.from({ length: 100 }, (_, i) => `m${i + 5}`));
  assert.equal(socket.queued, 0);
  socket.close();
});

test("maxQueue option bounds the queue", () => {
  const FakeWebSocket = makeFakeWebSocket();
  const socket = new Socket({ url: "ws://h/s", WebSocket: FakeWebSocket, maxQueue: 2 });
  socket.send({ cmd: "a" });
  socket.send({ cmd: "b" });
  socket.send({ cmd: "c" });
  FakeWebSocket.last.open();
  assert.deepEqual(FakeWebSocket.last.sentMessages().map((m) => m.cmd), ["b", "c"]);
  socket.close();
});

test("maxQueue 0 drops sends while disconnected", () => {
  const FakeWebSocket = makeFakeWebSocket();
  const socket = new Socket({ url: "ws://h/s", WebSocket: FakeWebSocket, maxQueue: 0 });
  assert.equal(socket.send({ cmd: "a" }), "dropped");
  socket.close();
});

test("send when open goes straight out, with channel and param null by default", () => {
  const FakeWebSocket = makeFakeWebSocket();
  const socket = new Socket({ url: "ws://h/s", WebSocket: FakeWebSocket });
  FakeWebSocket.last.open();
  assert.equal(socket.send({ cmd: "ping" }), "sent");
  assert.equal(socket.send({ channel: "room-1", cmd: "chat", param: { text: "hi" } }), "sent");
  assert.deepEqual(FakeWebSocket.last.sent, [
    '{"cmd":"ping","param":null}',
    '{"channel":"room-1","cmd":"chat","param":{"text":"hi"}}',
  ]);
  socket.close();
});

test("send after close() is dropped and a bad message throws", () => {
  const FakeWebSocket = makeFakeWebSocket();
  const socket = new Socket({ url: "ws://h/s", WebSocket: FakeWebSocket });
  assert.throws(() => socket.send({ cmd: "" }), SocketError);
  assert.throws(() => socket.send(null), SocketError);
  socket.close();
  assert.equal(socket.send({ cmd: "late" }), "dropped");
});
