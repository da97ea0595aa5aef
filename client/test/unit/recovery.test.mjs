// recovery.test.mjs — channel positions and recovery against a fake WebSocket: duplicates dropped
// by offset, a new epoch adopted, since/epoch sent on reconnect (upgrade URL) and re-join
// (join-room), `position` / `recovered` read, the outcome surfaced, `recover: false`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ChannelPositions, positionUpdate, Socket, SocketError } from "../../dist/switchyard.js";
import { makeFakeWebSocket } from "../helpers/fake-websocket.mjs";
import { waitFor } from "../helpers/wait.mjs";

function openSocket(options = {}) {
  const FakeWebSocket = makeFakeWebSocket();
  const seen = { messages: [], errors: [], recovered: [] };
  const socket = new Socket({
    url: "ws://h/s?ch=lobby",
    WebSocket: FakeWebSocket,
    heartbeat: false,
    backoff: { initialMs: 5, maxMs: 20 },
    onMessage: (m) => seen.messages.push(m),
    onError: (e) => seen.errors.push(e),
    ...options,
  });
  socket.onRecovered((outcome) => seen.recovered.push(outcome));
  FakeWebSocket.last.open();
  return { socket, FakeWebSocket, seen, server: FakeWebSocket.last };
}

/** Drops the current connection and waits for the next one, opened. */
async function reconnect(FakeWebSocket) {
  const count = FakeWebSocket.instances.length;
  FakeWebSocket.last.drop(1006);
  const next = await waitFor(() => FakeWebSocket.instances[count], { what: "reconnect" });
  next.open();
  return next;
}

const chat = (channel, offset, epoch, text = `m${offset}`) => ({ channel, cmd: "chat", param: { text }, offset, epoch });
const texts = (seen, channel) => seen.messages.filter((m) => m.cmd === "chat" && m.channel === channel).map((m) => m.param.text);

test("ChannelPositions: adopts offsets, calls a repeat in the same epoch a duplicate, adopts a new epoch", () => {
  const positions = new ChannelPositions();
  assert.equal(positions.get("a"), undefined);
  assert.equal(positions.observe(chat("a", 1, "e1")), true);
  assert.equal(positions.observe(chat("a", 2, "e1")), true);
  assert.equal(positions.observe(chat("a", 2, "e1")), false, "same offset again");
  assert.equal(positions.observe(chat("a", 1, "e1")), false, "older offset");
  assert.deepEqual(positions.get("a"), { offset: 2, epoch: "e1" });
  assert.equal(positions.observe(chat("a", 1, "e2")), true, "new epoch: history lost, start again");
  assert.deepEqual(positions.get("a"), { offset: 1, epoch: "e2" });
  assert.equal(positions.observe(chat("b", 1, "e1")), true, "channels are independent");
  positions.forget("a");
  assert.equal(positions.get("a"), undefined);
});

test("ChannelPositions: messages without a usable position always pass and change nothing", () => {
  const positions = new ChannelPositions();
  positions.set("a", { offset: 5, epoch: "e" });
  for (const message of [
    { channel: "a", cmd: "chat", param: null },
    { cmd: "chat", param: null, offset: 1, epoch: "e" },
    { channel: "a", cmd: "chat", param: null, offset: "1", epoch: "e" },
    { channel: "a", cmd: "chat", param: null, offset: -1, epoch: "e" },
    { channel: "a", cmd: "chat", param: null, offset: 1.5, epoch: "e" },
    { channel: "a", cmd: "chat", param: null, offset: 1, epoch: 7 },
  ]) {
    assert.equal(positions.observe(message), true, JSON.stringify(message));
  }
  assert.deepEqual(positions.get("a"), { offset: 5, epoch: "e" });
  const copy = positions.get("a");
  copy.offset = 99;
  assert.equal(positions.get("a").offset, 5, "get returns a copy");
});

