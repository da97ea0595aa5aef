// presence.test.mjs — presenceChange normalises both presence forms (the Go module's
// online-update and the coalesced online-updates), and Socket.onPresence delivers them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { presenceChange, Socket, SocketError } from "../../dist/switchyard.js";
import { makeFakeWebSocket } from "../helpers/fake-websocket.mjs";

const isProtocolError = (error) => error instanceof SocketError && error.kind === "protocol";

test("online-update {connected: true} is a change of one join", () => {
  const change = presenceChange({ channel: "c", cmd: "online-update", param: { userID: "ann", connected: true } });
  assert.deepEqual(change, {
    channel: "c",
    joined: ["ann"],
    left: [],
    joinedCount: 1,
    leftCount: 0,
    truncated: false,
    coalesced: false,
  });
});

test("online-update {connected: false} is a change of one leave", () => {
  const change = presenceChange({ channel: "c", cmd: "online-update", param: { userID: "bob", connected: false } });
  assert.deepEqual(
    [change.joined, change.left, change.joinedCount, change.leftCount, change.truncated],
    [[], ["bob"], 0, 1, false],
  );
});

test("online-updates keeps the lists and the exact counts", () => {
  const param = { joined: ["a", "b"], left: ["c"], joined_count: 2, left_count: 1, truncated: false };
  assert.deepEqual(presenceChange({ channel: "big", cmd: "online-updates", param }), {
    channel: "big",
    joined: ["a", "b"],
    left: ["c"],
    joinedCount: 2,
    leftCount: 1,
    truncated: false,
    coalesced: true,
  });
});

test("online-updates truncated: counts larger than the lists, truncated true", () => {
  const joined = Array.from({ length: 16 }, (_, i) => `u${i}`);
  const param = { joined, left: [], joined_count: 2500, left_count: 0, truncated: true };
  const change = presenceChange({ channel: "big", cmd: "online-updates", param });
  assert.equal(change.joined.length, 16);
  assert.equal(change.joinedCount, 2500);
  assert.equal(change.truncated, true);
});

test("online-updates normalisation: missing counts count the lists; counts beyond the lists mean truncated", () => {
  const bare = presenceChange({ cmd: "online-updates", param: { joined: ["a"] } });
  assert.deepEqual([bare.joined, bare.left, bare.joinedCount, bare.leftCount, bare.truncated], [["a"], [], 1, 0, false]);
  assert.equal(bare.channel, undefined);
  const silent = presenceChange({ cmd: "online-updates", param: { joined: ["a"], left: [], joined_count: 5, left_count: 0 } });
  assert.equal(silent.truncated, true, "a count above its list is a truncated list, flag or not");
  const nonsense = presenceChange({ cmd: "online-updates", param: { joined: ["a", "b"], left: [], joined_count: 1, left_count: -3 } });
  assert.deepEqual([nonsense.joinedCount, nonsense.leftCount], [2, 0], "a count below its list is not believed");
});

test("other commands are not presence", () => {
  assert.equal(presenceChange({ cmd: "chat", param: { userID: "x", connected: true } }), undefined);
});

test("malformed presence params throw a protocol SocketError", () => {
  for (const param of [null, "x", { userID: 1, connected: true }, { userID: "a" }, { userID: "a", connected: "yes" }]) {
    assert.throws(() => presenceChange({ cmd: "online-update", param }), isProtocolError, JSON.stringify(param));
  }
  for (const param of [null, [], { joined: "a" }, { joined: [1] }, { joined: [], left: [null] }]) {
    assert.throws(() => presenceChange({ cmd: "online-updates", param }), isProtocolError, JSON.stringify(param));
  }
});

function openSocket() {
  const FakeWebSocket = makeFakeWebSocket();
  const seen = { messages: [], errors: [] };
  const socket = new Socket({
    url: "ws://h/s",
    WebSocket: FakeWebSocket,
    heartbeat: false,
    onMessage: (m) => seen.messages.push(m),
    onError: (e) => seen.errors.push(e),
  });
  FakeWebSocket.last.open();
  return { socket, server: FakeWebSocket.last, seen };
}

test("onPresence gets both forms as changes, in order; on(cmd) still sees the raw messages", () => {
  const { socket, server, seen } = openSocket();
  const changes = [];
  const raw = [];
  socket.onPresence((change) => changes.push(change));
  socket.on("online-updates", (m) => raw.push(m.param.joined_count));
  server.receive({ channel: "c", cmd: "online-update", param: { userID: "ann", connected: true } });
  server.receive({ channel: "c", cmd: "chat", param: { text: "not presence" } });
  server.receive({
    channel: "c",
    cmd: "online-updates",
    param: { joined: ["bob", "cid"], left: ["ann"], joined_count: 2, left_count: 1, truncated: false },
  });
  assert.deepEqual(
    changes.map((c) => [c.channel, c.joined, c.left, c.coalesced]),
    [
      ["c", ["ann"], [], false],
      ["c", ["bob", "cid"], ["ann"], true],
    ],
  );
  assert.deepEqual(raw, [2]);
  assert.equal(seen.messages.length, 3, "onMessage sees every message");
  socket.close();
});

test("onPresence returns an unsubscribe function; other handlers stay", () => {
  const { socket, server } = openSocket();
  const first = [];
  const second = [];
  const stop = socket.onPresence((c) => first.push(c.joined[0]));
  socket.onPresence((c) => second.push(c.joined[0]));
  server.receive({ cmd: "online-update", param: { userID: "a", connected: true } });
  stop();
  stop(); // twice is harmless
  server.receive({ cmd: "online-update", param: { userID: "b", connected: true } });
  assert.deepEqual(first, ["a"]);
  assert.deepEqual(second, ["a", "b"]);
  assert.throws(() => socket.onPresence("nope"), SocketError);
  socket.close();
});

test("a malformed presence message goes to onError (protocol) and the connection stays; a throwing handler is reported", () => {
  const { socket, server, seen } = openSocket();
  const changes = [];
  socket.onPresence(() => {
    throw new Error("boom");
  });
  socket.onPresence((c) => changes.push(c));
  server.receive({ cmd: "online-updates", param: { joined: "everyone" } });
  server.receive({ cmd: "online-update", param: { userID: "a", connected: false } });
  assert.deepEqual(seen.errors.map((e) => e.kind), ["protocol", "handler"]);
  assert.match(seen.errors[1].message, /onPresence threw: boom/);
  assert.deepEqual(changes.map((c) => c.left), [["a"]]);
  assert.equal(socket.state, "open");
  socket.close();
});
