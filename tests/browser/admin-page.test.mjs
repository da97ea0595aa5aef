// admin-page.test.mjs — headless Chromium (playwright-core driving the Debian `chromium`
// package) on the real switchyard binary started with --admin-token: logs in through the form,
// sees a test client's connection appear, sends it a message from the page (the client gets it),
// sees it in the live tap, opens its channel's members, disconnects it with close-connection
// (the client is told and closed), and takes screenshots. Also saves /metrics before and after
// the traffic for metrics_check.py. A second test opens the page on a 390×844 phone screen:
// nothing wider than the screen, no failed request. Outputs go to tests/browser/out/ (or
// $ADMIN_TEST_OUTPUT).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { chromium } from "playwright-core";
import WebSocket from "ws";
import { CHROMIUM_INSTALLED, MISSING_CHROMIUM, launchChromium } from "../browser-support/chromium.mjs";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const BINARY = resolve(HERE, process.env.SWITCHYARD_BIN ?? "../../target/release/switchyard");
const OUTPUT = resolve(process.env.ADMIN_TEST_OUTPUT ?? join(HERE, "out"));
const TOKEN = randomBytes(18).toString("base64url");
const CHANNEL = "ops-browser-test";

let server;
let browser;
let context;
const problems = [];

function startServer() {
  return new Promise((resolveStart, reject) => {
    const child = spawn(BINARY, ["--listen", "127.0.0.1:0", "--workers", "2", "--admin-token", TOKEN], {
      env: { ...process.env, RUST_LOG: "info" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let log = "";
    const timer = setTimeout(() => reject(new Error(`switchyard did not start:\n${log}`)), 10_000);
    child.stderr.on("data", (chunk) => {
      log += chunk;
      const match = /listening on http:\/\/(\S+)/.exec(log);
      if (match && !child.addr) {
        child.addr = match[1];
        clearTimeout(timer);
        resolveStart(child);
      }
    });
    child.on("exit", (code) => reject(new Error(`switchyard exited ${code}:\n${log}`)));
  });
}

const base = () => `http://${server.addr}`;

async function apiGet(path) {
  const response = await fetch(`${base()}/admin/api/${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(response.status, 200, `GET ${path}`);
  return response.json();
}

async function saveMetrics(name) {
  const response = await fetch(`${base()}/metrics`);
  assert.equal(response.status, 200);
  writeFileSync(join(OUTPUT, name), await response.text());
}

/** A raw WebSocket client on the example route that records what it receives. */
function testClient() {
  return new Promise((resolveClient, reject) => {
    const socket = new WebSocket(`ws://${server.addr}/example/socket?ch=${CHANNEL}`);
    const client = { socket, messages: [], closed: null };
    socket.on("message", (data) => client.messages.push(JSON.parse(String(data))));
    socket.on("close", (code) => {
      client.closed = code;
    });
    socket.on("open", () => resolveClient(client));
    socket.on("error", reject);
  });
}

async function until(what, condition, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  assert.ok(existsSync(BINARY), `no switchyard binary at ${BINARY} (cargo build --release, or set SWITCHYARD_BIN)`);
  assert.ok(CHROMIUM_INSTALLED, MISSING_CHROMIUM);
  mkdirSync(OUTPUT, { recursive: true });
  server = await startServer();
  browser = await launchChromium(chromium, { profile: "switchyard-admin-chromium", viewport: { width: 1400, height: 1100 } });
  context = browser.context;
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
});

test("the admin page logs in, watches, sends, taps and disconnects a real client", async () => {
  await saveMetrics("metrics-before.txt");
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on("response", (r) => {
    if (r.status() === 404) problems.push(`404 for ${r.url()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));

  // Without a session the page answers 401 with the login form; a wrong token stays there.
  const first = await page.goto(`${base()}/admin/websocket`);
  assert.equal(first.status(), 401);
  await page.fill("#token", "wrong-token");
  await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
  await page.locator(".note", { hasText: "Wrong token" }).waitFor();
  problems.length = 0; // the 401 answers above are logged by Chromium as console errors
  await page.fill("#token", TOKEN);
  await Promise.all([page.waitForURL("**/admin/websocket"), page.click("button[type=submit]")]);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "switchyard_admin");
  assert.ok(session?.httpOnly, "the session cookie is HttpOnly");
  assert.equal(session.sameSite, "Strict");
  await page.locator("#live.ok").waitFor();
  // The send form says nothing before it is used (its button is disabled until it is valid).
  assert.equal(await page.textContent("#param-error"), "");
  assert.ok(await page.isDisabled("#send-button"));

  // A client connects; the page lists it with its full id.
  const client = await testClient();
  const members = await apiGet(`connections?channel=${CHANNEL}`);
  assert.equal(members.connections.length, 1);
  const id = members.connections[0].id;
  assert.match(id, /^[0-9a-f-]{36}$/);
  const row = page.locator(`#connections tbody tr[data-id="${id}"]`);
  await row.waitFor();
  // The Users panel counts the anonymous connection the Channels panel counts as a user.
  await page.locator("#user-count", { hasText: "0 signed in · 1 anonymous" }).waitFor();
  assert.equal(await page.locator(`#channels tbody tr[data-name="${CHANNEL}"] td`).nth(2).textContent(), "1");
  assert.equal(await row.locator("td").first().textContent(), id);

  // The tap is streaming; the client's own traffic shows up as "in".
  await page.locator("#tap-state", { hasText: "streaming" }).waitFor();
  client.socket.send(JSON.stringify({ cmd: "chat", param: { text: "hello admin" } }));
  await page.locator("#tap-rows tr[data-cmd=chat]").first().waitFor();

  // Select it, fill the send form from it; an invalid param blocks sending.
  await row.click();
  await page.locator(`#details[data-id="${id}"] dd`, { hasText: id }).first().waitFor();
  await page.click("#send-here");
  assert.equal(await page.inputValue("#send-target"), id);
  await page.fill("#send-cmd", "admin-notice");
  await page.fill("#send-param", "{not json");
  assert.ok(await page.isDisabled("#send-button"));
  assert.match(await page.textContent("#param-error"), /not valid JSON/);
  await page.fill("#send-param", '{"text": "hello from the admin page", "n": 1}');
  assert.ok(await page.isEnabled("#send-button"));
  await page.click("#send-button");
  await page.locator("#send-result.ok", { hasText: "sent" }).waitFor();
  await until("the client to receive admin-notice", () => client.messages.some((m) => m.cmd === "admin-notice"));
  const notice = client.messages.find((m) => m.cmd === "admin-notice");
  assert.deepEqual(notice.param, { text: "hello from the admin page", n: 1 });

  // The send is in the tap; filtering by cmd keeps only it.
  await page.locator("#tap-rows tr[data-cmd=admin-notice]").first().waitFor();
  await page.fill("#tap-filter", "admin-notice");
  await until("the tap filter", async () => {
    const cmds = await page.locator("#tap-rows tr").evaluateAll((rows) => rows.map((r) => r.dataset.cmd));
    return cmds.length > 0 && cmds.every((c) => c === "admin-notice");
  });
  await page.fill("#tap-filter", "");

  // Pause holds new events back; resume shows them.
  await page.click("#tap-pause");
  client.socket.send(JSON.stringify({ cmd: "echo", param: "while paused" }));
  await page.locator("#tap-counts", { hasText: "held while paused" }).waitFor();
  assert.equal(await page.locator("#tap-rows tr[data-cmd=echo]").count(), 0);
  await page.click("#tap-pause");
  await page.locator("#tap-rows tr[data-cmd=echo]").first().waitFor();

  // The channel filter asks the server (?q=): no match empties the list and says so.
  await page.fill("#chan-filter", "no-such-channel-here");
  await page.locator("#chan-count", { hasText: "0 match" }).waitFor();
  assert.equal(await page.locator(`#channels tbody tr[data-name="${CHANNEL}"]`).count(), 0);
  await page.fill("#chan-filter", CHANNEL.toUpperCase());
  await page.locator(`#channels tbody tr[data-name="${CHANNEL}"]`).waitFor();

  // The channel opens its members.
  await page.locator(`#channels tbody tr[data-name="${CHANNEL}"]`).click();
  await page.locator(`#members-list li[data-id="${id}"]`).waitFor();

  await page.waitForTimeout(1200); // one more refresh: counters and rates on screen
  await page.screenshot({ path: join(OUTPUT, "admin.png"), fullPage: true });
  await saveMetrics("metrics-after.txt");

  // Disconnect with close-connection: the client is told, then closed.
  await page.click("#disconnect-notify");
  await page.locator("#action-result.ok").waitFor();
  await until("the client to be closed", () => client.closed !== null);
  assert.ok(client.messages.some((m) => m.cmd === "close-connection"), "close-connection received before the close");
  await page.locator('#details[data-state="closed"]').waitFor();
  await row.waitFor({ state: "detached" });
  await page.locator("#members-list li", { hasText: "channel gone" }).waitFor();
  await page.waitForTimeout(2200); // two more refreshes: nothing asks for the closed connection with a 404
  await page.screenshot({ path: join(OUTPUT, "admin-after-disconnect.png"), fullPage: true });

  assert.deepEqual(problems, [], "no console errors, CSP violations or page errors");
  console.log(`screenshots: ${join(OUTPUT, "admin.png")} ${join(OUTPUT, "admin-after-disconnect.png")}`);
});

test("the admin page fits a 390×844 phone screen", async () => {
  const page = await context.newPage(); // the same browser: the session cookie of the first test
  await page.setViewportSize({ width: 390, height: 844 });
  const failures = [];
  page.on("console", (m) => { if (m.type() === "error") failures.push(`console: ${m.text()}`); });
  page.on("response", (r) => { if (r.status() >= 400) failures.push(`${r.status()} for ${r.url()}`); });
  page.on("pageerror", (e) => failures.push(`page error: ${e.message}`));
  const client = await testClient();
  await page.goto(`${base()}/admin/websocket`);
  await page.locator("#live.ok").waitFor();
  await page.locator("#connections tbody tr[data-id]").first().waitFor();
  await page.locator("#tap-state", { hasText: "streaming" }).waitFor();
  client.socket.send(JSON.stringify({ cmd: "chat", param: { text: "from a phone-sized admin test" } }));
  await page.locator("#tap-rows tr[data-cmd=chat]").first().waitFor();
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `the admin page is ${width}px wide on a 390px screen`);
  for (const selector of ["#send-button", "#conn-filter", "#tap-pause", "nav a[href='/metrics']"]) {
    const box = await page.locator(selector).boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 390.5, `${selector} is inside the screen: ${JSON.stringify(box)}`);
  }
  await page.screenshot({ path: join(OUTPUT, "admin-phone.png") });
  await page.screenshot({ path: join(OUTPUT, "admin-phone-full.png"), fullPage: true });
  client.socket.close();
  assert.deepEqual(failures, [], "no console errors or failed requests");
  console.log(`phone screenshots: ${join(OUTPUT, "admin-phone.png")} ${join(OUTPUT, "admin-phone-full.png")}`);
});
