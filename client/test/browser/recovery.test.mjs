// recovery.test.mjs — the client in headless Chromium recovers what it missed across a server
// restart, with history in Redis: two nodes share a redis-server and `--history-size 100`; the
// page's node is stopped (SIGTERM), messages are published through the other node while it is
// down, the node is started again on the same port, and the page's client reconnects by itself
// and gets exactly the missed messages, in order and once, then live ones, with recovered:true.
// Skipped, loudly, without Chromium or without redis-server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { startServer } from "../helpers/server.mjs";
import { closeAllClients, connectClient } from "../helpers/clients.mjs";
import { redisInstalled, startRedis } from "../helpers/redis.mjs";
import { waitFor } from "../helpers/wait.mjs";
import { launchChromium, skipWithoutChromium } from "../../../tests/browser-support/chromium.mjs";

const CHANNEL = "browser-history";
const skip =
  skipWithoutChromium("BROWSER RECOVERY TEST") || (redisInstalled() ? false : "no redis-server: scripts/redis.sh install");
if (skip) console.warn(`!!!!!!!! browser recovery.test.mjs SKIPPED: ${skip}`);

let redis;
let pageNode;
let otherNode;
let browser;
const problems = [];

before(async () => {
  if (skip) return;
  redis = await startRedis();
  const args = ["--redis", redis.url, "--history-size", "100"];
  pageNode = await startServer({ args });
  otherNode = await startServer({ args });
  browser = await launchChromium(chromium);
});

after(async () => {
  closeAllClients();
  await browser?.close();
  await pageNode?.stop();
  await otherNode?.stop();
  await redis?.stop();
});

/** A page on the node's origin running the served client, recording chats and recoveries. */
async function openPage(node, { channel = CHANNEL, awayMs = 100 } = {}) {
  const page = await browser.context.newPage();
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  await page.goto(`${node.httpUrl}/healthz`);
  await page.evaluate(
    async ({ channel, awayMs }) => {
      const { Socket } = await import("/client/switchyard.js");
      const seen = { chats: [], recovered: [], opens: 0, openedAt: [] };
      window.seen = seen;
      window.socket = new Socket({
        url: `/example/socket?ch=${channel}`,
        // Retries wait ~awayMs (random 0.99): long enough to miss what the test publishes.
        backoff: { initialMs: awayMs, maxMs: awayMs * 3 },
        random: () => 0.99,
        onOpen: () => {
          seen.opens += 1;
          seen.openedAt.push(Date.now());
        },
      });
      window.socket.on("chat", (m) => seen.chats.push(m.param.text));
      window.socket.onRecovered((outcome) => seen.recovered.push(outcome));
    },
    { channel, awayMs },
  );
  return page;
}

const seen = (page) => page.evaluate(() => ({ ...window.seen, state: window.socket.state }));

async function publish(client, from, count) {
  const texts = Array.from({ length: count }, (_, i) => `n${from + i}`);
  for (const text of texts) client.socket.send({ cmd: "chat", param: { text } });
  const last = texts.at(-1);
  await client.received((m) => m.cmd === "chat" && m.param?.text === last, { what: `${last} echoed` });
  return texts;
}

test("Chromium: the client misses 20 messages during a restart and recovers them from Redis", { skip, timeout: 60_000 }, async () => {
  const page = await openPage(pageNode);
  await waitFor(async () => (await seen(page)).opens === 1, { what: "page open" });
  const publisher = await connectClient(otherNode.socketUrl(CHANNEL));
  const live = await publish(publisher, 1, 3);
  await waitFor(async () => (await seen(page)).chats.length === 3, { what: "live messages in the page" });
  assert.ok(redis.keys(`*${CHANNEL}*`).length > 0, "the channel's history is kept in Redis");

  await pageNode.stop("SIGTERM");
  await waitFor(async () => (await seen(page)).state === "connecting", { what: "page disconnected" });
  const missed = await publish(publisher, 4, 20); // its node is down: nobody can deliver these
  await pageNode.start();
  await waitFor(async () => (await seen(page)).recovered.length === 1, { timeoutMs: 10_000, what: "recovered" });
  const after = await publish(publisher, 24, 2);
  await waitFor(async () => (await seen(page)).chats.length >= 25, { what: "live after recovery" });

  const final = await seen(page);
  assert.equal(final.opens, 2);
  assert.deepEqual(final.chats, [...live, ...missed, ...after], "missed messages once, in order, then live");
  assert.equal(final.recovered[0].recovered, true, JSON.stringify(final.recovered));
  assert.equal(final.recovered[0].channel, CHANNEL);
  assert.deepEqual(problems, []);
  await page.close();
});

/** POST /admin/api/disconnect/{id} without notify on the node: the client reconnects by itself. */
async function adminDisconnect(node, id) {
  const response = await fetch(`${node.httpUrl}/admin/api/disconnect/${id}`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: node.httpUrl },
    body: JSON.stringify({ notify: false }),
  });
  assert.equal(response.status, 200, `admin disconnect answered ${response.status}: ${await response.text()}`);
}

test("Chromium: the server drops the page's connection; what was published meanwhile is recovered", { skip, timeout: 60_000 }, async () => {
  const page = await openPage(pageNode, { channel: `${CHANNEL}-drop`, awayMs: 1500 });
  await waitFor(async () => (await seen(page)).opens === 1, { what: "page open" });
  const publisher = await connectClient(pageNode.socketUrl(`${CHANNEL}-drop`)); // one node: any history store
  const live = await publish(publisher, 1, 3);
  await waitFor(async () => (await seen(page)).chats.length === 3, { what: "live messages in the page" });

  // The page's connection id: the `from` of its own chat, as the publisher hears it.
  await page.evaluate(() => window.socket.send({ cmd: "chat", param: { text: "whoami" } }));
  const own = await publisher.received((m) => m.cmd === "chat" && m.param?.text === "whoami");
  await adminDisconnect(pageNode, own.from);
  await waitFor(async () => (await seen(page)).state === "connecting", { what: "page dropped" });
  const missed = await publish(publisher, 4, 20); // the page waits ~1.5 s before it retries
  const publishedAt = Date.now();
  await waitFor(async () => (await seen(page)).recovered.length === 1, { timeoutMs: 10_000, what: "recovered" });
  const after = await publish(publisher, 24, 2);
  await waitFor(async () => (await seen(page)).chats.length >= 26, { what: "live after recovery" });

  const final = await seen(page);
  assert.equal(final.opens, 2);
  assert.ok(final.openedAt[1] > publishedAt, "the page was away while the 20 were published");
  assert.deepEqual(final.chats, [...live, "whoami", ...missed, ...after], "missed messages once, in order, then live");
  assert.equal(final.recovered[0].recovered, true, JSON.stringify(final.recovered));
  assert.deepEqual(problems, []);
  await page.close();
});
