#!/usr/bin/env node
// restart-storm.mjs — a deploy under one big channel, measured from the client's side.
//
// Starts the switchyard binary (`--workers 1`, pinned to core 0 with taskset when there is one),
// opens N clients of OUR client (dist/switchyard.js over `ws`, default options) in one channel,
// stops the server with SIGTERM (clients get close 1001), starts it again on the same port at
// once, and reports how long until every client is back (onOpen with reconnected: true), how
// many retries that took, how many presence frames each client parsed after the restart, both
// processes' CPU time, this process's event-loop delay (on a busy machine the clients' own
// process can be what is slow), and a timeline of closes, attempts, failures and opens.
// It owns nothing but this measurement: no test asserts on it (it takes tens of seconds).
//
//   node bench/restart-storm.mjs                       # N = 3000, then N = 5000
//   node bench/restart-storm.mjs --clients 3000 --bin ../target/release/switchyard \
//        --server-arg=--presence-batch-above --server-arg=1000000   # per-join presence (old form)
//   taskset -c 1 node bench/restart-storm.mjs ...      # keep the clients off the server's core
//
// Flags: --clients N[,N...] (default 3000,5000); --bin PATH (SWITCHYARD_BIN, default
// ../target/release/switchyard); --server-arg ARG (repeatable); --timeout-s S (for all to be
// back, default 60); --connect-timeout-s S (for the first N connects, default 300); --down-ms MS
// (wait this long after the old server exited before starting the new one, default 0);
// --client PATH (the client module to load, default dist/switchyard.js, e.g. an older build to
// compare); --backoff JSON (client backoff options); --json (one JSON line per run).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { WebSocket } from "ws";

const clientDir = fileURLToPath(new URL("..", import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const { values: flags } = parseArgs({
  options: {
    clients: { type: "string", default: "3000,5000" },
    bin: { type: "string", default: process.env.SWITCHYARD_BIN ?? "../target/release/switchyard" },
    "server-arg": { type: "string", multiple: true, default: [] },
    "timeout-s": { type: "string", default: "60" },
    "connect-timeout-s": { type: "string", default: "300" },
    backoff: { type: "string" },
    json: { type: "boolean", default: false },
    "down-ms": { type: "string", default: "0" },
    client: { type: "string", default: "dist/switchyard.js" },
  },
});
// The client under test: this build, or another (e.g. an older dist/switchyard.js) to compare.
const { Socket } = await import(pathToFileURL(resolve(clientDir, flags.client)).href);
const downMs = Number(flags["down-ms"]);
const bin = resolve(clientDir, flags.bin);
const timeoutMs = Number(flags["timeout-s"]) * 1000;
const connectTimeoutMs = Number(flags["connect-timeout-s"]) * 1000;
const backoff = flags.backoff ? JSON.parse(flags.backoff) : undefined;
const hasTaskset = spawnSync("taskset", ["-c", "0", "true"]).status === 0;

function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.on("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

/** When the last server started said it was listening (its first log line). */
let listeningAt = 0;

/** Every server started, killed if this script ends early (an error, ^C). */
const servers = new Set();
process.on("exit", () => servers.forEach((child) => child.kill("SIGKILL")));
process.on("SIGINT", () => process.exit(130));

/** The server process: started pinned to core 0, one worker; `exited` resolves on exit. */
function startServer(port) {
  const args = ["--listen", `127.0.0.1:${port}`, "--workers", "1", ...flags["server-arg"]];
  const [command, argv] = hasTaskset ? ["taskset", ["-c", "0", bin, ...args]] : [bin, args];
  const child = spawn(command, argv, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, RUST_LOG: "info" } });
  let log = "";
  child.stderr.on("data", (chunk) => {
    if (/listening on/.test(chunk) && !/listening on/.test(log)) {
      listeningAt = Date.now();
      timeline.push([listeningAt, "server listening"]);
    }
    log = (log + chunk).slice(-4000);
  });
  servers.add(child);
  const exited = new Promise((done) =>
    child.on("exit", (code, signal) => {
      servers.delete(child);
      done(code ?? signal);
    }),
  );
  return { child, exited, log: () => log };
}

async function waitHealthy(port, server) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return Date.now();
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`server not healthy within 15 s:\n${server.log()}`);
    await sleep(10);
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux only). */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}

