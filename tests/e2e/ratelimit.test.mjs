// @upstash/ratelimit 2.0.8 (the last version whose scripts run on Redis 7.0: 2.1.0+ start with
// the Upstash-only `#!lua flags=allow-key-locking`, docs/upstash-wire.md §5.1) through keyward over
// TLS, with only its script SHA-1s allowlisted: fixedWindow, slidingWindow and tokenBucket
// limit() allow exactly their limit and then block; a script not on the list is refused
// (NOPERM) and nothing runs; and keyward bills each check's commands to the client's budget.
import { after, before, describe, test } from "node:test";
import { Ratelimit } from "@upstash/ratelimit";
import { Redis } from "@upstash/redis";
import { assert } from "./counted_assert.mjs";
import { measure, startStack } from "./harness.mjs";

// 2.0.8's SCRIPTS table (dist/index.mjs), single region: limit and getRemaining.
const SHAS = {
  fixedWindow: ["472e55443b62f60d0991028456c57815a387066d", "40515c9dd0a08f8584f5f9b593935f6a87c1c1c3"],
  slidingWindow: ["977fb636fb5ceb7e98a96d1b3a1272ba018efdae", "ee3a3265fad822f83acad23f8a1e2f5c0b156b03"],
  tokenBucket: ["b35c5bc0b7fdae7dd0573d4529911cabaf9d1d89", "deb03663e8af5a968deee895dd081be553d2611b"],
};
const ALL = Object.values(SHAS).flat();
// The scripts name KEYS[n] = "" for the dynamic limit unless dynamicLimits is on, and an empty
// key matches no pattern: with dynamicLimits the key is <prefix>:dynamic:global, inside rl:*.
const RL = { commands: ["+evalsha", "+eval"], keys: ["rl:*"], scripts: ALL };

let stack;
let rt;

before(async () => {
  stack = await startStack({
    extraClients: {
      ratelimiter: RL,
      nofixed: { ...RL, scripts: ALL.filter((s) => !SHAS.fixedWindow.includes(s)) },
      billed: { ...RL, limits: { per_day: 6 } },
    },
  });
  rt = stack.redis;
});
after(async () => {
  await stack?.stop();
});

function limiter(client, limiterFn, prefix, dynamicLimits = true) {
  const redis = new Redis({ url: stack.url, token: stack.keys[client], enableTelemetry: false,
                            retry: false });
  return new Ratelimit({ redis, limiter: limiterFn, prefix, dynamicLimits, analytics: false,
                         timeout: 0 });
}

async function run(rl, id, n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await rl.limit(id));
  return out;
}

describe("@upstash/ratelimit 2.0.8 through keyward", () => {
  test("fixedWindow(5, 60 s): 5 allowed, then blocked; another identifier is independent", async () => {
    const rl = limiter("ratelimiter", Ratelimit.fixedWindow(5, "60 s"), "rl:fw");
    const [res, delta] = await measure(rt, () => run(rl, "alice", 7));
    assert.deepEqual(res.map((r) => r.success), [true, true, true, true, true, false, false]);
    assert.deepEqual(res.map((r) => r.remaining), [4, 3, 2, 1, 0, 0, 0]);
    assert.ok(res.every((r) => r.limit === 5 && r.reset > Date.now()));
    // EVALSHA first (6, the first answered NOSCRIPT), falling back once to EVAL with the body
    // keyward hashed and allowed; the 7th call was blocked by ratelimit's own in-memory cache.
    assert.equal(delta.evalsha, 6, JSON.stringify(delta));
    assert.equal(delta.eval, 1);
    assert.equal(delta.incrby, 6);
    assert.equal(res[6].reason, "cacheBlock");
    const keys = await rt.call("KEYS", "rl:fw:alice:*");
    assert.equal(keys.length, 1);
    assert.equal(Number(await rt.call("GET", keys[0])), 6);
    assert.equal((await rl.limit("bob")).success, true);
    const rem = await rl.getRemaining("alice");
    assert.equal(rem.remaining, 0);
    assert.deepEqual(await rt.call("SCRIPT", "EXISTS", ...SHAS.fixedWindow), [1, 1]);
  });

  test("slidingWindow(3, 60 s): 3 allowed, then blocked", async () => {
    const rl = limiter("ratelimiter", Ratelimit.slidingWindow(3, "60 s"), "rl:sw");
    const res = await run(rl, "carol", 5);
    assert.deepEqual(res.map((r) => r.success), [true, true, true, false, false]);
    assert.equal((await rl.getRemaining("carol")).remaining, 0);
    assert.equal((await rl.limit("dave")).success, true);
  });

  test("tokenBucket(1 per 60 s, max 3): 3 allowed, then blocked", async () => {
    const rl = limiter("ratelimiter", Ratelimit.tokenBucket(1, "60 s", 3), "rl:tb");
    const res = await run(rl, "erin", 5);
    assert.deepEqual(res.map((r) => r.success), [true, true, true, false, false]);
    assert.equal((await rl.getRemaining("erin")).remaining, 0);
  });

  test("a script SHA-1 missing from the allowlist is refused and nothing runs", async () => {
    const rl = limiter("nofixed", Ratelimit.fixedWindow(5, "60 s"), "rl:nf");
    const [err, delta] = await measure(rt, () => rl.limit("frank").then(() => null, (e) => e));
    assert.ok(err instanceof Error, "limit() resolved although its script is not allowed");
    assert.match(String(err), /NOPERM/);
    assert.deepEqual(delta, {});
    assert.deepEqual(await rt.call("KEYS", "rl:nf:*"), []);
    // The other algorithms of the same client still work.
    const ok = limiter("nofixed", Ratelimit.slidingWindow(2, "60 s"), "rl:nf2");
    assert.equal((await ok.limit("frank")).success, true);
  });

  test("without dynamicLimits the scripts name the empty key, which no pattern grants", async () => {
    const rl = limiter("ratelimiter", Ratelimit.fixedWindow(5, "60 s"), "rl:nodyn", false);
    const [err, delta] = await measure(rt, () => rl.limit("hank").then(() => null, (e) => e));
    assert.match(String(err), /NOPERM/);
    assert.deepEqual(delta, {});
  });

  test("the hashes in the allowlist are the SHA-1 of the script bodies EVAL sent", async () => {
    // SCRIPT EXISTS on the upstream: EVAL caches a body under its own SHA-1, and keyward let the
    // EVAL through only because that SHA-1 is allowlisted.
    const exists = await rt.call("SCRIPT", "EXISTS", ...ALL);
    assert.deepEqual(exists, [1, 1, 1, 1, 1, 1]);
  });

  test("each check is billed to the client's budget: per_day 6 allows 6 script calls", async () => {
    const rl = limiter("billed", Ratelimit.fixedWindow(100, "60 s"), "rl:bill");
    await rt.call("SCRIPT", "FLUSH");  // first call: EVALSHA -> NOSCRIPT, then EVAL: 2 billed
    const res = [];
    for (let i = 0; i < 6; i++) res.push(await rl.limit("gina").then((r) => r.success, (e) => String(e)));
    assert.deepEqual(res.slice(0, 5), [true, true, true, true, true]);
    assert.match(String(res[5]), /daily command budget of this client exhausted/);
  });
});
