// example-page.test.mjs — headless Chromium (playwright-core driving the Debian `chromium`
// package) opens two pages on the real server's /example and has them chat: channel messages,
// a room, the online list, and the state shown through a server restart. Screenshots go to
// client/test-output/. Skips (loudly) only when no Chromium executable exists.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer } from "../helpers/server.mjs";
import { launchChromium, skipWithoutChromium } from "../../../tests/browser-support/chromium.mjs";

const OUTPUT = fileURLToPath(new URL("../../test-output/", import.meta.url));
const skip = skipWithoutChromium("BROWSER TEST");

let server;
let browser;
let context;
const problems = []; // console errors and uncaught page errors, from both pages

before(async () => {
  if (skip) return;
  server = await startServer();
  mkdirSync(OUTPUT, { recursive: true });
  browser = await launchChromium(chromium, { viewport: { width: 960, height: 620 } });
  context = browser.context;
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function openChat(name) {
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`${name} console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`${name} page error: ${error.message}`));
  await page.goto(`${server.httpUrl}/example?ch=browser-lobby`);
  await page.locator("#state-text", { hasText: "open" }).waitFor({ timeout: 10_000 });
  await page.fill("#name", name);
  await page.dispatchEvent("#name", "change");
  await page.locator("#me", { hasNotText: "…" }).waitFor({ timeout: 5_000 });
  return page;
}

async function say(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

const message = (page, text) => page.locator("#messages li.chat", { hasText: text });

test("two Chromium pages on /example chat with each other, in the channel and in a room", { skip }, async () => {
  const alice = await openChat("Alice");
  const bob = await openChat("Bob");

  // Channel chat, both ways; each side sees its own message as "mine".
  await say(alice, "Hello from Alice — ça va?");
  await message(bob, "Hello from Alice").waitFor({ timeout: 5_000 });
  await message(alice, "Hello from Alice").and(alice.locator(".mine")).waitFor({ timeout: 5_000 });
  await say(bob, "Hi Alice, Bob here.");
  await message(alice, "Hi Alice, Bob here.").waitFor({ timeout: 5_000 });

  // The online lists show both connections.
  await alice.locator("#online li").nth(1).waitFor({ timeout: 5_000 });
  await bob.locator("#online li").nth(1).waitFor({ timeout: 5_000 });
  assert.equal(await alice.locator("#online li", { hasText: "(you)" }).count(), 1);

  // Rooms: both join one, Alice writes to it, Bob sees it tagged with the room.
  for (const page of [alice, bob]) {
    await page.fill("#room", "browser-room");
    await page.press("#room", "Enter");
    await page.locator("#rooms li", { hasText: "browser-room" }).waitFor();
  }
  await bob.waitForTimeout(200); // Bob's join-room frame is processed before Alice's chat
  await alice.selectOption("#target", "browser-room");
  await say(alice, "Only for browser-room");
  const roomLine = message(bob, "Only for browser-room");
  await roomLine.waitFor({ timeout: 5_000 });
  assert.match(await roomLine.innerText(), /in browser-room/);

  // Messages are text, not HTML.
  await say(bob, "<b>not bold</b>");
  await message(alice, "<b>not bold</b>").waitFor({ timeout: 5_000 });
  assert.equal(await alice.locator("#messages b").count(), 0);

  // The server restarts: the page shows it reconnecting, then open again, and chat works on.
  await server.stop();
  await alice.locator("#state-text", { hasText: /connecting/ }).waitFor({ timeout: 5_000 });
  await alice.screenshot({ path: join(OUTPUT, "example-reconnecting.png") });
  await server.start();
  await alice.locator("#state-text", { hasText: "open" }).waitFor({ timeout: 35_000 });
  await bob.locator("#state-text", { hasText: "open" }).waitFor({ timeout: 35_000 });
  await alice.locator("#messages li.notice", { hasText: "reconnected" }).first().waitFor();
  await say(bob, "Back after the restart");
  await message(alice, "Back after the restart").waitFor({ timeout: 5_000 });
  await alice.locator("#online li").nth(1).waitFor({ timeout: 5_000 }); // both pages see each other again
  await bob.locator("#online li").nth(1).waitFor({ timeout: 5_000 });

  await alice.screenshot({ path: join(OUTPUT, "example-alice.png") });
  await bob.screenshot({ path: join(OUTPUT, "example-bob.png") });
  const unexpected = problems.filter((p) => !/WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/.test(p));
  assert.deepEqual(unexpected, [], "no script errors on the pages");
});
