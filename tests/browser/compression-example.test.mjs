// compression-example.test.mjs — headless Chromium on the real binary started with
// --compression: the example page chats with it as a browser always does (offering
// permessage-deflate), and a WebSocket opened from the page shows what was negotiated
// (`ws.extensions`), sends a large compressible message (an echo of about 25 KB: Chromium
// compresses it, the server inflates it and compresses the reply) and receives a chat fanned
// out from another page. The server's own counters (/admin/api/status) prove that the bytes
// really travelled compressed both ways. Skips (loudly) without Chromium.
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
const skip = skipWithoutChromium("COMPRESSION BROWSER TEST");
const ROOM = "deflate-room";

let server;
let origin;
let browser;
const problems = [];

async function status() {
  const response = await fetch(`${origin}/admin/api/status`);
  assert.equal(response.status, 200);
  return response.json();
}

before(async () => {
  if (skip) return;
  ({ child: server, origin } = await startSwitchyard(BINARY, ["--workers", "2", "--compression"]));
  browser = await launchChromium(chromium, { profile: "switchyard-deflate", args: [...CHROMIUM_FLAGS] });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGKILL");
});

const openChat = (name) => openExampleChat(browser.context, { origin, room: ROOM, name, problems });

test("Chromium negotiates permessage-deflate, round-trips 25 KB compressed and gets fan-out", { skip }, async () => {
  const alice = await openChat("Alice");
  const bob = await openChat("Bob");

  // A socket of Alice's page's own, to see what Chromium negotiated and what arrives.
  const extensions = await alice.evaluate((room) => new Promise((done, fail) => {
    const ws = new WebSocket(`${location.origin.replace("http", "ws")}/example/socket?ch=${room}`);
    window.deflateTest = { ws, chats: [] };
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.cmd === "chat") window.deflateTest.chats.push(message.param.text);
      if (message.cmd === "echo") window.deflateTest.echo = message.param;
    };
    ws.onopen = () => done(ws.extensions);
    ws.onerror = () => fail(new Error("the page's WebSocket failed"));
  }), ROOM);
  assert.match(extensions, /^permessage-deflate/, `Chromium's ws.extensions: ${extensions}`);
  assert.match(extensions, /server_no_context_takeover/);

  const before = await status();
  const big = await alice.evaluate(async () => {
    const text = Array.from({ length: 1000 }, (_, i) => `word ${i % 50} again and again;`).join(" ");
    window.deflateTest.ws.send(JSON.stringify({ cmd: "echo", param: text }));
    for (let waited = 0; window.deflateTest.echo === undefined && waited < 10_000; waited += 20) {
      await new Promise((r) => setTimeout(r, 20));
    }
    return { sent: text, echoed: window.deflateTest.echo };
  });
  assert.ok(big.sent.length > 24_000, `${big.sent.length} characters`);
  assert.equal(big.echoed, big.sent, "the echo came back whole");
  const afterEcho = await status();
  const read = afterEcho.bytes_in - before.bytes_in;
  const sent = afterEcho.bytes_out - before.bytes_out;
  assert.ok(read < big.sent.length / 4, `Chromium sent it compressed: ${read} bytes for ${big.sent.length}`);
  assert.ok(sent < big.sent.length / 4, `the server replied compressed: ${sent} bytes for ${big.sent.length}`);
  assert.ok(afterEcho.messages_compressed > before.messages_compressed, "counted as compressed");

  // Fan-out: Bob's page chats; Alice's page shows it and her own socket receives it.
  const line = "Bob's long line, compressed once for every member: " + Array(60).fill("la").join(" ");
  await say(bob, line);
  await alice.locator("#messages li.chat", { hasText: "compressed once for every member" }).waitFor({ timeout: 5_000 });
  await alice.waitForFunction((text) => window.deflateTest.chats.includes(text), line, { timeout: 5_000 });
  const afterChat = await status();
  assert.ok(afterChat.messages_compressed > afterEcho.messages_compressed, "the fan-out was compressed");
  assert.deepEqual(problems, []);
});
