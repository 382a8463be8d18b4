// Key rotation with no restart and no failed request: 4 workers send requests all the time while
// key B is added (A signs), B becomes the signer (A still verifies) and A is dropped, each step a
// reload (POST /v1/reload or SIGHUP). Every request made with a token valid at that moment must
// succeed; afterwards A's tokens get 401 and B's work. Revocation through POST /v1/tokens/revoke
// must take effect within one second.
import fs from "node:fs";
import https from "node:https";
import { after, before, describe, test } from "node:test";
import { assert } from "./counted_assert.mjs";
import { adminCall, certs, rewriteConfig, sleep, startStack } from "./harness.mjs";
import { request } from "./http.mjs";
import { decodeJwt, decodeProtectedHeader, edKey, keyDir, mint, signingSection } from "./jwt_support.mjs";

let stack;
let kw;
let keys;
let A;
let B;

before(async () => {
  keys = keyDir();
  A = await edKey(keys.dir, "key-a", { withPrivate: true });
  B = await edKey(keys.dir, "key-b", { withPrivate: true });
  stack = await startStack({
    signing: signingSection([A], keys.revokedFile),
    extraClients: { session: { credentials: ["api_key", "jwt"], commands: ["+get", "+set", "+incr"], keys: ["sess:{sub}:*"] } },
  });
  kw = stack.keyward;
});
after(async () => {
  await stack?.stop();
  keys?.cleanup();
});

// keyward's own minting (POST /v1/tokens): signed by the first configured key.
async function adminMint(sub) {
  const r = await adminCall(stack, kw, "POST", "/v1/tokens", { client: "session", sub, ttl: "10m" });
  assert.equal(r.status, 200, r.text);
  return r.json.token;
}

async function status(token, sub = "42") {
  const res = await request(stack.port, { body: ["GET", `sess:${sub}:probe`], key: token });
  return res.status;
}

// Reload through the admin API (answers when taken) or SIGHUP (waits for the "reloaded" event).
async function reload(how) {
  if (how === "api") {
    const r = await adminCall(stack, kw, "POST", "/v1/reload");
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { reloaded: true });
    return;
  }
  const seen = kw.events.filter((e) => e.event === "reloaded").length;
  kw.proc.kill("SIGHUP");
  const end = Date.now() + 10000;
  while (kw.events.filter((e) => e.event === "reloaded").length === seen) {
    assert.ok(Date.now() < end, `no reloaded event after SIGHUP; stderr ${kw.stderr.slice(-500)}`);
    await sleep(20);
  }
}