test("positionUpdate reads position and recovered, rejects bad shapes, ignores other commands", () => {
  assert.deepEqual(positionUpdate({ channel: "a", cmd: "position", param: { offset: 0, epoch: "e" } }), {
    cmd: "position",
    channel: "a",
    position: { offset: 0, epoch: "e" },
  });
  assert.deepEqual(
    positionUpdate({ channel: "a", cmd: "recovered", param: { recovered: false, offset: 9, epoch: "f" } }),
    {
      cmd: "recovered",
      channel: "a",
      position: { offset: 9, epoch: "f" },
      outcome: { channel: "a", recovered: false, offset: 9, epoch: "f" },
    },
  );
  assert.equal(positionUpdate(chat("a", 1, "e")), undefined);
  for (const bad of [
    { cmd: "position", param: { offset: 0, epoch: "e" } },
    { channel: "a", cmd: "position", param: null },
    { channel: "a", cmd: "position", param: { offset: "0", epoch: "e" } },
    { channel: "a", cmd: "recovered", param: { offset: 1, epoch: "e" } },
    { channel: "a", cmd: "recovered", param: { recovered: true, offset: 1 } },
  ]) {
    assert.throws(() => positionUpdate(bad), (e) => e instanceof SocketError && e.kind === "protocol", JSON.stringify(bad));
  }
});

test("a message at or below the last offset of its epoch is dropped: not delivered to any handler", () => {
  const { socket, server, seen } = openSocket();
  const onChat = [];
  socket.on("chat", (m) => onChat.push(m.offset));
  server.receive(chat("lobby", 1, "e1"));
  server.receive(chat("lobby", 2, "e1"));
  server.receive(chat("lobby", 2, "e1"));
  server.receive(chat("lobby", 1, "e1"));
  server.receive(chat("lobby", 3, "e1"));
  assert.deepEqual(texts(seen, "lobby"), ["m1", "m2", "m3"]);
  assert.deepEqual(onChat, [1, 2, 3]);
  assert.deepEqual(seen.messages[0], { channel: "lobby", cmd: "chat", param: { text: "m1" }, offset: 1, epoch: "e1" });
  assert.deepEqual(socket.position("lobby"), { offset: 3, epoch: "e1" });
  assert.equal(seen.errors.length, 0);
  socket.close();
});

test("a new epoch is accepted and adopted, even with a lower offset", () => {
  const { socket, server, seen } = openSocket();
  server.receive(chat("lobby", 7, "old"));
  server.receive(chat("lobby", 1, "new"));
  server.receive(chat("lobby", 1, "new"));
  assert.deepEqual(texts(seen, "lobby"), ["m7", "m1"]);
  assert.deepEqual(socket.position("lobby"), { offset: 1, epoch: "new" });
  socket.close();
});

test("messages of channels without history are delivered as before (no position kept)", () => {
  const { socket, server, seen } = openSocket();
  server.receive({ channel: "lobby", cmd: "chat", param: { text: "a" } });
  server.receive({ channel: "lobby", cmd: "chat", param: { text: "a" } });
  assert.deepEqual(texts(seen, "lobby"), ["a", "a"]);
  assert.equal(socket.position("lobby"), undefined);
  socket.close();
});

test("reconnect: the upgrade URL carries since/epoch of the upgrade channel once known", async () => {
  const { socket, FakeWebSocket } = openSocket();
  assert.equal(FakeWebSocket.instances[0].url, "ws://h/s?ch=lobby", "nothing known on the first connect");
  let next = await reconnect(FakeWebSocket);
  assert.equal(next.url, "ws://h/s?ch=lobby", "still nothing known");
  next.receive(chat("other", 4, "x")); // another channel's position does not go in the URL
  next.receive(chat("lobby", 12, "e-1"));
  next = await reconnect(FakeWebSocket);
  assert.equal(next.url, "ws://h/s?ch=lobby&since=12&epoch=e-1");
  next.receive(chat("lobby", 13, "e-1"));
  next = await reconnect(FakeWebSocket);
  assert.equal(next.url, "ws://h/s?ch=lobby&since=13&epoch=e-1", "since/epoch replaced, not repeated");
  assert.equal(socket.url, "ws://h/s?ch=lobby", "url stays the one given");
  socket.close();
});