/** Events of every client, for the timeline: [ms since epoch, kind]. */
const timeline = [];
let recording = false;
const note = (kind) => recording && timeline.push([Date.now(), kind]);

/** The `ws` WebSocket, noting each connect attempt and how it ended. */
class NotedWebSocket extends WebSocket {
  constructor(url) {
    super(url);
    note("attempt");
    this.addEventListener("open", () => note("open"));
    this.addEventListener("error", () => note("failed"));
  }
}

/** Counts of each kind of event per `bucketMs` since `from`: how the restart unfolded. */
function describeTimeline(from, bucketMs = 250) {
  const buckets = new Map();
  for (const [at, kind] of timeline) {
    const bucket = Math.floor((at - from) / bucketMs);
    const counts = buckets.get(bucket) ?? {};
    counts[kind] = (counts[kind] ?? 0) + 1;
    buckets.set(bucket, counts);
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([bucket, counts]) => `${String(bucket * bucketMs).padStart(6)} ms  ${Object.entries(counts).map(([k, n]) => `${k} ${n}`).join(", ")}`);
}

/** One client of the channel, counting what the measurement needs. */
class StormClient {
  constructor(url) {
    this.reset();
    this.opens = 0;
    const client = this;
    /** Notes when the attempt that opened began: the backoff's share of the wait. */
    class ClientWebSocket extends NotedWebSocket {
      constructor(address) {
        super(address);
        const startedAt = Date.now();
        this.addEventListener("open", () => (client.openedAttemptAt = startedAt));
      }
    }
    this.socket = new Socket({
      url,
      WebSocket: ClientWebSocket,
      backoff,
      onOpen: ({ reconnected }) => {
        this.opens += 1;
        if (reconnected && this.backAt === 0) this.backAt = Date.now();
      },
      onMessage: (message) => {
        if (message.cmd === "online-update") this.single += 1;
        else if (message.cmd === "online-updates") this.coalesced += 1;
      },
      onClose: () => {
        note("closed");
        if (this.closedAt === 0) this.closedAt = Date.now();
      },
      onReconnect: ({ attempt }) => {
        this.retries += 1;
        this.maxAttempt = Math.max(this.maxAttempt, attempt);
      },
      onError: () => {},
    });
  }

  reset() {
    this.single = 0;
    this.coalesced = 0;
    this.retries = 0;
    this.maxAttempt = 0;
    this.backAt = 0;
    this.closedAt = 0;
  }
}

const percentile = (sorted, p) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]);
const summary = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length);
  return { mean: Math.round(mean * 10) / 10, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? NaN };
};

async function openAll(url, count) {
  const clients = [];
  const started = Date.now();
  for (let i = 0; i < count; i += 250) {
    const batch = Array.from({ length: Math.min(250, count - i) }, () => new StormClient(url));
    clients.push(...batch);
    while (batch.some((c) => c.opens === 0)) {
      if (Date.now() - started > connectTimeoutMs) throw new Error(`only ${clients.filter((c) => c.opens > 0).length} of ${count} opened`);
      await sleep(20);
    }
  }
  return { clients, connectMs: Date.now() - started };
}

/** Waits until no presence frame has arrived for quietMs (the join announcements are done). */
async function settle(clients, quietMs = 1000) {
  const total = () => clients.reduce((s, c) => s + c.single + c.coalesced, 0);
  let last = -1;
  while (total() !== last) {
    last = total();
    await sleep(quietMs);
  }
}

