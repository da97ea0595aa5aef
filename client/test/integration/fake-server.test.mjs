// fake-server.test.mjs — the client over real TCP against a tiny `ws` server that the test
// scripts, for server behaviour that is hard to provoke from the real binary: close-connection,
// a server that goes silent (heartbeat timeout), bad JSON from the server.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { WebSocketServer } from "ws";
import { closeAllClients, RecordingClient } from "../helpers/clients.mjs";
import { sleep, waitFor } from "../helpers/wait.mjs";

const servers = [];
after(() => closeAllClients());
after(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

/** A ws server on a free loopback port; `onConnection(ws, index)` scripts each connection. */
async function fakeServer(onConnection) {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  servers.push(server);
  await new Promise((r) => server.once("listening", r));
  const state = { connections: 0, received: [] };
  server.on("connection", (ws) => {
    const index = state.connections++;
    ws.on("message", (data) => state.received.push({ index, text: data.toString() }));
    onConnection(ws, index);
  });
  state.url = `ws://127.0.0.1:${server.address().port}/example/socket?ch=fake`;
  state.close = () => {
    for (const ws of server.clients) ws.terminate();
  };
  return state;
}

test("close-connection from the server closes the client for good: no reconnect", { timeout: 30_000 }, async () => {
  const fake = await fakeServer((ws) => ws.send(JSON.stringify({ cmd: "close-connection", param: null })));
  const client = new RecordingClient(fake.url, { backoff: { initialMs: 20, maxMs: 50 } });
  await waitFor(() => client.socket.state === "closed", { what: "closed after close-connection" });
  assert.equal(client.messages[0].cmd, "close-connection");
  assert.equal(client.closes.at(-1).willReconnect, false);
  await sleep(600);
  assert.equal(fake.connections, 1, "it must not reconnect");
  assert.equal(client.socket.send({ cmd: "chat", param: { text: "x" } }), "dropped");
});

test("a server going away with 1001 (shutdown or restart) is reconnected to", { timeout: 30_000 }, async () => {
  const fake = await fakeServer((ws, index) => {
    if (index === 0) setTimeout(() => ws.close(1001, "server shutting down"), 50);
  });
  const client = new RecordingClient(fake.url, { backoff: { initialMs: 50, maxMs: 200 } });
  await client.opened(2);
  assert.equal(client.closes[0].code, 1001);
  assert.equal(client.closes[0].willReconnect, true);
  assert.equal(client.socket.state, "open");
  client.close();
});

test("a server that stops answering is detected by the heartbeat and reconnected to", { timeout: 30_000 }, async () => {
  // Connection 0 answers nothing at all (a dead peer whose TCP is still up); connection 1 answers
  // heartbeats like switchyard does.
  const fake = await fakeServer((ws, index) => {
    if (index === 0) return;
    ws.on("message", (data) => {
      if (JSON.parse(data.toString()).cmd === "heartbeat") ws.send('{"cmd":"heartbeat","param":null}');
    });
  });
  const client = new RecordingClient(fake.url, {
    heartbeat: { idleMs: 100, timeoutMs: 150 },
    backoff: { initialMs: 20, maxMs: 50 },
  });
  await client.opened(2, 3000);
  assert.ok(client.errors.some((e) => e.kind === "timeout"), "a heartbeat timeout was reported");
  assert.deepEqual(client.closes[0], { ...client.closes[0], code: 4000, willReconnect: true });
  await sleep(600); // several heartbeat rounds, all answered
  assert.equal(client.socket.state, "open");
  assert.equal(fake.connections, 2);
  assert.ok(fake.received.filter((r) => r.index === 1 && r.text.includes('"heartbeat"')).length >= 2);
  assert.equal(client.messages.filter((m) => m.cmd === "heartbeat").length, 0, "replies are not app messages");
  client.close();
});

test("bad JSON from the server is reported and the connection kept", { timeout: 30_000 }, async () => {
  const fake = await fakeServer((ws) => {
    ws.send("this is {not json");
    ws.send(JSON.stringify({ cmd: "after", param: 1 }));
  });
  const client = new RecordingClient(fake.url);
  await client.received((m) => m.cmd === "after");
  assert.equal(client.errors[0].kind, "parse");
  assert.equal(client.socket.state, "open");
  assert.equal(fake.connections, 1);
  client.close();
});
