// recovery.test.mjs — channel history against the real binary (`--history-size 100`): a client
// dropped by the server (admin disconnect) misses messages of its upgrade channel and of a room
// while it is away, and on its own reconnect gets exactly those, in order and once, then the live
// ones (published during the replay too), with recovered:true; a gap longer than the history
// gives recovered:false.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../helpers/server.mjs";
import { closeAllClients, connectClient } from "../helpers/clients.mjs";
import { sleep, waitFor } from "../helpers/wait.mjs";

const HISTORY_SIZE = 100;
// Retries wait exactly ~initialMs (random 0.99): the client stays away long enough to miss messages.
const AWAY = { backoff: { initialMs: 1000, maxMs: 1000 }, random: () => 0.99 };

let server;
before(async () => {
  server = await startServer({ args: ["--history-size", String(HISTORY_SIZE)] });
});
after(async () => {
  closeAllClients();
  await server?.stop();
});

/** POST /admin/api/disconnect/{id} without notify: the client reconnects by itself. */
async function adminDisconnect(id) {
  const response = await fetch(`${server.httpUrl}/admin/api/disconnect/${id}`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: server.httpUrl },
    body: JSON.stringify({ notify: false }),
  });
  assert.equal(response.status, 200, `admin disconnect answered ${response.status}: ${await response.text()}`);
}

async function recoveringClient(channel, options = {}) {
  const recovered = [];
  const client = await connectClient(server.socketUrl(channel), options);
  client.recovered = recovered;
  client.socket.onRecovered((outcome) => recovered.push({ ...outcome, at: Date.now() }));
  return client;
}

const texts = (client, channel, prefix) =>
  client.messages
    .filter((m) => m.cmd === "chat" && m.channel === channel && String(m.param?.text).startsWith(prefix))
    .map((m) => m.param.text);

/** B sends `count` chats to `channel` and waits until it hears all of them back (all stored). */
async function publish(b, channel, prefix, from, count) {
  const sent = [];
  for (let i = from; i < from + count; i++) {
    const text = `${prefix}${i}`;
    sent.push(text);
    b.socket.send({ channel, cmd: "chat", param: { text } });
  }
  await waitFor(() => texts(b, channel, prefix).length >= from + count - 1, { what: `${prefix} echoed to the sender` });
  return sent;
}

test("a client away for 50 messages gets exactly those, in order, once, then live ones; recovered:true", { timeout: 30_000 }, async () => {
  const channel = "it-history";
  const room = "it-history-room";
  const a = await recoveringClient(channel, AWAY);
  const b = await connectClient(server.socketUrl(channel));
  a.socket.join(room);
  b.socket.join(room);
  await waitFor(() => a.socket.position(channel) && a.socket.position(room), { what: "positions from the joins" });
  const earlier = await publish(b, channel, "m", 1, 5);
  await waitFor(() => texts(a, channel, "m").length === 5, { what: "live before the drop" });
  const { epoch } = a.socket.position(channel);
  assert.ok(a.socket.position(channel).offset >= 5);

  await adminDisconnect(await whoIs(a, channel));
  await waitFor(() => a.closes.length === 1, { what: "a dropped" });
  const missed = await publish(b, channel, "m", 6, 50);
  const missedRoom = await publish(b, room, "r", 1, 10);
  const publishedAt = Date.now();
  // Publishes racing the reconnect and the replay: none lost, none twice.
  const racing = (async () => {
    const sent = [];
    for (let i = 56; i < 86; i++) {
      sent.push(...(await publish(b, channel, "m", i, 1)));
      await sleep(10);
    }
    return sent;
  })();
  await a.opened(2, 5000);
  assert.ok(a.opens[1].at > publishedAt, "a was away while the 50 were published");
  const live = await racing;
  await waitFor(() => texts(a, channel, "m").length >= 85, { what: "all 85 at a" });
  await sleep(200); // anything extra (a duplicate) would arrive by now

  assert.deepEqual(texts(a, channel, "m"), [...earlier, ...missed, ...live], "every message once, in order");
  assert.deepEqual(texts(a, room, "r"), missedRoom);
  const outcome = a.recovered.find((r) => r.channel === channel);
  assert.equal(outcome?.recovered, true, JSON.stringify(a.recovered));
  assert.equal(outcome.epoch, epoch);
  assert.equal(a.recovered.find((r) => r.channel === room)?.recovered, true, JSON.stringify(a.recovered));
  const offsets = a.messages.filter((m) => m.cmd === "chat" && m.channel === channel).map((m) => m.offset);
  assert.deepEqual(offsets, offsets.map((_, i) => offsets[0] + i), "consecutive offsets");
  assert.deepEqual(a.socket.position(channel), { offset: offsets.at(-1), epoch });
});

test("a gap longer than --history-size: recovered:false, then live messages again", { timeout: 30_000 }, async () => {
  const channel = "it-history-gap";
  const a = await recoveringClient(channel, AWAY);
  const b = await connectClient(server.socketUrl(channel));
  await publish(b, channel, "g", 1, 3);
  await waitFor(() => texts(a, channel, "g").length === 3, { what: "live before the drop" });
  await adminDisconnect(await whoIs(a, channel));
  await waitFor(() => a.closes.length === 1, { what: "a dropped" });
  await publish(b, channel, "g", 4, HISTORY_SIZE + 20);
  await a.opened(2, 5000);
  await waitFor(() => a.recovered.length === 1, { what: "recovered" });
  assert.equal(a.recovered[0].recovered, false);
  assert.deepEqual(texts(a, channel, "g").length, 3, "nothing replayed from an incomplete history");
  await publish(b, channel, "g", HISTORY_SIZE + 24, 1);
  await waitFor(() => texts(a, channel, "g").length === 4, { what: "live after recovered:false" });
});

/** The connection id of a client: the `from` of its own chat message. */
async function whoIs(client, channel) {
  const marker = `whoami-${Math.random()}`;
  client.socket.send({ cmd: "chat", param: { text: marker } });
  const own = await client.received((m) => m.cmd === "chat" && m.param?.text === marker);
  assert.equal(own.channel, channel);
  return own.from;
}
