#!/usr/bin/env node
// backoff-model.mjs — what the client's reconnect backoff alone adds after a server restart,
// without a server, a network or a loaded machine in the way: N clients lose their connection
// at t = 0, every retry before the server is back (t = outage) is refused at once, and the first
// retry after it succeeds. It runs the client's own backoffDelay (from dist/switchyard.js), once
// as it is (ceiling capped by the outage so far) and once without that cap (plain exponential
// backoff with full jitter, as before), and prints how long clients waited after the server
// was back: mean, p99 and the last one ("all back"), and the retries per client.
//
//   node bench/backoff-model.mjs [--clients 3000] [--outages 200,500,1000,2000,5000,20000]
import { parseArgs } from "node:util";
import { backoffDelay, DEFAULT_BACKOFF } from "../dist/switchyard.js";

const { values: flags } = parseArgs({
  options: {
    clients: { type: "string", default: "3000" },
    outages: { type: "string", default: "200,500,1000,2000,5000,20000" },
  },
});
const clients = Number(flags.clients);

/** One client: the wait after the server is back, and how many retries it took. */
function reconnect(outageMs, capByOutage) {
  let now = 0;
  let attempt = 0;
  while (now < outageMs) {
    now += backoffDelay(attempt, DEFAULT_BACKOFF, Math.random, capByOutage ? now : Infinity);
    attempt += 1;
  }
  return { waitMs: now - outageMs, retries: attempt };
}

function describe(outageMs, capByOutage) {
  const runs = Array.from({ length: clients }, () => reconnect(outageMs, capByOutage));
  const waits = runs.map((r) => r.waitMs).sort((a, b) => a - b);
  const mean = (values) => values.reduce((s, v) => s + v, 0) / values.length;
  return [
    `mean ${mean(waits).toFixed(0).padStart(5)}`,
    `p99 ${String(waits[Math.floor(0.99 * waits.length)]).padStart(5)}`,
    `all back +${String(waits.at(-1)).padStart(5)} ms`,
    `retries ${mean(runs.map((r) => r.retries)).toFixed(1)}`,
  ].join("  ");
}

console.log(`${clients} clients, default backoff ${JSON.stringify(DEFAULT_BACKOFF)}; waits after the server is back:`);
for (const outageMs of flags.outages.split(",").map(Number)) {
  console.log(`outage ${String(outageMs).padStart(5)} ms  capped by the outage: ${describe(outageMs, true)}`);
  console.log(`${" ".repeat(16)}plain exponential:   ${describe(outageMs, false)}`);
}