test("reconnect: other query parameters are kept as written; since/epoch given by the app are replaced", async () => {
  const { socket, FakeWebSocket } = openSocket({ url: "ws://h/s?token=a%2Bb&ch=caf%C3%A9&since=1&epoch=given" });
  assert.equal(FakeWebSocket.last.url, "ws://h/s?token=a%2Bb&ch=caf%C3%A9&since=1&epoch=given");
  FakeWebSocket.last.receive(chat("café", 3, "a b/c"));
  const next = await reconnect(FakeWebSocket);
  assert.equal(next.url, "ws://h/s?token=a%2Bb&ch=caf%C3%A9&since=3&epoch=a%20b%2Fc");
  assert.equal(new URL(next.url).searchParams.get("epoch"), "a b/c");
  socket.close();
});

test("a `position` on join counts: offset 0 is a position, and it is sent on reconnect", async () => {
  const { socket, FakeWebSocket, seen } = openSocket();
  FakeWebSocket.last.receive({ channel: "lobby", cmd: "position", param: { offset: 0, epoch: "e" } });
  assert.deepEqual(socket.position("lobby"), { offset: 0, epoch: "e" });
  assert.equal(seen.messages.length, 0, "position is the client's plumbing: not passed on");
  const next = await reconnect(FakeWebSocket);
  assert.equal(next.url, "ws://h/s?ch=lobby&since=0&epoch=e");
  socket.close();
});

test("re-join after reconnect: rooms with a known position send {room, since, epoch}, the others {room}", async () => {
  const { socket, FakeWebSocket } = openSocket();
  socket.join("room-a");
  socket.join("room-b");
  const first = FakeWebSocket.last;
  first.receive(chat("room-a", 5, "ea"));
  first.receive(chat("room-a", 6, "ea"));
  const next = await reconnect(FakeWebSocket);
  assert.deepEqual(next.sentMessages(), [
    { cmd: "join-room", param: { room: "room-a", since: 6, epoch: "ea" } },
    { cmd: "join-room", param: { room: "room-b" } },
  ]);
  next.receive({ channel: "room-b", cmd: "position", param: { offset: 2, epoch: "eb" } });
  const third = await reconnect(FakeWebSocket);
  assert.deepEqual(third.sentMessages(), [
    { cmd: "join-room", param: { room: "room-a", since: 6, epoch: "ea" } },
    { cmd: "join-room", param: { room: "room-b", since: 2, epoch: "eb" } },
  ]);
  socket.close();
});

test("an explicit join after the room's position is known sends it; leave forgets it", () => {
  const { socket, server } = openSocket();
  socket.join("room-a");
  server.receive(chat("room-a", 3, "ea"));
  socket.join("room-a");
  socket.leave("room-a");
  assert.equal(socket.position("room-a"), undefined);
  socket.join("room-a");
  assert.deepEqual(server.sentMessages(), [
    { cmd: "join-room", param: { room: "room-a" } },
    { cmd: "join-room", param: { room: "room-a", since: 3, epoch: "ea" } },
    { cmd: "leave-room", param: { room: "room-a" } },
    { cmd: "join-room", param: { room: "room-a" } },
  ]);
  socket.close();
});

