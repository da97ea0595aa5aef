// check-dist.mjs — fails when the committed dist/ differs from a fresh `tsc` build of src/.
// The Rust server embeds dist/switchyard.js with include_str!, so a stale dist ships stale code.
// Usage: node scripts/check-dist.mjs   (exit 0: up to date; exit 1: rebuild and commit dist/)
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const clientDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const freshDir = mkdtempSync(join(tmpdir(), "switchyard-dist-"));
try {
  const tsc = join(clientDir, "node_modules", "typescript", "bin", "tsc");
  execFileSync(process.execPath, [tsc, "-p", join(clientDir, "tsconfig.json"), "--outDir", freshDir], {
    cwd: clientDir,
    stdio: "inherit",
  });
  const expected = readdirSync(freshDir).sort();
  const committed = readdirSync(join(clientDir, "dist")).sort();
  const problems = [];
  if (JSON.stringify(expected) !== JSON.stringify(["switchyard.d.ts", "switchyard.js"])) {
    problems.push(`the build must yield exactly switchyard.js and switchyard.d.ts, got ${expected.join(", ")}`);
  }
  if (JSON.stringify(expected) !== JSON.stringify(committed)) {
    problems.push(`dist/ holds ${committed.join(", ")}; a fresh build holds ${expected.join(", ")}`);
  }
  for (const name of expected) {
    if (!committed.includes(name)) continue;
    const fresh = readFileSync(join(freshDir, name), "utf8");
    const current = readFileSync(join(clientDir, "dist", name), "utf8");
    if (fresh !== current) problems.push(`dist/${name} differs from a fresh build of src/`);
  }
  if (problems.length > 0) {
    console.error("check-dist: FAILED\n  " + problems.join("\n  "));
    console.error("fix: cd client && npm run build && git add client/dist && commit");
    process.exitCode = 1;
  } else {
    console.log("check-dist: dist/ matches a fresh build of src/");
  }
} finally {
  rmSync(freshDir, { recursive: true, force: true });
}
