// Edge runtimes as real clients: the unchanged @upstash/redis fetch build and @upstash/ratelimit,
// bundled with esbuild, run inside workerd (Cloudflare Workers, through miniflare), edge-runtime
// (Vercel Edge Functions) and Deno, and call keyward over TLS. The function mints its own
// one-minute EdDSA token per invocation (it is the backend; keyward holds only the public key),
// as edge/function.mjs shows and the README quotes. Each invocation is a cold start: a new
// runtime process and a new TLS connection. A runtime that is missing fails its rows.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { exportPKCS8 } from "jose";
import { assert } from "./counted_assert.mjs";
import { RUNTIMES, bundle, invoke } from "./edge/runtimes.mjs";
import { adminCall, certs, makeCerts, startStack } from "./harness.mjs";
import { AUDIENCE, ISSUER, edKey, keyDir, signingSection } from "./jwt_support.mjs";

// @upstash/ratelimit 2.0.8's fixedWindow scripts (limit, getRemaining): see ratelimit.test.mjs.
const FIXED_WINDOW = ["472e55443b62f60d0991028456c57815a387066d",
                      "40515c9dd0a08f8584f5f9b593935f6a87c1c1c3"];

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

let stack;
let keys;
let work;
let bundled;
let fnEnv;

before(async () => {
  keys = keyDir();
  const ed = await edKey(keys.dir, "edge-key");
  stack = await startStack({
    chain: false,
    signing: signingSection([ed], keys.revokedFile),
    extraClients: {
      "edge-user": { credentials: ["jwt"], commands: ["+get", "+set", "+incr", "+evalsha", "+eval"],
                     keys: ["user:{sub}:*"], scripts: FIXED_WINDOW,
                     limits: { per_identity_rate: "30/s" } },
      "edge-static": { commands: ["+get", "+set", "+incr"], keys: ["static:*"] },
    },
  });
  work = fs.mkdtempSync(path.join(os.tmpdir(), "kw-edge-"));
  bundled = await bundle(work);
  fnEnv = { KEYWARD_URL: stack.url, KEYWARD_SIGNING_KEY: await exportPKCS8(ed.signKey),
            KEYWARD_KEY_ID: ed.id, KEYWARD_ISSUER: ISSUER, KEYWARD_AUDIENCE: AUDIENCE };
});
after(async () => {
  await stack?.stop();
  keys?.cleanup();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

async function accepted() {
  const r = await adminCall(stack, stack.keyward, "GET", "/metrics");
  return Number(/^keyward_client_connections_accepted_total (\d+)$/m.exec(r.text)?.[1]);
}

// The README's function (GET /?user=...), and the probes (POST / with what to probe).
const call = (runtime, request, ca = certs().ca) =>
  invoke(runtime, "readme", bundled, fnEnv, request, { ca });
const post = (runtime, body) =>
  invoke(runtime, "probes", bundled, fnEnv, { method: "POST", path: "/", body: JSON.stringify(body) },
         { ca: certs().ca });

function noperm(o) {
  assert.equal(o.ok, false, JSON.stringify(o));
  assert.match(o.error, /NOPERM/);
}

// What every credential's probes show: its own keys and pipelines work, the rest is NOPERM.
function confined(o) {
  assert.deepEqual(o.own, { ok: true, value: ["OK", "v1"] });
  noperm(o.other);
  noperm(o.flushall);
  assert.deepEqual(o.pipeline, { ok: true, value: ["OK", 6, 6] });
}

for (const runtime of RUNTIMES) {
  describe(runtime, () => {
    test("README's function and wiring: a minted token, the SDK, the user's own key", async () => {
      const before = await accepted();
      const first = await call(runtime, { method: "GET", path: "/?user=ada" });
      const second = await call(runtime, { method: "GET", path: "/?user=ada" });
      assert.equal(first.status, 200, JSON.stringify(first));
      assert.deepEqual(first.json.user, "ada");
      assert.equal(second.json.visits, first.json.visits + 1);
      assert.equal(Number(await stack.redis.call("GET", "user:ada:visits")), second.json.visits);
      // Two cold invocations, two new TLS connections (the metrics call is plain HTTP to admin).
      assert.ok((await accepted()) - before >= 2, "each invocation connects anew");
      assert.equal((await call(runtime, { method: "GET", path: "/?user=Bad!" })).status, 400);
    });

    test("JWT minted per invocation: own keys, NOPERM elsewhere, pipelines, ratelimit, 429", async () => {
      const user = `u-${runtime}`;
      const r = await post(runtime, { user });
      assert.equal(r.status, 200, JSON.stringify(r));
      const o = r.json.results;
      confined(o);
      assert.deepEqual(o.autoPipeline, { ok: true, value: ["OK", "v1", 1] });
      assert.deepEqual(o.ratelimit, { ok: true, value: [true, true, true, false] });
      assert.equal(o.burst.status, 429, JSON.stringify(o.burst));
      assert.match(o.burst.retryAfter ?? "", /^[1-9][0-9]*$/);
      assert.equal(await stack.redis.call("GET", `user:${user}:k`), "v1");
      assert.equal(await stack.redis.call("GET", "user:someone-else:k"), null);

      // Revoked: the same token, sent again from a new invocation, is refused with 401.
      const revoke = await adminCall(stack, stack.keyward, "POST", "/v1/tokens/revoke",
                                     { jti: r.json.jti });
      assert.equal(revoke.status, 200, revoke.text);
      const again = await post(runtime, { user, reuse: r.json.token });
      assert.equal(again.json.status, 401, JSON.stringify(again.json));
    });

    // The runtime verifies keyward's certificate: given another CA it connects to nothing.
    test("a certificate from another CA is refused", async () => {
      const other = makeCerts(path.join(work, `other-ca-${runtime}`));
      let outcome;
      try {
        outcome = await call(runtime, { method: "GET", path: "/?user=eve" }, other.ca);
      } catch (e) {
        outcome = { error: e.message };
      }
      assert.ok(outcome.error !== undefined || outcome.status >= 500, JSON.stringify(outcome));
      assert.equal(await stack.redis.call("GET", "user:eve:visits"), null);
    });

    test("a static key: its own prefix only", async () => {
      const r = await post(runtime, { key: stack.keys["edge-static"] });
      assert.equal(r.status, 200, JSON.stringify(r));
      const o = r.json.results;
      confined(o);
      assert.deepEqual(o.autoPipeline.ok, true, JSON.stringify(o.autoPipeline));
    });
  });
}

// The README shows exactly the files the runtimes ran.
test("README's edge snippets are the tested files", () => {
  const readme = fs.readFileSync(path.join(repo, "README.md"), "utf8");
  for (const file of ["function.mjs", "vercel_route.mjs", "deno_serve.mjs"]) {
    const code = fs.readFileSync(path.join(repo, "tests/e2e/edge", file), "utf8");
    assert.ok(readme.includes("```js\n" + code + "```\n"), `README quotes tests/e2e/edge/${file}`);
  }
});

// The example config for edge functions passes `keyward check` with its files in place, and
// grants what the runtimes above were given.
test("conf/examples/edge-function.yaml passes keyward check", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kw-edge-example-"));
  try {
    fs.mkdirSync(path.join(dir, "keys"));
    fs.mkdirSync(path.join(dir, "certs"));
    fs.copyFileSync(path.join(repo, "conf/examples/edge-function.yaml"), path.join(dir, "edge.yaml"));
    fs.copyFileSync(certs().cert, path.join(dir, "certs/server.crt"));
    fs.copyFileSync(certs().key, path.join(dir, "certs/server.key"));
    const ed = await edKey(path.join(dir, "keys"), "edge-2026-12");
    assert.ok(fs.existsSync(ed.config.public_key_file));
    const out = execFileSync(process.env.KEYWARD_BIN, ["check", "--config", path.join(dir, "edge.yaml")], {
      env: { ...process.env, UPSTASH_REDIS_REST_URL: "https://demo-1234.upstash.io",
             UPSTASH_REDIS_REST_TOKEN: "demo-token-0123456789", KEYWARD_ADMIN_TOKEN: "x".repeat(32) },
    }).toString();
    assert.match(out, /edge\.yaml: ok/);
    const text = fs.readFileSync(path.join(dir, "edge.yaml"), "utf8");
    for (const sha of FIXED_WINDOW) assert.ok(text.includes(sha));
    assert.match(text, /keys: \["user:\{sub\}:\*"\]/);
    assert.match(text, /per_identity_rate: 30\/s/);
    assert.match(text, /credentials: \["jwt"\]/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
