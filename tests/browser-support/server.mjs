// server.mjs — starting the real switchyard binary for a browser suite: spawn it on a free
// loopback port with the caller's flags, and resolve with the child and the origin it prints
// ("listening on http://..." or "https://..."). Rejects if it exits or is silent for 10 s.
//
// Shared by the browser suites of tests/browser/. It launches no browser and asserts nothing;
// the caller kills the child when it is done.
import { spawn } from "node:child_process";

/** Starts `binary` with `--listen 127.0.0.1:0` plus `args`: `{ child, origin }`. */
export function startSwitchyard(binary, args) {
  return new Promise((resolveStart, reject) => {
    const child = spawn(binary, ["--listen", "127.0.0.1:0", ...args], {
      env: { ...process.env, RUST_LOG: "info" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let log = "";
    let started = false;
    const timer = setTimeout(() => reject(new Error(`switchyard did not start:\n${log}`)), 10_000);
    child.stderr.on("data", (chunk) => {
      log += chunk;
      const found = /listening on (https?:\/\/[0-9.:]+)/.exec(log);
      if (found && !started) {
        started = true;
        clearTimeout(timer);
        resolveStart({ child, origin: found[1] });
      }
    });
    child.on("exit", (code) => reject(new Error(`switchyard exited with ${code}:\n${log}`)));
  });
}
