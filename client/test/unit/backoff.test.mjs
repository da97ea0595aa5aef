// backoff.test.mjs — exponential backoff: ceiling growth, cap, full jitter, and its use by Socket.
import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffCeiling, backoffDelay, DEFAULT_BACKOFF, Socket, SocketError } from "../../dist/switchyard.js";
import { makeFakeWebSocket } from "../helpers/fake-websocket.mjs";

const options = { initialMs: 100, maxMs: 1000, factor: 2, resetAfterMs: 50 };

test("defaults: 500 ms first ceiling, 30 s cap", () => {
  assert.equal(DEFAULT_BACKOFF.initialMs, 500);
  assert.equal(DEFAULT_BACKOFF.maxMs, 30_000);
  assert.equal(backoffCeiling(0, DEFAULT_BACKOFF), 500);
  assert.equal(backoffCeiling(100, DEFAULT_BACKOFF), 30_000);
  assert.equal(backoffCeiling(5000, DEFAULT_BACKOFF), 30_000, "huge attempts stay finite");
});

test("ceiling grows by the factor and stops at the cap", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => backoffCeiling(n, options)), [100, 200, 400, 800, 1000, 1000]);
});

test("full jitter: delay spans [0, ceiling) for random in [0, 1)", () => {
  assert.equal(backoffDelay(3, options, () => 0), 0);
  assert.equal(backoffDelay(3, options, () => 0.5), 400);
  assert.equal(backoffDelay(3, options, () => 0.999999), 799);
});

test("jitter is spread out: many draws stay in bounds, and cover low and high parts", () => {
  for (let attempt = 0; attempt < 12; attempt++) {
    const ceiling = backoffCeiling(attempt, options);
    const draws = Array.from({ length: 400 }, () => backoffDelay(attempt, options));
    assert.ok(draws.every((d) => Number.isInteger(d) && d >= 0 && d < ceiling), `attempt ${attempt} in bounds`);
    assert.ok(draws.some((d) => d < ceiling * 0.25), `attempt ${attempt} has low draws`);
    assert.ok(draws.some((d) => d > ceiling * 0.75), `attempt ${attempt} has high draws`);
    assert.ok(new Set(draws).size > 20, `attempt ${attempt} is not constant`);
  }
});

test("Socket rejects nonsense backoff options", () => {
  const FakeWebSocket = makeFakeWebSocket();
  assert.throws(() => new Socket({ url: "ws://h/s", WebSocket: FakeWebSocket, backoff: { initialMs: 0 } }), SocketError);
  assert.throws(() => new Socket({ url: "ws://h/s", WebSocket: FakeWebSocket, backoff: { initialMs: 10, maxMs: 5 } }), SocketError);
});

test("Socket's first retry waits random × initialMs", () => {
  const FakeWebSocket = makeFakeWebSocket();
  const scheduled = [];
  const socket = new Socket({
    url: "ws://h/s",
    WebSocket: FakeWebSocket,
    backoff: { initialMs: 100, maxMs: 1000, factor: 2 },
    random: () => 0.5,
    onReconnect: (info) => scheduled.push(info),
  });
  FakeWebSocket.last.fail();
  assert.equal(socket.state, "connecting");
  assert.deepEqual(scheduled, [{ attempt: 1, delayMs: 50 }]);
  socket.close();
  assert.equal(socket.state, "closed");
});

test("a connection that stayed up resets the backoff; a short one does not", async () => {
  const FakeWebSocket = makeFakeWebSocket();
  const scheduled = [];
  const socket = new Socket({
    url: "ws://h/s",
    WebSocket: FakeWebSocket,
    backoff: { initialMs: 4, maxMs: 64, factor: 2, resetAfterMs: 150 },
    random: () => 0.999,
    heartbeat: false,
    onReconnect: (info) => scheduled.push(info),
  });
  const nextSocket = async (count) => {
    while (FakeWebSocket.instances.length < count) await new Promise((r) => setTimeout(r, 2));
    return FakeWebSocket.instances[count - 1];
  };
  // Three failed attempts grow the ceiling: 4, 8, 16.
  (await nextSocket(1)).fail();
  (await nextSocket(2)).fail();
  (await nextSocket(3)).fail();
  // A short-lived connection does not reset: next ceiling is 32.
  const short = await nextSocket(4);
  short.open();
  short.drop(1001);
  // A connection that stays up past resetAfterMs resets: next ceiling is back to 4.
  const long = await nextSocket(5);
  long.open();
  await new Promise((r) => setTimeout(r, 170));
  long.drop(1001);
  await nextSocket(6);
  assert.deepEqual(
    scheduled.map((s) => s.delayMs),
    [3, 7, 15, 31, 3],
  );
  assert.deepEqual(scheduled.map((s) => s.attempt), [1, 2, 3, 4, 1]);
  socket.close();
});
