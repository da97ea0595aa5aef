// clients.mjs — switchyard Sockets for Node tests (with the `ws` WebSocket) that record
// everything they receive, so a test can wait for a message matching a predicate.
import { WebSocket } from "ws";
import { Socket } from "../../dist/switchyard.js";
import { waitFor, sleep } from "./wait.mjs";

const everyClient = new Set();

/** Closes every client the tests made, so no reconnect loop keeps the test process alive. */
export function closeAllClients() {
  for (const client of everyClient) client.close();
  everyClient.clear();
}

export class RecordingClient {
  constructor(url, options = {}) {
    everyClient.add(this);
    this.messages = [];
    this.errors = [];
    this.closes = [];
    this.opens = [];
    this.socket = new Socket({
      url,
      WebSocket,
      onMessage: (m) => this.messages.push(m),
      onError: (e) => this.errors.push(e),
      onOpen: (info) => this.opens.push({ ...info, at: Date.now() }),
      onClose: (info) => this.closes.push({ ...info, at: Date.now() }),
      ...options,
    });
  }

  opened(count = 1, timeoutMs = 5000) {
    return waitFor(() => this.opens.length >= count, { timeoutMs, what: `open #${count} of ${this.socket.url}` });
  }

  /** Waits for a received message that matches; returns it. */
  received(predicate, { timeoutMs = 5000, what = "message" } = {}) {
    return waitFor(() => this.messages.find(predicate), { timeoutMs, what });
  }

  /** Resolves true if no matching message arrives within ms. */
  async silentFor(predicate, ms = 400) {
    await sleep(ms);
    return !this.messages.some(predicate);
  }

  close() {
    this.socket.close();
  }
}

export async function connectClient(url, options) {
  const client = new RecordingClient(url, options);
  try {
    await client.opened();
  } catch (error) {
    client.close();
    throw error;
  }
  return client;
}
