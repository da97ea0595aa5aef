// recovery-fake.test.mjs — the client's recovery over real TCP against a `ws` server that plays
// switchyard's history contract (HISTORY-WIRE.md): offsets and an epoch per channel, `position`
// on a plain join, replay after `since` then `recovered` on a join with a position. The server
// drops the client, publishes while it is away, and the client must get exactly what it missed.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { WebSocketServer } from "ws";
import { closeAllClients, RecordingClient } from "../helpers/clients.mjs";
import { waitFor } from "../helpers/wait.mjs";

const servers = [];
after(() => closeAllClients());
after(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

/** A tiny history server: every channel keeps all its messages; `overlap` replays that many extra. */
async function historyServer({ epoch = "ep-1", overlap = 0 } = {}) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  servers.push(wss);
  await new Promise((r) => wss.once("listening", r));
  const fake = {
    epoch,
    overlap,
    logs: new Map(), // channel → [frame text]
    members: new Map(), // channel → Set<ws>
    upgrades: [], // the query of every upgrade
    joins: [], // every join-room param
    url: `ws://127.0.0.1:${wss.address().port}/example/socket?ch=news`,
    publish(channel, param) {
      const log = this.logs.get(channel) ?? [];
      this.logs.set(channel, log);
      const frame = JSON.stringify({ channel, cmd: "chat", param, offset: log.length + 1, epoch: this.epoch });
      log.push(frame);
      for (const ws of this.members.get(channel) ?? []) ws.send(frame);
    },
    /**
     * Closes every connection from the server side, as a restart or a lost network does. What
     * the test publishes in the same tick is missed: no client can be back before it runs.
     */
    dropAll(code = 1001) {
      this.members.clear();
      for (const ws of wss.clients) ws.close(code, "dropped by the test");
    },
    join(ws, channel, since, sinceEpoch) {
      const log = this.logs.get(channel) ?? [];
      if (since === undefined) {
        ws.send(JSON.stringify({ channel, cmd: "position", param: { offset: log.length, epoch: this.epoch } }));
      } else {
        const recovered = sinceEpoch === this.epoch && since <= log.length;
        if (recovered) for (const frame of log.slice(Math.max(0, since - this.overlap))) ws.send(frame);
        const param = { recovered, offset: log.length, epoch: this.epoch };
        ws.send(JSON.stringify({ channel, cmd: "recovered", param }));
      }
      const members = this.members.get(channel) ?? new Set();
      this.members.set(channel, members);
      members.add(ws);
      ws.on("close", () => members.delete(ws));
    },
  };
  wss.on("connection", (ws, request) => {
    const query = new URL(request.url, "http://x").searchParams;
    fake.upgrades.push(Object.fromEntries(query));
    const since = query.has("since") ? Number(query.get("since")) : undefined;
    fake.join(ws, query.get("ch"), since, query.get("epoch"));
    ws.on("message", (data) => {
      const message = JSON.parse(data.toString());
      if (message.cmd !== "join-room") return;
      fake.joins.push(message.param);
      fake.join(ws, message.param.room, message.param.since, message.param.epoch);
    });
  });
  return fake;
}

function recordingClient(url) {
  const client = new RecordingClient(url, { backoff: { initialMs: 50, maxMs: 200 } });
  client.recovered = [];
  client.socket.onRecovered((outcome) => client.recovered.push(outcome));
  return client;
}

const chats = (client, channel) =>
  client.messages.filter((m) => m.cmd === "chat" && m.channel === channel).map((m) => m.param.n);
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test("messages published while the client was away are replayed once, in order, with recovered:true", { timeout: 30_000 }, async () => {
  const fake = await historyServer({ overlap: 2 }); // the replay repeats 2 already-seen messages
  const client = recordingClient(fake.url);
  await client.opened();
  client.socket.join("room");
  await waitFor(() => client.socket.position("room") !== undefined, { what: "room position" });
  for (const n of range(1, 3)) fake.publish("news", { n });
  for (const n of range(1, 2)) fake.publish("room", { n });
  await waitFor(() => chats(client, "news").length === 3 && chats(client, "room").length === 2, { what: "live" });
  assert.deepEqual(client.socket.position("news"), { offset: 3, epoch: "ep-1" });

  fake.dropAll();
  for (const n of range(4, 8)) fake.publish("news", { n }); // nobody there to hear them
  for (const n of range(3, 4)) fake.publish("room", { n });
  await client.opened(2);
  await waitFor(() => client.recovered.length === 2, { what: "two recovered" });
  fake.publish("news", { n: 9 });
  await waitFor(() => chats(client, "news").length >= 9, { what: "live after the replay" });

  assert.deepEqual(fake.upgrades, [{ ch: "news" }, { ch: "news", since: "3", epoch: "ep-1" }]);
  assert.deepEqual(fake.joins, [{ room: "room" }, { room: "room", since: 2, epoch: "ep-1" }]);
  assert.deepEqual(chats(client, "news"), range(1, 9), "every message once, in order");
  assert.deepEqual(chats(client, "room"), range(1, 4));
  assert.deepEqual(
    client.recovered.sort((a, b) => a.channel.localeCompare(b.channel)),
    [
      { channel: "news", recovered: true, offset: 8, epoch: "ep-1" },
      { channel: "room", recovered: true, offset: 4, epoch: "ep-1" },
    ],
  );
  assert.deepEqual(client.socket.position("news"), { offset: 9, epoch: "ep-1" });
  client.close();
});

test("a server that lost the history (new epoch) answers recovered:false; the new epoch's messages arrive", { timeout: 30_000 }, async () => {
  const fake = await historyServer({ epoch: "before" });
  const client = recordingClient(fake.url);
  await client.opened();
  for (const n of range(1, 5)) fake.publish("news", { n });
  await waitFor(() => chats(client, "news").length === 5, { what: "live" });

  fake.dropAll();
  fake.epoch = "after"; // a restart without Redis: history gone, offsets start again
  fake.logs.clear();
  fake.publish("news", { n: 101 }); // offset 1 of the new epoch, missed: lost for good
  await client.opened(2);
  await waitFor(() => client.recovered.length === 1, { what: "recovered" });
  fake.publish("news", { n: 102 }); // offset 2 of the new epoch: lower than 5, still delivered

  await waitFor(() => chats(client, "news").includes(102), { what: "message of the new epoch" });
  assert.deepEqual(fake.upgrades.at(-1), { ch: "news", since: "5", epoch: "before" });
  assert.deepEqual(client.recovered, [{ channel: "news", recovered: false, offset: 1, epoch: "after" }]);
  assert.deepEqual(chats(client, "news"), [...range(1, 5), 102]);
  assert.deepEqual(client.socket.position("news"), { offset: 2, epoch: "after" });
  client.close();
});
