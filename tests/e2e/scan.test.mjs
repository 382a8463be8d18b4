// `keyward scan` (README, Leak scanning) on a corpus of realistic leaked artifacts
// (tests/scan/corpus/leaks: a Next.js .next/static chunk, a Vite dist/ with its source map, a
// Worker's wrangler.toml, vercel.json and bundle with an inline base64 source map, a committed .env.production, a config tracked in a
// repository), with every detector hitting at the asserted FILE:LINE:COL; a negative corpus
// (tests/scan/corpus/clean, thousands of generated near misses, and the real third-party code
// in this suite's node_modules) with zero findings; the SARIF output validated against the
// SARIF 2.1.0 schema; and --config / --revoke against a running keyward: a live token found in
// a bundle is refused by that keyward right after.
import crypto from "node:crypto";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import Ajv from "ajv-draft-04";
import addFormats from "ajv-formats";
import { assert } from "./counted_assert.mjs";
import { sha256hex, sleep, startStack } from "./harness.mjs";
import { request } from "./http.mjs";
import { edKey, keyDir, mint, signingSection } from "./jwt_support.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const corpus = path.resolve(here, "../scan/corpus");
const require = createRequire(import.meta.url);

// The three Upstash-shaped tokens written into the corpus (made up; they open nothing).
const T1 = "AXppAAIjcDE1ZTBjOWE3ZDQxYjJmNmU4YTNjMDdkOWUyYjRmNmE4MXAxMA";
const T2 = "AXppAAIjOGMxZjJlNGEtOTBiMy00ZDZlLThmN2EtMWIyYzNkNGU1ZjYwOWE4YjdjNmQ1ZTRmM2EyYjFjMGQ=";
const T3 = "AnppAAIjcDEwYjlmM2MyZDdlNmE1YjRjOGQxZTJmM2E0YjVjNmQ3ZXAxMA";
const MAP_URL = "rediss://default:Hq81mZr5Kp2x@eu1-fine-cat-31337.upstash.io:6379";
const TOML_URL = "redis://default:Hq81mZr5Kp2x@10.1.2.3:6379";