// The request loop: `workers` loops, each on its own keep-alive connection, each request with
// one of the tokens in `pool.tokens` (the set valid at that moment). A worker reports the pool
// generation it last used, so the test knows when no request uses a retired token any more.
function startLoop(pool, workers = 4) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: workers, ca: fs.readFileSync(certs().ca) });
  const stats = { ok: 0, failed: [], byPhase: {}, connections: 0 };
  let running = true;
  const seenGen = new Array(workers).fill(-1);
  const one = (w, i) => new Promise((resolve) => {
    const { gen, phase, tokens } = pool;
    const { sub, token } = tokens[(w + i) % tokens.length];
    const body = JSON.stringify(["INCR", `sess:${sub}:loop:${w}`]);
    const req = https.request({ host: "127.0.0.1", port: stack.port, method: "POST", path: "/", agent,
                                headers: { authorization: `Bearer ${token}`, "content-length": Buffer.byteLength(body) } },
    (res) => {
      const chunks = [];
      res.on("data", (d) => chunks.push(d));
      res.on("end", () => {
        if (res.statusCode === 200) {
          stats.ok++;
          stats.byPhase[phase] = (stats.byPhase[phase] ?? 0) + 1;
        } else {
          stats.failed.push({ phase, status: res.statusCode, body: Buffer.concat(chunks).toString().slice(0, 200) });
        }
        resolve(gen);
      });
    });
    req.on("socket", () => { if (!req.reusedSocket) stats.connections++; });
    req.on("error", (e) => { stats.failed.push({ phase, error: e.message }); resolve(gen); });
    req.end(body);
  });
  const loops = Array.from({ length: workers }, async (_, w) => {
    for (let i = 0; running; i++) seenGen[w] = await one(w, i);
  });
  return {
    stats,
    // Resolves once every worker has finished a request made with generation >= gen.
    async drained(gen) {
      while (seenGen.some((g) => g < gen)) await sleep(5);
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

describe("rotation under a concurrent request loop", () => {
  test("add B, make B the signer, drop A: no failed request, then A refused and B accepted", async () => {
    const aToken = await adminMint("42");
    assert.equal(decodeProtectedHeader(aToken).kid, "key-a");
    const aJose = await mint(A, { sub: "43" });
    const bJose = await mint(B, { sub: "44" });
    assert.equal(await status(aToken), 200);
    assert.equal(await status(bJose, "44"), 401, "B's token before B is configured");

    const pool = { gen: 0, phase: "A only", tokens: [{ sub: "42", token: aToken }, { sub: "43", token: aJose }] };
    const loop = startLoop(pool);
    const step = async (phase, tokens) => {
      pool.tokens = tokens;
      pool.phase = phase;
      pool.gen++;
      await loop.drained(pool.gen);
      await sleep(300); // let the loop run a while in this phase
    };
    try {
      await sleep(300);
      // 1. B added as a second key; A still signs.
      rewriteConfig(kw, (c) => { c.signing.keys = [A.config, B.config]; });
      await reload("api");
      assert.equal(decodeProtectedHeader(await adminMint("42")).kid, "key-a", "A must still sign");
      assert.equal(await status(bJose, "44"), 200, "B verifies after step 1");
      await step("A signs, B verifies", [...pool.tokens, { sub: "44", token: bJose }]);

      // 2. B becomes the signer; A still verifies (SIGHUP this time).
      rewriteConfig(kw, (c) => { c.signing.keys = [B.config, A.config]; });
      await reload("sighup");
      const bToken = await adminMint("45");
      assert.equal(decodeProtectedHeader(bToken).kid, "key-b", "B must sign after step 2");
      assert.equal(await status(aToken), 200, "A still verifies after step 2");
      await step("B signs, A verifies", [...pool.tokens, { sub: "45", token: bToken }]);

      // Before A goes: the loop stops using A's tokens and every in-flight A request finishes.
      await step("B only (before drop)", [{ sub: "44", token: bJose }, { sub: "45", token: bToken }]);
      // 3. A dropped.
      rewriteConfig(kw, (c) => { c.signing.keys = [B.config]; });
      await reload("api");
      await step("B only", pool.tokens);
      await sleep(300);
    } finally {
      await loop.stop();
    }
    const { stats } = loop;
    console.log(`# rotation loop: ${stats.ok} requests ok, ${stats.failed.length} failed, ` +
                `${stats.connections} connections; per phase ${JSON.stringify(stats.byPhase)}`);
    assert.deepEqual(stats.failed, [], "a request with a valid token failed during rotation");
    // The reloads kept the loop's keep-alive connections open: one per worker, never a reconnect.
    assert.equal(stats.connections, 4, "reloads closed client connections");
    for (const phase of ["A only", "A signs, B verifies", "B signs, A verifies", "B only"]) {
      assert.ok((stats.byPhase[phase] ?? 0) > 0, `no request ran in phase ${phase}`);
    }
    assert.equal(await status(aToken), 401, "keyward-minted A token after A was dropped");
    assert.equal(await status(aJose, "43"), 401, "jose A token after A was dropped");
    assert.equal(await status(bJose, "44"), 200);
    assert.equal(await status(await adminMint("46"), "46"), 200);
    // Every worker's counter on redis equals what the loop saw succeed.
    let total = 0;
    for (const sub of ["42", "43", "44", "45"]) {
      for (let w = 0; w < 4; w++) total += Number((await stack.redis.call("GET", `sess:${sub}:loop:${w}`)) ?? 0);
    }
    assert.equal(total, stats.ok);
  });

  test("POST /v1/tokens/revoke takes effect within one second while other requests keep working", async () => {
    const victim = await adminMint("50");
    const bystander = await adminMint("51");
    const { jti } = decodeJwt(victim);
    assert.ok(typeof jti === "string" && jti.length > 0, "admin-minted token has a jti");
    const pool = { gen: 0, phase: "bystander", tokens: [{ sub: "51", token: bystander }] };
    const loop = startLoop(pool, 2);
    let elapsed;
    try {
      assert.equal(await status(victim, "50"), 200);
      const t0 = performance.now();
      const r = await adminCall(stack, kw, "POST", "/v1/tokens/revoke", { jti });
      assert.equal(r.status, 200, r.text);
      while ((await status(victim, "50")) !== 401) {
        assert.ok(performance.now() - t0 < 5000, "revoked token still accepted after 5 s");
      }
      elapsed = performance.now() - t0;
      await sleep(200);
    } finally {
      await loop.stop();
    }
    console.log(`# revocation: revoke call to first 401 in ${elapsed.toFixed(1)} ms`);
    assert.ok(elapsed < 1000, `revocation took ${elapsed} ms`);
    assert.deepEqual(loop.stats.failed, [], "a bystander request failed during revocation");
    assert.ok(loop.stats.ok > 0);
    assert.ok(fs.readFileSync(keys.revokedFile, "utf8").split("\n").includes(jti), "jti not in revoked_file");
  });

  // Attack round 15b: deleting revoked_file silently lifted every revocation, and the next
  // revoke call started a fresh file holding only its own jti. A file that was there and is gone
  // now refuses every JWT (as an unreadable one does) until it is back.
  test("a deleted revoked_file lifts no revocation: JWTs are refused until it is restored", async () => {
    const victim = await adminMint("60");
    const bystander = await adminMint("61");
    const r = await adminCall(stack, kw, "POST", "/v1/tokens/revoke", { jti: decodeJwt(victim).jti });
    assert.equal(r.status, 200, r.text);
    assert.equal(await status(victim, "60"), 401);
    assert.equal(await status(bystander, "61"), 200);
    const saved = fs.readFileSync(keys.revokedFile);
    fs.unlinkSync(keys.revokedFile);
    const t0 = performance.now();
    while ((await status(bystander, "61")) !== 401) {
      assert.ok(performance.now() - t0 < 5000, "JWTs still accepted 5 s after revoked_file went");
      await sleep(50);
    }
    assert.equal(await status(victim, "60"), 401, "a revoked token was accepted");
    assert.ok(kw.events.some((e) => e.event === "revoked_file_unreadable" && /missing/.test(e.error)),
              "no revoked_file_unreadable event");
    const again = await adminCall(stack, kw, "POST", "/v1/tokens/revoke", { jti: "another-one" });
    assert.equal(again.status, 503, again.text);
    assert.ok(!fs.existsSync(keys.revokedFile), "a revoke call started a fresh revoked_file");
    fs.writeFileSync(keys.revokedFile, saved);
    while ((await status(bystander, "61")) !== 200) {
      assert.ok(performance.now() - t0 < 10000, "JWTs still refused 5 s after revoked_file came back");
      await sleep(50);
    }
    assert.equal(await status(victim, "60"), 401, "the revocation was lost");
  });

  // Attack round 16: revoke, delete the file at once, revoke again within a second: the watcher
  // compared with its own last look (both "missing"), and the second revoke started a fresh
  // file with only its jti, lifting the first.
  test("revoke, delete revoked_file at once, revoke again: 503, and the first revocation holds", async () => {
    const victim = await adminMint("62");
    const bystander = await adminMint("63");
    const saved = fs.readFileSync(keys.revokedFile);
    const r = await adminCall(stack, kw, "POST", "/v1/tokens/revoke", { jti: decodeJwt(victim).jti });
    assert.equal(r.status, 200, r.text);
    fs.unlinkSync(keys.revokedFile);
    const again = await adminCall(stack, kw, "POST", "/v1/tokens/revoke", { jti: "yet-another" });
    assert.equal(again.status, 503, again.text);
    assert.ok(!fs.existsSync(keys.revokedFile), "a revoke call started a fresh revoked_file");
    assert.equal(await status(victim, "62"), 401, "a revoked token was accepted");
    assert.equal(await status(bystander, "63"), 401, "JWTs accepted while revoked_file is gone");
    fs.writeFileSync(keys.revokedFile, Buffer.concat([saved, Buffer.from(decodeJwt(victim).jti + "\n")]));
    const t0 = performance.now();
    while ((await status(bystander, "63")) !== 200) {
      assert.ok(performance.now() - t0 < 5000, "JWTs still refused 5 s after revoked_file came back");
      await sleep(50);
    }
    assert.equal(await status(victim, "62"), 401);
  });
});
