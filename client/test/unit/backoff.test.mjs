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

/** A Socket on a fake WebSocket with mocked time (setTimeout and Date), recording its retries. */
function socketWithMockedTime(t, backoff, random = () => 0.999) {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
  const FakeWebSocket = makeFakeWebSocket();
  const scheduled = [];
  const socket = new Socket({
    url: "ws://h/s",
    WebSocket: FakeWebSocket,
    backoff,
    random,
    heartbeat: false,
    connectTimeoutMs: 1e9,
    onReconnect: (info) => scheduled.push(info),
  });
  /** Waits out the scheduled retry: the socket it opens. */
  const retry = () => {
    const before = FakeWebSocket.instances.length;
    t.mock.timers.tick(scheduled.at(-1).delayMs);
    assert.equal(FakeWebSocket.instances.length, before + 1, "the retry connected");
    return FakeWebSocket.last;
  };
  return { socket, FakeWebSocket, scheduled, retry };
}

test("a connection that stayed up resets the backoff; a short one does not", (t) => {
  const { socket, FakeWebSocket, scheduled, retry } = socketWithMockedTime(t, {
    initialMs: 4,
    maxMs: 64,
    factor: 2,
    resetAfterMs: 150,
  });
  // Failed attempts grow the ceiling 4, 8, 16, 32, but never past the outage so far (nor below
  // initialMs): retries scheduled at 0 ms (ceiling 4), 3 ms (min(8, 4)), 6 ms (min(16, 6)), and
  // after the short connection at 11 ms (min(32, 11)).
  FakeWebSocket.last.fail();
  retry().fail();
  retry().fail();
  // A short-lived connection does not reset the count, nor the outage clock.
  const short = retry();
  short.open();
  short.drop(1001);
  // A connection that stays up past resetAfterMs resets both: next ceiling is back to 4.
  const long = retry();
  long.open();
  t.mock.timers.tick(170);
  long.drop(1001);
  assert.deepEqual(
    scheduled.map((s) => s.delayMs),
    [3, 3, 5, 10, 3],
  );
  assert.deepEqual(scheduled.map((s) => s.attempt), [1, 2, 3, 4, 1]);
  socket.close();
});

test("backoffCeiling is capped by the outage so far, never below initialMs", () => {
  assert.equal(backoffCeiling(3, options), 800, "without an outage length: the exponential ceiling");
  assert.equal(backoffCeiling(3, options, 250), 250, "no wait longer than the outage has lasted");
  assert.equal(backoffCeiling(3, options, 30), 100, "but at least initialMs");
  assert.equal(backoffCeiling(1, options, 5_000), 200, "a long outage does not speed growth up");
  assert.equal(backoffCeiling(9, options, 60_000), 1000, "maxMs still caps");
  assert.equal(backoffDelay(3, options, () => 0.5, 250), 125);
});

test("after a server restart: every wait is at most the outage so far, so the client is back within twice the outage", (t) => {
  const backoff = { initialMs: 500, maxMs: 30_000, factor: 2, resetAfterMs: 5_000 };
  const { socket, FakeWebSocket, scheduled, retry } = socketWithMockedTime(t, backoff);
  FakeWebSocket.last.open();
  t.mock.timers.tick(60_000); // a long-lived connection
  const lostAt = Date.now();
  FakeWebSocket.last.drop(1001, "server shutting down");
  const outageMs = 2_000; // the server refuses connections for 2 s, then it is back
  let attempt = retry();
  while (Date.now() - lostAt < outageMs) {
    const downFor = Date.now() - lostAt;
    attempt.fail(); // refused
    const { delayMs } = scheduled.at(-1);
    assert.ok(delayMs < Math.max(backoff.initialMs, downFor), `waits ${delayMs} ms after ${downFor} ms down`);
    attempt = retry();
  }
  attempt.open();
  const backAfter = Date.now() - lostAt;
  assert.ok(backAfter < 2 * outageMs + backoff.initialMs, `back ${backAfter} ms after the loss`);
  // Without the cap the ceilings would be 500, 1000, 2000, 4000: the 4th retry could wait 4 s.
  assert.deepEqual(
    scheduled.map((s) => s.delayMs),
    [499, 499, 997, 1993],
    "ceilings 500, max(500, 499), min(2000, 998), min(4000, 1995)",
  );
  socket.close();
});

test("a server that stays down is not hammered: retries still thin out", (t) => {
  const backoff = { initialMs: 500, maxMs: 30_000, factor: 2, resetAfterMs: 5_000 };
  const { socket, FakeWebSocket, scheduled, retry } = socketWithMockedTime(t, backoff);
  FakeWebSocket.last.fail();
  const start = Date.now();
  while (Date.now() - start < 120_000) retry().fail();
  assert.ok(scheduled.length <= 30, `${scheduled.length} retries in 2 minutes`);
  assert.equal(scheduled.at(-1).delayMs, 29_970, "the cap is reached");
  socket.close();
});

test("early retries that were refused quickly do not leave a client waiting far longer than the outage", (t) => {
  const backoff = { initialMs: 500, maxMs: 30_000, factor: 2, resetAfterMs: 5_000 };
  const draws = [0.01, 0.01, 0.01, 0.999]; // three early retries, then the largest possible wait
  const { socket, FakeWebSocket, scheduled, retry } = socketWithMockedTime(t, backoff, () => draws.shift() ?? 0.5);
  FakeWebSocket.last.open();
  t.mock.timers.tick(10_000);
  FakeWebSocket.last.drop(1001, "server shutting down");
  retry().fail(); // refused 5 ms after the loss
  retry().fail(); // 10 ms
  retry().fail(); // 15 ms: the exponential ceiling alone is now 4000 ms
  assert.deepEqual(
    scheduled.map((s) => s.delayMs),
    [5, 5, 5, 499],
    "after 15 ms down the 4th retry waits less than max(initialMs, 15 ms), not up to 4 s",
  );
  socket.close();
});
