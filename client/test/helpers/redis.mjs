// redis.mjs — a throwaway redis-server for the tests that need a cluster: started on a free
// loopback port without persistence, stopped by the test. Never touches a Redis it did not start.
import { execFileSync, spawn } from "node:child_process";
import { createConnection } from "node:net";
import { freePort } from "./server.mjs";
import { sleep } from "./wait.mjs";

/** Whether redis-server is installed (scripts/redis.sh installs it in CI). */
export function redisInstalled() {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Starts redis-server; resolves `{ url, stop(), keys(pattern) }` once it answers PING. */
export async function startRedis() {
  const port = await freePort();
  const child = spawn(
    "redis-server",
    ["--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--port", String(port), "--daemonize", "no"],
    { stdio: "ignore" },
  );
  const exited = new Promise((resolve) => child.on("exit", resolve));
  process.on("exit", () => child.kill("SIGKILL"));
  const stop = async () => {
    child.kill("SIGTERM");
    await exited;
  };
  const deadline = Date.now() + 10_000;
  while (!(await answersPing(port))) {
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server on port ${port} did not answer PING within 10 s`);
    }
    await sleep(50);
  }
  /** Names of the keys matching a glob pattern (through redis-cli, installed with the server). */
  const keys = (pattern) =>
    execFileSync("redis-cli", ["-p", String(port), "--scan", "--pattern", pattern], { encoding: "utf8" })
      .split("\n")
      .filter((line) => line !== "");
  return { url: `redis://127.0.0.1:${port}`, stop, keys };
}

function answersPing(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port }, () => socket.write("PING\r\n"));
    socket.setTimeout(500, () => socket.destroy());
    socket.on("data", (data) => {
      socket.destroy();
      resolve(data.toString().startsWith("+PONG"));
    });
    socket.on("error", () => resolve(false));
    socket.on("close", () => resolve(false));
  });
}
