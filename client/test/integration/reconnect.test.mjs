// reconnect.test.mjs — the real switchyard binary is stopped (SIGTERM: close 1001; SIGKILL: no
// close frame at all) and started again on the same port: the client reconnects within the
// backoff bound, re-joins its rooms, and delivers the messages queued while down, in order.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../helpers/server.mjs";
import { closeAllClients, connectClient } from "../helpers/clients.mjs";
import { sleep, waitFor } from "../helpers/wait.mjs";

const BACKOFF = { initialMs: 100, maxMs: 1000, factor: 2, resetAfterMs: 500 };
// Reopen bound after the server is back: the longest possible wait (the cap) plus a handshake.
const REOPEN_BOUND_MS = BACKOFF.maxMs + 750;

let server;
after(async () => {
  closeAllClients();
  await server?.stop();
});

for (const signal of ["SIGTERM", "SIGKILL"]) {
  test(`server ${signal}ed and restarted: reconnect within the backoff bound, rooms re-joined, queue delivered in order`, { timeout: 30_000 }, async () => {
    server ??= await startServer();
    const room = `it-restart-room-${signal}`;
    const a = await connectClient(server.socketUrl(`it-restart-${signal}`), { backoff: BACKOFF });
    const b = await connectClient(server.socketUrl(`it-restart-b-${signal}`), { backoff: BACKOFF });
    a.socket.join(room);
    b.socket.join(room);
    await sleep(BACKOFF.resetAfterMs + 100); // a connection that stayed up: backoff starts afresh

    const exit = await server.stop(signal);
    await waitFor(() => a.closes.length >= 1 && b.closes.length >= 1, { what: "close events" });
    if (signal === "SIGTERM") {
      assert.equal(exit, 0, `graceful shutdown exits 0; log:\n${server.log.slice(-2000)}`);
      assert.equal(a.closes[0].code, 1001, "a shutting-down server closes clients with 1001");
    }
    assert.equal(a.closes[0].willReconnect, true);
    // (A retry may slip in while the old process is still exiting; wait until it is gone too.)
    await waitFor(() => a.socket.state === "connecting" && b.socket.state === "connecting", { what: "state connecting" });
    const downAt = Date.now(); // the old process is gone: any open from now on is to the new one

    const texts = Array.from({ length: 5 }, (_, i) => `queued-${signal}-${i}`);
    for (const text of texts) assert.equal(a.socket.send({ channel: room, cmd: "chat", param: { text } }), "queued");
    assert.equal(a.socket.queued, 5);

    await sleep(800); // down for a while: several retries fail and the backoff grows
    await server.start();
    const backAt = Date.now();
    const reopenedAfter = (client) =>
      waitFor(() => client.opens.find((o) => o.at >= downAt), {
        timeoutMs: REOPEN_BOUND_MS + 2000,
        what: "reopen after the restart",
      });
    const reopened = await reopenedAfter(a);
    await reopenedAfter(b);
    const reopenMs = reopened.at - backAt; // ≤ 0 when it got in before /healthz answered
    assert.ok(reopenMs <= REOPEN_BOUND_MS, `reopened ${reopenMs} ms after the server was back (bound ${REOPEN_BOUND_MS})`);
    assert.equal(reopened.reconnected, true);
    assert.equal(a.socket.queued, 0);

    // a is a member of the room again (it hears its own room chat), in the order it queued it.
    const heard = await waitFor(
      () => {
        const got = a.messages.filter((m) => m.cmd === "chat" && m.channel === room).map((m) => m.param.text);
        return got.length >= texts.length && got;
      },
      { what: "queued room messages after reconnect" },
    );
    assert.deepEqual(heard, texts);

    // b re-joined the room too: a room message sent now reaches it.
    a.socket.send({ channel: room, cmd: "chat", param: { text: `fresh-${signal}` } });
    const fresh = await b.received((m) => m.param?.text === `fresh-${signal}`);
    assert.equal(fresh.channel, room);
    a.close();
    b.close();
  });
}
