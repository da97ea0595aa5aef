// tls-example.test.mjs — headless Chromium on the real binary started with --tls-cert/--tls-key
// (the self-signed test fixture, trusted only here through --ignore-certificate-errors): two
// pages load https://…/example, reach the server over wss:// (an https page may not open ws://)
// and chat both ways. Also fetches /healthz over https from the page. Skips (loudly) without
// Chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { CHROMIUM_FLAGS, launchChromium, skipWithoutChromium } from "../browser-support/chromium.mjs";
import { openChat as openExampleChat, say } from "../browser-support/example-page.mjs";
import { startSwitchyard } from "../browser-support/server.mjs";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const BINARY = resolve(HERE, process.env.SWITCHYARD_BIN ?? "../../target/release/switchyard");
const FIXTURES = resolve(HERE, "../fixtures/tls");
const skip = skipWithoutChromium("TLS BROWSER TEST");

let server;
let origin;
let browser;
const problems = [];

before(async () => {
  if (skip) return;
  ({ child: server, origin } = await startSwitchyard(BINARY, ["--workers", "2",
    "--tls-cert", `${FIXTURES}/cert-a.pem`, "--tls-key", `${FIXTURES}/key-a.pem`]));
  browser = await launchChromium(chromium, {
    profile: "switchyard-tls",
    args: [...CHROMIUM_FLAGS, "--ignore-certificate-errors"],
  });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGKILL");
});

const openChat = (name) => openExampleChat(browser.context, { origin, room: "tls-lobby", name, problems });

test("two Chromium pages chat over https:// and wss://", { skip }, async () => {
  const alice = await openChat("Alice");
  const bob = await openChat("Bob");
  assert.equal(await alice.evaluate(() => location.protocol), "https:");
  await say(alice, "Hello over TLS");
  await bob.locator("#messages li.chat", { hasText: "Hello over TLS" }).waitFor({ timeout: 5_000 });
  await say(bob, "Encrypted reply");
  await alice.locator("#messages li.chat", { hasText: "Encrypted reply" }).waitFor({ timeout: 5_000 });
  const health = await alice.evaluate(async () => (await fetch("/healthz")).text());
  assert.equal(health.trim(), "ok");
  assert.deepEqual(problems, []);
});
