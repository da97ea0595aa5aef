// wait.mjs — small async helpers for tests: sleep and polling a condition with a deadline.

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with the condition's first truthy value; rejects with `what` after timeoutMs. */
export async function waitFor(condition, { timeoutMs = 5000, intervalMs = 10, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
