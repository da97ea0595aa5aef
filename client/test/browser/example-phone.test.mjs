// example-phone.test.mjs — the example page on a phone-sized screen (390×844) in headless
// Chromium (playwright-core driving the Debian `chromium` package) against the real binary:
// nothing wider than the screen, header controls visible, the favicon served, no console
// error of any kind (404s included), a self-chosen name shown to the other page marked "~",
// an admin `notice` and an unknown command shown muted, empty text and bad room names refused.
// Screenshots go to client/test-output/example-phone-*.png. Skips (loudly) without Chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer } from "../helpers/server.mjs";
import { launchChromium, skipWithoutChromium } from "../../../tests/browser-support/chromium.mjs";

const OUTPUT = fileURLToPath(new URL("../../test-output/", import.meta.url));
const PHONE = { width: 390, height: 844 };
const skip = skipWithoutChromium("PHONE BROWSER TEST");

let server;
let browser;
let context;
const problems = []; // every console error, failed request and page error

before(async () => {
  if (skip) return;
  server = await startServer();
  mkdirSync(OUTPUT, { recursive: true });
  browser = await launchChromium(chromium, {
    profile: "switchyard-phone",
    viewport: PHONE,
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  context = browser.context;
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function openPhone(who, channel) {
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") problems.push(`${who} console: ${m.text()} (${m.location().url})`); });
  page.on("pageerror", (e) => problems.push(`${who} page error: ${e.message}`));
  page.on("response", (r) => { if (r.status() >= 400) problems.push(`${who}: ${r.status()} for ${r.url()}`); });
  await page.goto(`${server.httpUrl}/example?ch=${channel}`);
  await page.locator("#state-text", { hasText: "open" }).waitFor({ timeout: 10_000 });
  await page.locator("#me", { hasNotText: "…" }).waitFor({ timeout: 5_000 });
  return page;
}

/** The page is no wider than the screen, and every header control is inside it. */
async function fitsThePhone(page, what) {
  const widths = await page.evaluate(() => ({
    document: document.documentElement.scrollWidth,
    body: document.body.scrollWidth,
  }));
  assert.ok(widths.document <= PHONE.width, `${what}: document is ${widths.document}px wide`);
  assert.ok(widths.body <= PHONE.width, `${what}: body is ${widths.body}px wide`);
  for (const selector of ["#name", "header a[href='/admin/websocket']", "#chat-form button", "#room-form button", "#text"]) {
    const box = await page.locator(selector).boundingBox();
    assert.ok(box && box.width > 0, `${what}: ${selector} is shown`);
    assert.ok(box.x >= 0 && box.x + box.width <= PHONE.width + 0.5, `${what}: ${selector} is inside the screen (${JSON.stringify(box)})`);
  }
}

const chats = (page, text) => page.locator("#messages li.chat", { hasText: text });

test("the example page on a 390×844 phone", { skip }, async () => {
  const favicon = await fetch(`${server.httpUrl}/favicon.ico`);
  assert.equal(favicon.status, 200, "/favicon.ico is served");
  assert.match(favicon.headers.get("content-type"), /^image\//);

  const alice = await openPhone("alice", "phone-lobby");
  const bob = await openPhone("bob", "phone-lobby");
  await fitsThePhone(alice, "empty page");

  // A self-chosen name reaches the other page, marked as self-chosen.
  await alice.fill("#name", "Alice <i>");
  await alice.dispatchEvent("#name", "change");
  await alice.fill("#text", "a long line without spaces: " + "x".repeat(120));
  await alice.press("#text", "Enter");
  const line = chats(bob, "a long line");
  await line.waitFor({ timeout: 5_000 });
  assert.equal(await line.locator(".who").textContent(), "~Alice <i>", "escaped, marked with ~");
  assert.match(await line.locator(".who").getAttribute("title"), /chose for itself/);
  assert.equal(await bob.locator("#messages i").count(), 0, "the name is text, not HTML");

  // Empty text is not sent by the page (and the server would refuse it).
  await alice.fill("#text", "   ");
  await alice.press("#text", "Enter");

  // A bad room name is refused on the page; a good one is joined.
  await bob.fill("#room", "../..");
  await bob.press("#room", "Enter");
  await bob.locator("#messages li.error", { hasText: "not a room name" }).waitFor();
  assert.equal(await bob.locator("#rooms li", { hasText: "../.." }).count(), 0);
  await bob.fill("#room", "phone-room");
  await bob.press("#room", "Enter");
  await bob.locator("#rooms li", { hasText: "phone-room" }).waitFor();

  // An admin notice and a command the page does not know are shown, muted.
  const send = async (body) => {
    const response = await fetch(`${server.httpUrl}/admin/api/send`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    assert.equal(response.status, 200, await response.text());
  };
  await send({ to: "channel", channel: "phone-lobby", cmd: "notice", param: { text: "maintenance at 5" } });
  await send({ to: "channel", channel: "phone-lobby", cmd: "mystery", param: { n: 1 } });
  for (const page of [alice, bob]) {
    await page.locator("#messages li.server[data-cmd=notice]", { hasText: "maintenance at 5" }).waitFor({ timeout: 5_000 });
    await page.locator("#messages li.server[data-cmd=mystery]", { hasText: '{"n":1}' }).waitFor({ timeout: 5_000 });
  }
  const muted = await bob.locator("#messages li.server").first().evaluate((li) => getComputedStyle(li).color);
  assert.equal(muted, "rgb(107, 115, 133)", "notices use the muted colour");

  await fitsThePhone(bob, "with messages, a room and notices");
  await fitsThePhone(alice, "after chatting");
  await bob.screenshot({ path: join(OUTPUT, "example-phone-bob.png") });
  await bob.screenshot({ path: join(OUTPUT, "example-phone-bob-full.png"), fullPage: true });
  await alice.screenshot({ path: join(OUTPUT, "example-phone-alice.png") });
  assert.deepEqual(problems, [], "no console errors, 4xx/5xx responses or page errors");
});
