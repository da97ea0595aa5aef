// chromium.mjs — the one way switchyard's browser tests start headless Chromium: where it is
// (CHROMIUM_PATH, default the Debian package's /usr/bin/chromium), the loud banner when it is
// missing, and a persistent context in a throwaway profile with the same flags for every suite.
//
// Shared by two npm packages (client/test/browser/ and tests/browser/), imported by relative
// path. It imports no package itself: each caller passes the `chromium` launcher of its own
// playwright-core, so each package resolves (and pins) its own copy. It starts no server and
// asserts nothing about pages.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The Chromium executable the tests drive. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Whether it exists (checked once, when the module loads). */
export const CHROMIUM_INSTALLED = existsSync(CHROMIUM_PATH);

/** What to say when it does not. */
export const MISSING_CHROMIUM =
  `no Chromium at ${CHROMIUM_PATH}: install it with ` +
  "apt-get update && apt-get install -y chromium (or set CHROMIUM_PATH)";

/** Flags for a quiet, sandbox-free headless Chromium that talks only to the test server. */
export const CHROMIUM_FLAGS = Object.freeze([
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
]);

/**
 * For a suite that skips without Chromium: false when it is installed; else prints a banner
 * naming the skipped `suite` and returns the reason, for `test(name, { skip }, ...)`.
 */
export function skipWithoutChromium(suite) {
  if (CHROMIUM_INSTALLED) return false;
  const banner = "!".repeat(78);
  console.error(`\n${banner}\n!! ${suite} SKIPPED: ${MISSING_CHROMIUM}\n${banner}\n`);
  return MISSING_CHROMIUM;
}

/**
 * Headless Chromium with a fresh profile directory. `chromium` is the caller's
 * `import { chromium } from "playwright-core"`; `contextOptions` (viewport, isMobile, ...)
 * go to `launchPersistentContext`. Returns `{ context, close }`; `close()` shuts the browser
 * and removes the profile, and is safe to call twice.
 */
export async function launchChromium(chromium, { profile = "switchyard-chromium", ...contextOptions } = {}) {
  if (!CHROMIUM_INSTALLED) throw new Error(MISSING_CHROMIUM);
  const userDataDir = mkdtempSync(join(tmpdir(), `${profile}-`));
  const removeProfile = () => rmSync(userDataDir, { recursive: true, force: true });
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_FLAGS],
      ...contextOptions,
    });
  } catch (error) {
    removeProfile();
    throw error;
  }
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    try {
      await context.close();
    } finally {
      removeProfile();
    }
  };
  return { context, close };
}
