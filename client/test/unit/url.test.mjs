// url.test.mjs — the Go client's URL rules (resolveSocketUrl) and how Socket applies them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveSocketUrl, Socket, SocketError } from "../../dist/switchyard.js";
import { makeFakeWebSocket } from "../helpers/fake-websocket.mjs";

const httpPage = { protocol: "http:", host: "chat.example:8080", href: "http://chat.example:8080/example" };
const httpsPage = { protocol: "https:", host: "chat.example", href: "https://chat.example/rooms/lobby" };

test("ws:// and wss:// URLs are used as they are", () => {
  assert.equal(resolveSocketUrl("ws://10.0.0.1:9/x?ch=a", httpsPage), "ws://10.0.0.1:9/x?ch=a");
  assert.equal(resolveSocketUrl("wss://h/socket", httpPage), "wss://h/socket");
  assert.equal(resolveSocketUrl("WSS://h/socket", httpPage), "WSS://h/socket");
});

test("an absolute path takes the page's host, ws: on http pages", () => {
  assert.equal(resolveSocketUrl("/example/socket?ch=lobby", httpPage), "ws://chat.example:8080/example/socket?ch=lobby");
});

test("an absolute path takes wss: on https pages", () => {
  assert.equal(resolveSocketUrl("/example/socket", httpsPage), "wss://chat.example/example/socket");
});

test("a relative path resolves against the page's path", () => {
  assert.equal(resolveSocketUrl("socket?ch=x", httpsPage), "wss://chat.example/rooms/socket?ch=x");
});

test("a path that merely starts with the letters ws is a path, not a URL", () => {
  assert.equal(resolveSocketUrl("/wsapi", httpPage), "ws://chat.example:8080/wsapi");
  assert.equal(resolveSocketUrl("wsapi/socket", httpPage), "ws://chat.example:8080/wsapi/socket");
});

test("http(s):// URLs map to ws(s):// on their own host", () => {
  assert.equal(resolveSocketUrl("https://other/s", httpPage), "wss://other/s");
  assert.equal(resolveSocketUrl("http://other:1/s", httpsPage), "ws://other:1/s");
});

test("a base URL string works like a page location (Node)", () => {
  assert.equal(resolveSocketUrl("/example/socket", "http://127.0.0.1:4000/"), "ws://127.0.0.1:4000/example/socket");
  assert.equal(resolveSocketUrl("/s", "https://127.0.0.1:4000"), "wss://127.0.0.1:4000/s");
});

test("a location without href still resolves (protocol + host)", () => {
  assert.equal(resolveSocketUrl("/s", { protocol: "https:", host: "h:1" }), "wss://h:1/s");
});

test("a relative URL with no page and no base is a config error", () => {
  assert.equal(globalThis.location, undefined);
  assert.throws(() => resolveSocketUrl("/example/socket"), (error) => error instanceof SocketError && error.kind === "config");
});

test("Socket resolves its url option against the base option", () => {
  const FakeWebSocket = makeFakeWebSocket();
  const socket = new Socket({ url: "/example/socket?ch=t", base: "http://127.0.0.1:5555/", WebSocket: FakeWebSocket });
  assert.equal(socket.url, "ws://127.0.0.1:5555/example/socket?ch=t");
  assert.equal(FakeWebSocket.last.url, "ws://127.0.0.1:5555/example/socket?ch=t");
  socket.close();
});

test("Socket uses globalThis.location in a page, defaulting to /example/socket", (t) => {
  globalThis.location = { protocol: "https:", host: "page.test", href: "https://page.test/example" };
  t.after(() => delete globalThis.location);
  const FakeWebSocket = makeFakeWebSocket();
  const socket = new Socket({ WebSocket: FakeWebSocket });
  assert.equal(socket.url, "wss://page.test/example/socket");
  socket.close();
});
