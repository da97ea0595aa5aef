// presence.test.mjs — both presence forms from the real binary reach Socket.onPresence: with
// --presence-batch-above 2, the second member's join is an `online-update` (a change of one,
// at once) and the joins and leaves beyond two members are coalesced `online-updates`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../helpers/server.mjs";
import { closeAllClients, connectClient } from "../helpers/clients.mjs";
import { waitFor } from "../helpers/wait.mjs";

let server;
before(async () => {
  server = await startServer({ args: ["--presence-batch-above", "2", "--presence-interval", "50ms"] });
});
after(async () => {
  closeAllClients();
  await server?.stop();
});

/** A client whose presence changes are recorded in `changes`. */
async function member(channel) {
  const client = await connectClient(server.socketUrl(channel));
  client.changes = [];
  client.socket.onPresence((change) => client.changes.push(change));
  return client;
}

/** The connection id of a client (its user id when anonymous): the `from` of its own chat. */
async function connectionId(client) {
  const marker = `whoami-${Math.random()}`;
  client.socket.send({ cmd: "chat", param: { text: marker } });
  const own = await client.received((m) => m.cmd === "chat" && m.param?.text === marker);
  return own.from;
}

/** Every id the observer has been told joined (or left), across both forms. */
const told = (client, kind) => new Set(client.changes.flatMap((change) => change[kind]));

test("onPresence: a small channel's online-update and a big channel's online-updates both arrive as changes", { timeout: 30_000 }, async () => {
  const channel = "it-presence";
  const observer = await member(channel);
  const second = await member(channel);
  const secondId = await connectionId(second);
  const first = await waitFor(() => observer.changes[0], { what: "the second member's join" });
  assert.deepEqual(
    { ...first },
    { channel, joined: [secondId], left: [], joinedCount: 1, leftCount: 0, truncated: false, coalesced: false },
    "two members (not above 2): the Go module's online-update, as a change of one",
  );

  const newcomers = [await member(channel), await member(channel), await member(channel)];
  const newIds = await Promise.all(newcomers.map(connectionId));
  await waitFor(() => newIds.every((id) => told(observer, "joined").has(id)), { what: "the joins beyond two members" });
  const later = observer.changes.slice(1);
  assert.ok(later.length >= 1 && later.every((change) => change.coalesced), "above 2 members: online-updates only");
  assert.equal(later.reduce((sum, change) => sum + change.joinedCount, 0), 3, "every join counted once");
  assert.ok(observer.messages.some((m) => m.cmd === "online-updates"), "the raw coalesced form reached the client");

  for (const client of newcomers) client.close();
  await waitFor(() => newIds.every((id) => told(observer, "left").has(id)), { what: "the leaves" });
  const leaves = observer.changes.filter((change) => change.leftCount > 0);
  assert.equal(leaves.reduce((sum, change) => sum + change.leftCount, 0), 3, "every leave counted once");
  assert.ok(leaves.every((change) => change.channel === channel));
  assert.deepEqual(observer.errors, [], "no presence frame was malformed");
});
