// example-presence.test.mjs — the example page in headless Chromium follows presence in both
// forms: a server with --presence-batch-above 3 sends `online-update` for the first joins and
// coalesced `online-updates` beyond, and the page's online list and notices follow both (through
// Socket.onPresence), without showing `online-updates` as an unknown command. Skips (loudly)
// only when no Chromium executable exists, like example-page.test.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { WebSocket } from "ws";
import { startServer } from "../helpers/server.mjs";
import { waitFor } from "../helpers/wait.mjs";
import { launchChromium, skipWithoutChromium } from "../../../tests/browser-support/chromium.mjs";

const skip = skipWithoutChromium("PRESENCE BROWSER TEST");
const JOINERS = 8;

let server;
let browser;
let context;
const sockets = [];

before(async () => {
  if (skip) return;
  server = await startServer({ args: ["--presence-batch-above", "3"] });
  browser = await launchChromium(chromium);
  context = browser.context;
});

after(async () => {
  for (const socket of sockets) socket.terminate();
  await browser?.close();
  await server?.stop();
});

/** A plain `ws` connection to the channel; resolves once it is open. */
function joinChannel(channel) {
  const socket = new WebSocket(server.socketUrl(channel));
  sockets.push(socket);
  return new Promise((resolve, reject) => {
    socket.once("open", () => resolve(socket));
    socket.once("error", reject);
  });
}

test("the example page follows online-update and coalesced online-updates", { skip }, async () => {
  const channel = "browser-presence";
  const problems = [];
  const page = await context.newPage();
  page.on("pageerror", (error) => problems.push(error.message));
  await page.goto(`${server.httpUrl}/example?ch=${channel}`);
  await page.locator("#me", { hasNotText: "…" }).waitFor({ timeout: 10_000 });
  await page.evaluate(() => {
    window.presenceFrames = { "online-update": 0, "online-updates": 0 };
    for (const cmd of Object.keys(window.presenceFrames)) {
      window.switchyardSocket.on(cmd, () => (window.presenceFrames[cmd] += 1));
    }
  });

  const joiners = [];
  for (let i = 0; i < JOINERS; i++) joiners.push(await joinChannel(channel)); // members 2, 3: online-update; 4+: coalesced
  const online = page.locator("#online li:not(.empty)");
  await waitFor(async () => (await online.count()) === JOINERS + 1, { timeoutMs: 5_000, what: "every joiner listed" });
  assert.ok((await page.locator("#messages li.notice", { hasText: "joined" }).count()) >= JOINERS);

  for (const socket of joiners.splice(0, 6)) socket.close();
  await waitFor(async () => (await online.count()) === JOINERS + 1 - 6, { timeoutMs: 5_000, what: "the leavers gone" });
  assert.ok((await page.locator("#messages li.notice", { hasText: "left" }).count()) >= 6);
  assert.equal(await page.locator("#messages li.server").count(), 0, "no presence shown as an unknown command");
  const frames = await page.evaluate(() => window.presenceFrames);
  assert.ok(frames["online-update"] >= 2 && frames["online-updates"] >= 1, `both forms arrived: ${JSON.stringify(frames)}`);
  assert.deepEqual(problems, []);
});
