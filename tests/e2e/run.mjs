// Launcher for the end-to-end suites: checks the required tools, makes the test CA and server
// certificate, then runs `node --test` with NODE_EXTRA_CA_CERTS pointing at that CA (real TLS
// verification), and prints the total number of assertions the suites made.
// Usage: node run.mjs [--min-assertions N] file.test.mjs...
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { makeCerts, requireTool } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
let minAssertions = 0;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--min-assertions") minAssertions = Number(args[++i]);
  else files.push(path.resolve(here, args[i]));
}
if (files.length === 0) {
  console.error("usage: node run.mjs [--min-assertions N] file.test.mjs...");
  process.exit(2);
}

function fail(msg) {
  console.error(`e2e: ${msg}`);
  process.exit(1);
}

for (const tool of ["redis-server", "openssl"]) {
  try {
    requireTool(tool);
  } catch (e) {
    fail(e.message);
  }
}
const bin = process.env.KEYWARD_BIN;
if (!bin || !fs.existsSync(bin)) fail(`KEYWARD_BIN must name the keyward binary (got ${bin})`);
if (!fs.existsSync(path.join(here, "node_modules", "@upstash", "redis", "package.json"))) {
  fail(`node_modules missing: run \`npm ci\` in ${here} (scripts/test.sh does)`);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "kw-e2e-run-"));
const certDir = path.join(work, "certs");
const countDir = path.join(work, "counts");
fs.mkdirSync(countDir);
const c = makeCerts(certDir);

const env = {
  ...process.env,
  NODE_EXTRA_CA_CERTS: c.ca,
  KW_E2E_CERT_DIR: certDir,
  KW_E2E_COUNT_DIR: countDir,
  UPSTASH_DISABLE_TELEMETRY: "",
};
delete env.NODE_TLS_REJECT_UNAUTHORIZED;
delete env.UPSTASH_DISABLE_TELEMETRY;

const child = spawn(process.execPath, ["--test", "--test-reporter=spec", "--test-timeout=90000",
                                             "--test-force-exit", ...files],
                    { cwd: here, env, stdio: "inherit" });
for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) {
  process.once(sig, () => {
    child.kill("SIGTERM");
    setTimeout(() => process.exit(1), 2000).unref();
  });
}
const code = await new Promise((resolve) => child.once("exit", (c2, sig) => resolve(sig ? 1 : c2)));

let total = 0;
for (const f of fs.readdirSync(countDir)) total += Number(fs.readFileSync(path.join(countDir, f), "utf8"));
console.log(`e2e: ${total} assertions executed in ${files.map((f) => path.basename(f)).join(", ")}`);
if (!process.env.KW_E2E_KEEP) fs.rmSync(work, { recursive: true, force: true });
if (code !== 0) fail(`node --test exited with ${code}`);
if (total < minAssertions) fail(`only ${total} assertions ran, expected at least ${minAssertions}`);
console.log("e2e: OK");
