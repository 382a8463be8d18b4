// What the edge suites ask of each runtime, run inside it: POST / with a JSON body names the
// credential (a token minted here by function.mjs, one passed back in to reuse, or a static key)
// and the probes answer with what the unchanged SDKs saw. GET / is function.mjs itself.
import { Ratelimit } from "@upstash/ratelimit";
import { Redis } from "@upstash/redis/cloudflare";
import readme, { mintToken } from "./function.mjs";

async function outcome(fn) {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    return { ok: false, error: String(e?.message ?? e) };
  }
}

// Raw GETs until keyward answers 429 (per_identity_rate): the status and Retry-After seen.
async function until429(url, token, key) {
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`${url}/get/${key}`, { headers: { Authorization: `Bearer ${token}` } });
    await r.arrayBuffer();
    if (r.status === 429) return { status: 429, retryAfter: r.headers.get("retry-after"), tries: i + 1 };
    if (r.status !== 200) return { status: r.status };
  }
  return { status: 200 };
}

async function probes(env, { token, own, other, ratelimit, burst }) {
  const options = { url: env.KEYWARD_URL, token, retry: false, enableTelemetry: false };
  const redis = new Redis(options);
  const auto = new Redis({ ...options, enableAutoPipelining: true });
  const out = {};
  out.own = await outcome(async () => [await redis.set(`${own}k`, "v1"), await redis.get(`${own}k`)]);
  out.other = await outcome(() => redis.get(`${other}k`));
  out.flushall = await outcome(() => redis.flushall());
  out.pipeline = await outcome(() =>
    redis.pipeline().set(`${own}p`, 5).incr(`${own}p`).get(`${own}p`).exec());
  // The SDK sends an auto-pipeline's reads and writes as two concurrent requests (one pipeline
  // each), so the read names a key written before, not one written in the same batch.
  out.autoPipeline = await outcome(() =>
    Promise.all([auto.set(`${own}a`, "x"), auto.get(`${own}k`), auto.incr(`${own}n`)]));
  if (ratelimit) {
    // dynamicLimits keeps every key the scripts name under the prefix (else one is "").
    const limiter = new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(3, "60 s"),
                                    prefix: `${own}rl`, dynamicLimits: true, analytics: false,
                                    timeout: 0 });
    out.ratelimit = await outcome(async () => {
      const seen = [];
      for (let i = 0; i < 4; i++) seen.push((await limiter.limit("caller")).success);
      return seen;
    });
  }
  if (burst) out.burst = await until429(env.KEYWARD_URL, token, `${own}k`);
  return out;
}

export default {
  async fetch(request, env) {
    if (request.method === "GET") return readme.fetch(request, env);
    const ask = await request.json();
    if (ask.key) {
      return Response.json({ results: await probes(env, { token: ask.key, own: "static:",
                                                          other: "user:42:" }) });
    }
    if (ask.reuse) {
      const r = await fetch(`${env.KEYWARD_URL}/get/user:${ask.user}:k`,
                            { headers: { Authorization: `Bearer ${ask.reuse}` } });
      return Response.json({ status: r.status, body: await r.text() });
    }
    const jti = crypto.randomUUID();
    const token = await mintToken(env, ask.user, { jti });
    const results = await probes(env, { token, own: `user:${ask.user}:`, other: "user:someone-else:",
                                        ratelimit: true, burst: true });
    return Response.json({ jti, token, results });
  },
};