function scan(args, { env = {}, cwd } = {}) {
  const r = spawnSync(process.env.KEYWARD_BIN, ["scan", ...args], {
    cwd, env: { ...process.env, ...env }, encoding: "utf8", maxBuffer: 256 << 20, timeout: 120000,
  });
  assert.equal(r.error, undefined, String(r.error));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Copies tests/scan/corpus/leaks to `dir`, putting `secrets` in place of their @@NAME@@ markers
// (in binary files too), and adds a repository's .git directory (which git cannot commit).
function materialize(dir, secrets) {
  const copy = (from, to) => {
    fs.mkdirSync(to, { recursive: true });
    for (const e of fs.readdirSync(from, { withFileTypes: true })) {
      const src = path.join(from, e.name);
      const dst = path.join(to, e.name);
      if (e.isDirectory()) {
        copy(src, dst);
        continue;
      }
      let data = fs.readFileSync(src);
      for (const [name, value] of Object.entries(secrets)) {
        const marker = Buffer.from(`@@${name}@@`);
        let at;
        while ((at = data.indexOf(marker)) >= 0) {
          data = Buffer.concat([data.subarray(0, at), Buffer.from(value), data.subarray(at + marker.length)]);
        }
      }
      fs.writeFileSync(dst, data);
    }
  };
  copy(path.join(corpus, "leaks"), dir);
  fs.mkdirSync(path.join(dir, "repo/.git"), { recursive: true });
  fs.writeFileSync(path.join(dir, "repo/.git/config"), "[core]\n\tbare = false\n");
  // git's own objects are compressed; the scan leaves .git (and node_modules) alone.
  fs.writeFileSync(path.join(dir, "repo/.git/NOTES"), `KV_REST_API_TOKEN=${T3}\n`);
}

// LINE:COL (code points) of the first occurrence of `needle` in `file`, computed without keyward.
function where(file, needle) {
  const text = fs.readFileSync(file, "utf8");
  const at = text.indexOf(needle);
  assert.ok(at >= 0, `${needle.slice(0, 12)} not in ${file}`);
  const before = text.slice(0, at);
  const line = before.split("\n").length;
  const column = [...before.slice(before.lastIndexOf("\n") + 1)].length + 1;
  return `${line}:${column}`;
}

function sorted(rows) {
  return rows.map((r) => JSON.stringify(r)).sort();
}

let secrets;
let edA;
let foreign;
let keys;

before(async () => {
  keys = keyDir();
  edA = await edKey(keys.dir, "scan-a", { withPrivate: true });
  // The same kid, another key pair: not ours. Its files go elsewhere (written beside edA's, its
  // public key replaced edA's, a pair keyward now refuses to load).
  const elsewhere = path.join(keys.dir, "foreign");
  fs.mkdirSync(elsewhere);
  foreign = await edKey(elsewhere, "scan-a");
  const now = Math.floor(Date.now() / 1000);
  secrets = {
    KW_KEY: "kw_" + crypto.randomBytes(32).toString("base64url"),
    JWT_LIVE: await mint(edA, { claims: { jti: "scan-live-1" } }),
    JWT_EXPIRED: await mint(edA, { claims: { jti: "scan-expired-1", iat: now - 900, exp: now - 300 } }),
    JWT_REVOKED: await mint(edA, { claims: { jti: "scan-revoked-1" } }),
    JWT_FOREIGN: await mint(foreign, { claims: { jti: "scan-foreign-1" } }),
  };
});
after(() => keys?.cleanup());

// What the corpus holds, file by file: [file, the secret's text, kind, variable, embedded].
function expected(dir) {
  const s = secrets;
  const rows = [
    ["next-app/.env.production", T1, "upstash-token", "UPSTASH_REDIS_REST_TOKEN"],
    // KEYWARD_KEY names none of REDIS, UPSTASH, KV, TOKEN: the key is found by its shape alone.
    ["next-app/.env.production", s.KW_KEY, "keyward-key"],
    ["next-app/.env.production", "Vq3m9Xz2Lk8Rt5Wb", "public-variable", "NEXT_PUBLIC_REDIS_PASSWORD"],
    ["next-app/.env.production", "Ak7xQ2mP9vL4nR8s", "upstash-variable", "KV_REST_API_READ_ONLY_TOKEN"],
    ["next-app/.next/static/chunks/pages/_app-3f1c9a0b7e2d4c11.js", T1, "upstash-token"],
    ["next-app/.next/static/chunks/pages/_app-3f1c9a0b7e2d4c11.js", s.JWT_LIVE, "jwt"],
    ["repo/config/keyward-client.yaml", s.KW_KEY, "keyward-key"],
    ["repo/config/keyward-client.yaml", s.JWT_REVOKED, "jwt"],
    ["repo/config/keyward-client.yaml", s.JWT_FOREIGN, "jwt"],
    ["vite-app/dist/assets/index-a1b2c3d4.js", T2, "upstash-token", "VITE_UPSTASH_REDIS_REST_TOKEN"],
    ["vite-app/dist/assets/index-a1b2c3d4.js.map", T2, "upstash-token", undefined, "../../src/lib/redis.ts:5:11"],
    ["vite-app/dist/assets/index-a1b2c3d4.js.map", MAP_URL, "redis-url", undefined, "../../src/lib/redis.ts:7:17"],
    ["worker/vercel.json", T3, "upstash-token", "KV_REST_API_TOKEN"],
    ["worker/vercel.json", s.JWT_EXPIRED, "jwt"],
    ["worker/wrangler.toml", T1, "upstash-token", "UPSTASH_REDIS_REST_TOKEN"],
    ["worker/wrangler.toml", TOML_URL, "redis-url"],
    // A map inlined as a base64 data URL: found at the payload's start (7 past "base64,").
    ["worker/dist/worker.js", "base64,", "upstash-token", undefined, "../src/worker.ts:5:11", 7],
  ];
  return rows.map(([file, secret, kind, variable, embedded, shift = 0]) => {
    const [line, column] = where(path.join(dir, file), secret).split(":").map(Number);
    return { at: `./${file}:${line}:${column + shift}`, kind, variable: variable ?? null,
             embedded: embedded ?? null };
  });
}

function fromJson(doc) {
  return doc.findings.map((f) => ({
    at: `${f.file}:${f.line}:${f.column}`, kind: f.kind, variable: f.variable ?? null,
    embedded: f.embedded ? `${f.embedded.source}:${f.embedded.line}:${f.embedded.column}` : null,
  }));
}

describe("the leaked-artifact corpus", () => {
  let dir;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "kw-scan-"));
    materialize(dir, secrets);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("every detector hits, at the asserted locations, and nothing else (JSON)", () => {
    const r = scan(["--format", "json", "."], { cwd: dir });
    assert.equal(r.status, 1, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(sorted(fromJson(doc)), sorted(expected(dir)));
    // Written by hand once, to pin the numbers the helper computes.
    const at = fromJson(doc).map((f) => f.at);
    assert.ok(at.includes("./next-app/.env.production:3:26"), at.join("\n"));
    assert.ok(at.includes("./worker/wrangler.toml:8:14"), at.join("\n"));
    assert.ok(at.includes("./vite-app/dist/assets/index-a1b2c3d4.js.map:1:333"), at.join("\n"));
    const kinds = new Set(doc.findings.map((f) => f.kind));
    assert.deepEqual([...kinds].sort(), ["jwt", "keyward-key", "public-variable", "redis-url",
                                         "upstash-token", "upstash-variable"]);
    // The PNG (a kw_ key inside, after a NUL) is skipped as binary; .git is not entered.
    assert.equal(doc.summary.skipped, 1);
    assert.equal(doc.summary.files, 8);
    assert.equal(doc.summary.findings, 17);
    assert.equal(doc.findings.filter((f) => f.inline_map === true).length, 1);
    assert.equal(doc.summary.errors, 0);
  });

  test("text output: FILE:LINE:COL kind preview, one line each, and no secret in any output", () => {
    const r = scan(["."], { cwd: dir });
    assert.equal(r.status, 1, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 17, r.stdout);
    const rows = lines.map((l) => {
      const m = /^(\S+:\d+:\d+) (\S+) (\S+)(?: in ([A-Z0-9_]+))?(?: \(embedded (\S+?)(?:, inline map)?\))?$/.exec(l);
      assert.ok(m, `unexpected line: ${l}`);
      return { at: m[1], kind: m[2], variable: m[4] ?? null, embedded: m[5] ?? null };
    });
    assert.deepEqual(sorted(rows), sorted(expected(dir)));
    assert.match(r.stderr, /8 files, \d+ bytes, 1 skipped, 17 findings, 0 errors/);
    const all = r.stdout + r.stderr + scan(["--format", "json", "."], { cwd: dir }).stdout +
                scan(["--format", "sarif", "."], { cwd: dir }).stdout;
    for (const secret of [T1, T2, T3, "Vq3m9Xz2Lk8Rt5Wb", "Ak7xQ2mP9vL4nR8s", "Hq81mZr5Kp2x",
                          ...Object.values(secrets)]) {
      assert.ok(!all.includes(secret), `output contains a secret (${secret.slice(0, 6)}...)`);
      assert.ok(!all.includes(secret.slice(secret.length / 2)), "output contains half a secret");
    }
    assert.match(r.stdout, / jwt eyJhbGciOi\.\.\.\(\d+\)$/m);
    assert.match(r.stdout, / redis-url redis:\/\/default:\*\*\*@10\.1\.2\.3:6379$/m);
  });

  test("SARIF 2.1.0: valid against the schema, the same locations, the source map's source related", () => {
    const r = scan(["--format", "sarif", "."], { cwd: dir });
    assert.equal(r.status, 1, r.stderr);
    const log = JSON.parse(r.stdout);
    const schema = JSON.parse(fs.readFileSync(
        require.resolve("@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json"), "utf8"));
    const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
    addFormats(ajv);
    const validate = ajv.compile(schema);
    assert.ok(validate(log), JSON.stringify(validate.errors?.slice(0, 5)));
    // The validator itself refuses a broken log (so the check above can fail).
    assert.equal(validate({ version: "2.1.0", runs: [{ results: [] }] }), false);
    const run = log.runs[0];
    assert.equal(run.tool.driver.name, "keyward");
    assert.equal(run.columnKind, "unicodeCodePoints");
    assert.equal(run.tool.driver.rules.length, 6);
    const rows = run.results.map((x) => {
      const loc = x.locations[0].physicalLocation;
      assert.equal(run.tool.driver.rules[x.ruleIndex].id, x.ruleId);
      return `${decodeURIComponent(loc.artifactLocation.uri)}:${loc.region.startLine}:${loc.region.startColumn} ${x.ruleId}`;
    });
    // SARIF URIs are relative references: the "./" the user typed is dropped.
    assert.deepEqual(rows.sort(), expected(dir).map((e) => `${e.at.slice(2)} ${e.kind}`).sort());
    const related = run.results.filter((x) => x.relatedLocations).map(
        (x) => x.relatedLocations[0].physicalLocation.artifactLocation.uri);
    assert.deepEqual(related.sort(), ["../../src/lib/redis.ts", "../../src/lib/redis.ts", "../src/worker.ts"]);
    assert.equal(run.invocations[0].executionSuccessful, true);
  });
});