test("recovered is surfaced to onRecovered (after the replay, as a message too) and sets the position", async () => {
  const { socket, FakeWebSocket, seen } = openSocket();
  FakeWebSocket.last.receive(chat("lobby", 1, "e"));
  FakeWebSocket.last.receive(chat("lobby", 2, "e"));
  const next = await reconnect(FakeWebSocket);
  assert.equal(next.url, "ws://h/s?ch=lobby&since=2&epoch=e");
  // A replay that overlaps what was delivered, then the outcome, then live messages.
  next.receive(chat("lobby", 2, "e"));
  next.receive(chat("lobby", 3, "e"));
  next.receive(chat("lobby", 4, "e"));
  next.receive({ channel: "lobby", cmd: "recovered", param: { recovered: true, offset: 4, epoch: "e" } });
  next.receive(chat("lobby", 4, "e"));
  next.receive(chat("lobby", 5, "e"));
  assert.deepEqual(texts(seen, "lobby"), ["m1", "m2", "m3", "m4", "m5"]);
  assert.deepEqual(seen.recovered, [{ channel: "lobby", recovered: true, offset: 4, epoch: "e" }]);
  assert.deepEqual(
    seen.messages.map((m) => m.cmd),
    ["chat", "chat", "chat", "chat", "recovered", "chat"],
  );
  assert.deepEqual(socket.position("lobby"), { offset: 5, epoch: "e" });
  socket.close();
});

test("recovered:false is surfaced and its position (new epoch) adopted: later messages are not dropped", () => {
  const { socket, server, seen } = openSocket();
  server.receive(chat("lobby", 40, "old"));
  server.receive({ channel: "lobby", cmd: "recovered", param: { recovered: false, offset: 3, epoch: "new" } });
  server.receive(chat("lobby", 4, "new"));
  assert.deepEqual(seen.recovered, [{ channel: "lobby", recovered: false, offset: 3, epoch: "new" }]);
  assert.deepEqual(texts(seen, "lobby"), ["m40", "m4"]);
  assert.deepEqual(socket.position("lobby"), { offset: 4, epoch: "new" });
  socket.close();
});

test("onRecovered: unsubscribe works, a throwing handler is reported, a malformed recovered is a protocol error", () => {
  const { socket, server, seen } = openSocket();
  const extra = [];
  const stop = socket.onRecovered((o) => extra.push(o.offset));
  socket.onRecovered(() => {
    throw new Error("boom");
  });
  server.receive({ channel: "lobby", cmd: "recovered", param: { recovered: true, offset: 1, epoch: "e" } });
  stop();
  server.receive({ channel: "lobby", cmd: "recovered", param: { recovered: true, offset: 2, epoch: "e" } });
  assert.deepEqual(extra, [1]);
  assert.equal(seen.recovered.length, 2);
  assert.deepEqual(seen.errors.map((e) => e.kind), ["handler", "handler"]);
  server.receive({ channel: "lobby", cmd: "recovered", param: { offset: 3 } });
  assert.equal(seen.errors.at(-1).kind, "protocol");
  assert.equal(seen.recovered.length, 2, "a malformed one is not surfaced");
  assert.deepEqual(socket.position("lobby"), { offset: 2, epoch: "e" }, "nor adopted");
  assert.equal(seen.messages.at(-1).cmd, "recovered", "the raw message still reaches onMessage");
  assert.throws(() => socket.onRecovered(null), SocketError);
  socket.close();
});

test("recover: false sends no since/epoch (URL or join-room), still tracks positions and drops duplicates", async () => {
  const { socket, FakeWebSocket, seen } = openSocket({ recover: false });
  socket.join("room-a");
  FakeWebSocket.last.receive(chat("lobby", 1, "e"));
  FakeWebSocket.last.receive(chat("room-a", 1, "e"));
  FakeWebSocket.last.receive(chat("room-a", 1, "e"));
  assert.deepEqual(texts(seen, "room-a"), ["m1"]);
  assert.deepEqual(socket.position("lobby"), { offset: 1, epoch: "e" });
  const next = await reconnect(FakeWebSocket);
  assert.equal(next.url, "ws://h/s?ch=lobby");
  assert.deepEqual(next.sentMessages(), [{ cmd: "join-room", param: { room: "room-a" } }]);
  socket.close();
});
