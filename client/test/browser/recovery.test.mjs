// recovery.test.mjs — the client in headless Chromium recovers what it missed across a server
// restart, with history in Redis: two nodes share a redis-server and `--history-size 100`; the
// page's node is stopped (SIGTERM), messages are published through the other node while it is
// down, the node is started again on the same port, and the page's client reconnects by itself
// and gets exactly the missed messages, in order and once, then live ones, with recovered:true.
// Skipped, loudly, without Chromium, without redis-server, or with a binary without history.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { binaryHasFlag, binaryPath, startServer } from "../helpers/server.mjs";
import { closeAllClients, connectClient } from "../helpers/clients.mjs";
import { redisInstalled, startRedis } from "../helpers/redis.mjs";
import { waitFor } from "../helpers/wait.mjs";
import { launchChromium, skipWithoutChromium } from "../../../tests/browser-support/chromium.mjs";

const CHANNEL = "browser-history";
const skip =
  skipWithoutChromium("BROWSER RECOVERY TEST") ||
  (redisInstalled() ? false : "no redis-server: scripts/redis.sh install") ||
  (binaryHasFlag("--history-size") ? false : `${binaryPath()} has no --history-size`);
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
async function openPage(node) {
  const page = await browser.context.newPage();
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  await page.goto(`${node.httpUrl}/healthz`);
  await page.evaluate(async (channel) => {
    const { Socket } = await import("/client/switchyard.js");
    const seen = { chats: [], recovered: [], opens: 0 };
    window.seen = seen;
    window.socket = new Socket({
      url: `/example/socket?ch=${channel}`,
      backoff: { initialMs: 100, maxMs: 300 },
      onOpen: () => (seen.opens += 1),
    });
    window.socket.on("chat", (m) => seen.chats.push(m.param.text));
    window.socket.onRecovered((outcome) => seen.recovered.push(outcome));
  }, CHANNEL);
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