describe("the negative corpus", () => {
  test("hand-written near misses: placeholders, references, other vendors' keys, hashes, images", () => {
    const r = scan(["--format", "json", path.join(corpus, "clean")]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(doc.findings, []);
    assert.equal(doc.summary.files, 6);
  });

  test("20,000 generated near misses: zero false positives", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kw-scan-neg-"));
    try {
      const lines = [];
      const rnd = (n) => crypto.randomBytes(n);
      for (let i = 0; i < 4000; i++) lines.push(`id ${crypto.randomUUID()}`);
      for (let i = 0; i < 4000; i++) {
        lines.push(`${i % 2 ? "sha1" : "sha256"} ${rnd(i % 2 ? 20 : 32).toString("hex")}`);
      }
      // Base64 of random bytes that starts like an Upstash token (first byte 1 or 2: "AQ".."Av").
      for (let i = 0; i < 4000; i++) {
        const b = rnd(30 + (i % 200));
        b[0] = 1 + (i % 2);
        lines.push(`blob ${i % 3 ? b.toString("base64") : b.toString("base64url")}`);
      }
      for (let i = 0; i < 2000; i++) {
        lines.push(`integrity sha512-${rnd(64).toString("base64")}`);
        lines.push(`"kw_${rnd(i % 2 ? 31 : 33).toString("base64url")}"`);  // 42 and 44 characters
      }
      for (let i = 0; i < 2000; i++) {
        const p = ["NEXT_PUBLIC_", "VITE_", "PUBLIC_", "REACT_APP_", "EXPO_PUBLIC_"][i % 5];
        const v = [`https://eu1-cat-${i}.upstash.io`, "production", `${i}`, "true", "your-token-here",
                   `${crypto.randomUUID()}`][i % 6];
        lines.push(`${p}${i % 2 ? "SITE_ID" : "REDIS_REST_URL"}=${v}`);
      }
      // Dotted base64 that is not a JWT (no JSON header), and JWT-looking headers with no alg.
      for (let i = 0; i < 1000; i++) {
        lines.push(`${rnd(12).toString("base64url")}.${rnd(40).toString("base64url")}.${rnd(32).toString("base64url")}`);
        lines.push(`eyJ${rnd(20).toString("base64url")}.${rnd(30).toString("base64url")}.${rnd(32).toString("base64url")}`);
      }
      fs.writeFileSync(path.join(dir, "noise.txt"), lines.join("\n") + "\n");
      fs.writeFileSync(path.join(dir, "noise.min.js"), lines.join(";"));
      const r = scan(["--format", "json", dir]);
      assert.equal(r.status, 0, r.stdout.slice(0, 2000));
      const doc = JSON.parse(r.stdout);
      assert.equal(doc.findings.length, 0, JSON.stringify(doc.findings.slice(0, 5)));
      assert.equal(doc.summary.files, 2);
      console.log(`negative corpus: ${lines.length} items twice, ${doc.summary.bytes} bytes, ` +
                  `${doc.findings.length} findings`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("real third-party code: this suite's node_modules and lockfile", () => {
    const r = scan(["--format", "json", path.join(here, "node_modules"), path.join(here, "package-lock.json")]);
    assert.equal(r.status, 0, r.stdout.slice(0, 2000));
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.findings.length, 0);
    assert.ok(doc.summary.files > 1000, JSON.stringify(doc.summary));
    assert.ok(doc.summary.bytes > 20e6, JSON.stringify(doc.summary));
    console.log(`real-world corpus: ${doc.summary.files} files, ${doc.summary.bytes} bytes, ` +
                `${doc.summary.skipped} skipped, 0 findings`);
  });
});

describe("usage", () => {
  test("exit 2 on usage errors and unreadable paths, 0 when nothing is found", () => {
    assert.equal(scan([]).status, 2);
    assert.equal(scan(["--format", "xml", "."]).status, 2);
    assert.equal(scan(["--revoke", "."]).status, 2);
    assert.equal(scan(["--bogus", "."]).status, 2);
    const missing = scan(["/nonexistent/kw-scan-path"]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /nonexistent\/kw-scan-path: No such file or directory/);
    const bad = fs.mkdtempSync(path.join(os.tmpdir(), "kw-scan-bad-"));
    try {
      fs.writeFileSync(path.join(bad, "bad.yaml"), "listen: [\n");
      const r = scan(["--config", path.join(bad, "bad.yaml"), bad]);
      assert.equal(r.status, 2);
      assert.match(r.stderr, /invalid configuration/);
      fs.writeFileSync(path.join(bad, "clean.txt"), "nothing to see\n");
      const clean = scan([path.join(bad, "clean.txt")]);
      assert.equal(clean.status, 0);
      assert.equal(clean.stdout, "");
    } finally {
      fs.rmSync(bad, { recursive: true, force: true });
    }
  });
});

describe("--config and --revoke against a running keyward", () => {
  let stack;
  let dir;
  let env;
  before(async () => {
    fs.writeFileSync(keys.revokedFile, "# revoked\nscan-revoked-1\n");
    stack = await startStack({
      chain: false,
      signing: signingSection([edA], keys.revokedFile),
      extraClients: {
        // The corpus's kw_ key is one this client holds.
        session: { api_keys: [`sha256:${sha256hex(secrets.KW_KEY)}`], credentials: ["api_key", "jwt"],
                   commands: ["+get", "+set"], keys: ["sess:*"] },
      },
    });
    env = { KW_E2E_UPSTREAM_URL: `redis://127.0.0.1:${stack.redisPort}`,
            KW_E2E_UPSTREAM_TOKEN: stack.redisPassword, KW_E2E_ADMIN_TOKEN: stack.adminToken };
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "kw-scan-live-"));
    materialize(dir, secrets);
    assert.equal(await status(secrets.KW_KEY), 200);
  });
  after(async () => {
    await stack?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function status(token) {
    const res = await request(stack.port, { body: ["GET", "sess:42:probe"], key: token });
    return res.status;
  }

  test("each keyward credential is matched to its client and judged live or dead", () => {
    const r = scan(["--config", stack.keyward.cfgPath, "--format", "json", dir], { env });
    assert.equal(r.status, 1, r.stderr);
    const doc = JSON.parse(r.stdout);
    const judged = doc.findings.filter((f) => f.status).map(
        (f) => `${f.file.slice(dir.length + 1)} ${f.kind} ${f.status} ${f.client ?? "-"}`);
    assert.deepEqual(judged.sort(), [
      "next-app/.env.production keyward-key live session",
      "next-app/.next/static/chunks/pages/_app-3f1c9a0b7e2d4c11.js jwt live session",
      "repo/config/keyward-client.yaml jwt revoked session",
      "repo/config/keyward-client.yaml jwt unknown -",
      "repo/config/keyward-client.yaml keyward-key live session",
      "worker/vercel.json jwt expired session",
    ]);
    const key = doc.findings.find((f) => f.kind === "keyward-key");
    assert.ok(key.action.includes(`"sha256:${sha256hex(secrets.KW_KEY)}"`), key.action);
    const live = doc.findings.find((f) => f.status === "live" && f.kind === "jwt");
    assert.match(live.detail, /^jti scan-live-1, exp \d{4}-\d\d-\d\dT/);
    assert.match(live.action, /--revoke/);
    // Without --revoke nothing was written.
    assert.equal(fs.readFileSync(keys.revokedFile, "utf8"), "# revoked\nscan-revoked-1\n");
  });

  test("--revoke: the live token is refused by the running keyward right after", async () => {
    assert.equal(await status(secrets.JWT_LIVE), 200);
    const r = scan(["--config", stack.keyward.cfgPath, "--revoke", dir], { env });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /_app-3f1c9a0b7e2d4c11\.js:1:\d+ jwt eyJhbGciOi\.\.\.\(\d+\) \[revoked, client session, jti scan-live-1/);
    assert.match(r.stdout, /\n  revoked: jti scan-live-1 appended to /);
    assert.match(r.stdout, /\n  remove "sha256:[0-9a-f]{64}" from client session's api_keys/);
    assert.match(r.stdout, /wrangler\.toml:7:29 upstash-token \S+ in UPSTASH_REDIS_REST_TOKEN\n  reset it in the Upstash console/);
    assert.match(r.stdout, /wrangler\.toml:8:14 redis-url \S+\n  change that Redis user's password/);
    assert.equal(fs.readFileSync(keys.revokedFile, "utf8"), "# revoked\nscan-revoked-1\nscan-live-1\n");
    const start = Date.now();
    while ((await status(secrets.JWT_LIVE)) !== 401) {
      assert.ok(Date.now() - start < 3000, "the revoked token still works after 3 s");
      await sleep(50);
    }
    console.log(`revoked token refused ${Date.now() - start} ms after the scan returned`);
    // The static key still works (keyward cannot remove it from your config), and a second run
    // revokes nothing more.
    assert.equal(await status(secrets.KW_KEY), 200);
    const again = scan(["--config", stack.keyward.cfgPath, "--revoke", "--format", "json", dir], { env });
    assert.equal(again.status, 1);
    assert.equal(fs.readFileSync(keys.revokedFile, "utf8"), "# revoked\nscan-revoked-1\nscan-live-1\n");
    const states = JSON.parse(again.stdout).findings.filter((f) => f.kind === "jwt").map((f) => f.status).sort();
    assert.deepEqual(states, ["expired", "revoked", "revoked", "unknown"]);
  });
});