async function run(count) {
  const port = await freePort();
  let server = startServer(port);
  await waitHealthy(port, server);
  const url = `ws://127.0.0.1:${port}/example/socket?ch=storm`;
  const { clients, connectMs } = await openAll(url, count);
  await settle(clients);
  for (const client of clients) client.reset();

  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const nodeCpu = process.cpuUsage();
  timeline.length = 0;
  recording = true;
  const stopAt = Date.now();
  server.child.kill("SIGTERM");
  await server.exited;
  const downAt = Date.now();
  timeline.push([downAt, "old server exited"]);
  await sleep(downMs); // a deploy that takes longer than a restart
  server = startServer(port);
  timeline.push([Date.now(), "new server spawned"]);
  const healthyAt = await waitHealthy(port, server);
  timeline.push([healthyAt, "new server healthy"]);
  const deadline = downAt + timeoutMs;
  while (clients.some((c) => c.backAt === 0) && Date.now() < deadline) await sleep(20);
  const allBackAt = Date.now();
  const back = clients.filter((c) => c.backAt !== 0);
  const boundAt = Math.min(...back.map((c) => c.openedAttemptAt));
  await settle(clients, 500); // the presence of the last joins
  const serverCpuS = cpuSeconds(server.child.pid);
  const { user, system } = process.cpuUsage(nodeCpu);
  recording = false;
  loopDelay.disable();

  const result = {
    clients: count,
    client: flags.client,
    downMs,
    serverArgs: flags["server-arg"].join(" "),
    backoff: backoff ?? "default",
    initialConnectMs: connectMs,
    shutdownMs: downAt - stopAt,
    restartToHealthyMs: healthyAt - downAt,
    back: back.length,
    notBack: count - back.length,
    allBackAfterStopMs: back.length === count ? allBackAt - stopAt : null,
    allBackAfterRestartMs: back.length === count ? allBackAt - downAt : null,
    closedAfterStopMs: summary(clients.filter((c) => c.closedAt !== 0).map((c) => c.closedAt - stopAt)),
    backAfterRestartMs: summary(back.map((c) => c.backAt - downAt)),
    // How long each waited after the new server logged "listening" (its own start-up and this
    // process's delays included).
    backAfterListeningMs: summary(back.map((c) => c.backAt - listeningAt)),
    // The backoff's share: how long after the first attempt that got through (the new server's
    // socket was bound) each client's successful attempt began.
    retryAfterBoundMs: summary(back.map((c) => c.openedAttemptAt - boundAt)),
    retriesPerClient: summary(clients.map((c) => c.retries)),
    maxAttempt: summary(clients.map((c) => c.maxAttempt)),
    onlineUpdatePerClient: summary(clients.map((c) => c.single)),
    onlineUpdatesPerClient: summary(clients.map((c) => c.coalesced)),
    newServerCpuS: Math.round(serverCpuS * 100) / 100,
    clientsCpuS: Math.round((user + system) / 1e4) / 100, // this Node process, from SIGTERM to settled
    // How late this process ran its callbacks (its timers, its socket events): the resolution
    // of every figure above.
    clientsLoopDelayMs: { p50: Math.round(loopDelay.percentile(50) / 1e6), p99: Math.round(loopDelay.percentile(99) / 1e6), max: Math.round(loopDelay.max / 1e6) },
    timelineFromStop: describeTimeline(stopAt),
  };
  for (const client of clients) client.socket.close();
  server.child.kill("SIGTERM");
  await server.exited;
  return result;
}

if (!existsSync(bin)) {
  console.error(`no switchyard binary at ${bin}: build it (cargo build --release) or pass --bin`);
  process.exit(2);
}
for (const count of flags.clients.split(",").map(Number)) {
  const result = await run(count);
  if (flags.json) {
    console.log(JSON.stringify(result));
    continue;
  }
  console.log(`\n=== ${count} clients, one channel, ${flags["server-arg"].join(" ") || "default presence flags"} ===`);
  const { timelineFromStop, ...figures } = result;
  for (const [key, value] of Object.entries(figures)) console.log(`${key.padEnd(24)} ${typeof value === "object" ? JSON.stringify(value) : value}`);
  console.log("timeline after SIGTERM (events per 250 ms):");
  for (const line of timelineFromStop) console.log(`  ${line}`);
}
process.exit(0);
