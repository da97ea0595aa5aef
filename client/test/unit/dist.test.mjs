// dist.test.mjs — the committed dist/ (embedded in the server binary) equals a fresh build.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const clientDir = fileURLToPath(new URL("../..", import.meta.url));

test("committed dist/switchyard.js and .d.ts match a fresh tsc build of src/", () => {
  try {
    execFileSync(process.execPath, ["scripts/check-dist.mjs"], { cwd: clientDir, encoding: "utf8", stdio: "pipe" });
  } catch (error) {
    assert.fail(`${error.stdout}${error.stderr}`);
  }
});

test("dist/switchyard.js is a self-contained module (no imports: the server serves only this file)", () => {
  const source = readFileSync(new URL("../../dist/switchyard.js", import.meta.url), "utf8");
  assert.doesNotMatch(source, /^\s*import\s/m);
  assert.doesNotMatch(source, /\brequire\(/);
  assert.match(source, /export class Socket\b/);
});

test("package.json: named switchyard-client, zero runtime dependencies", () => {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  assert.equal(pkg.name, "switchyard-client");
  assert.deepEqual(pkg.dependencies ?? {}, {});
  assert.equal(pkg.type, "module");
});
