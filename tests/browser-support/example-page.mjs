// example-page.mjs — driving the example chat page (/example) from a test: open it in a new
// page of a Chromium context, wait until its socket is open, set the chat name, and say a line.
//
// Shared by the browser suites that chat through the real page (tests/browser/). It starts no
// browser or server, and asserts nothing: it waits, and a wait that runs out throws.

/**
 * Opens `${origin}/example?ch=${room}` as `name` in a new page of `context`; console errors
 * and page errors are pushed to `problems` (the caller asserts it stays empty).
 */
export async function openChat(context, { origin, room, name, problems }) {
  const page = await context.newPage();
  page.on("console", (m) => m.type() === "error" && problems.push(`${name} console: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`${name} page error: ${e.message}`));
  await page.goto(`${origin}/example?ch=${room}`);
  await page.locator("#state-text", { hasText: "open" }).waitFor({ timeout: 10_000 });
  await page.fill("#name", name);
  await page.dispatchEvent("#name", "change");
  await page.locator("#me", { hasNotText: "…" }).waitFor({ timeout: 5_000 });
  return page;
}

/** Types `text` into the page's chat box and sends it with Enter. */
export async function say(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}
