// server.mjs — runs the real switchyard binary for integration and browser tests: finds it
// (env SWITCHYARD_BIN, default ../target/release/switchyard from client/), starts it on a free
// loopback port, waits for /healthz, and stops, kills or restarts it on the same port.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import { sleep } from "./wait.mjs";

const clientDir = fileURLToPath(new URL("../..", import.meta.url));

export function binaryPath() {
  return resolve(clientDir, process.env.SWITCHYARD_BIN ?? "../target/release/switchyard");
}

/** A loopback port nobody listens on right now. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolvePort(port));
    });
  });
}

const running = new Set();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export class SwitchyardServer {
  /** @param {{port?: number, args?: string[]}} options extra flags, e.g. ["--idle-timeout", "2s"] */
  constructor({ port, args = [] } = {}) {
    this.port = port;
    this.args = args;
    this.child = null;
    this.log = "";
    this.exitCode = null;
  }

  get httpUrl() {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.port}`;
  }

  socketUrl(channel) {
    return `${this.wsUrl}/example/socket?ch=${encodeURIComponent(channel)}`;
  }

  async start() {
    const bin = binaryPath();
    if (!existsSync(bin)) {
      throw new Error(
        `switchyard binary not found at ${bin}: run \`cargo build --release\` in the repo root, ` +
          `or point SWITCHYARD_BIN at a built binary`,
      );
    }
    this.port ??= await freePort();
    this.exitCode = null;
    const child = spawn(bin, ["--listen", `127.0.0.1:${this.port}`, "--workers", "2", ...this.args], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "info" },
    });
    this.child = child;
    running.add(child);
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => {
      this.log += chunk;
      if (process.env.SWITCHYARD_TEST_LOG) process.stderr.write(`[switchyard] ${chunk}`);
    });
    this.exited = new Promise((resolveExit) =>
      child.on("exit", (code, signal) => {
        running.delete(child);
        this.exitCode = code ?? signal;
        resolveExit(this.exitCode);
      }),
    );
    await this.#waitHealthy();
    return this;
  }

  async #waitHealthy() {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (this.exitCode !== null) {
        throw new Error(`switchyard exited (${this.exitCode}) before it was healthy:\n${this.log.slice(-3000)}`);
      }
      try {
        const response = await fetch(`${this.httpUrl}/healthz`);
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    throw new Error(`switchyard not healthy on port ${this.port} after 15 s:\n${this.log.slice(-3000)}`);
  }

  /** SIGTERM (graceful: clients get close 1001) or SIGKILL; resolves with the exit code/signal. */
  async stop(signal = "SIGTERM") {
    const child = this.child;
    if (child === null || this.exitCode !== null) return this.exitCode;
    child.kill(signal);
    const timeout = sleep(8_000).then(() => "timeout");
    const result = await Promise.race([this.exited, timeout]);
    if (result === "timeout") {
      child.kill("SIGKILL");
      await this.exited;
      throw new Error(`switchyard did not exit within 8 s of ${signal}`);
    }
    return result;
  }
}

export async function startServer(options) {
  return new SwitchyardServer(options).start();
}
