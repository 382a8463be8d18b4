// min-assertions: 40
// Reply amplification: a tenant with keys ["*"] asks for replies far larger than its request
// (MGET of twelve 8 MiB values: 96 MiB; LRANGE k 0 -1 of a 1.1-million-element list: more
// values than upstream.max_reply_elements from a 30-byte command; a negative SRANDMEMBER count
// that large is refused before it runs, see value_growth). keyward refuses each with 502 "ERR reply exceeds upstream.max_reply_*"
// while the bytes stream past it (never held whole), the probe tenant keeps p99 < 50 ms, and
// keyward's RSS stays within 256 MiB of its idle size: 4 x upstream.max_reply_bytes (64 MiB),
// the partial replies held before the limit is seen plus their buffers' growth (measured:
// 192 MiB with two MGETs at once). Controls: replies
// within the limits come back byte-exact. In REST mode the inner keyward (Redis mode, same
// defaults) refuses the reply with 502, which the outer keyward (the one measured) answers as
// 502 "ERR upstream protocol: outcome unknown": the REST upstream does not relay an upstream's
// 502 text, and the command may have run.
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";
import { assert } from "../e2e/counted_assert.mjs";
import { request } from "../e2e/http.mjs";
import { MODES, report, rssKiB, rssSampler, startModeStack, underAttack } from "./lib.mjs";

const MiB = 1024 * 1024;
const RSS_BOUND_KIB = 256 * 1024;
const LEGIT_RSS_BOUND_KIB = 512 * 1024;  // one 48 MiB reply within the limits
const BIG_KEYS = Array.from({ length: 12 }, (_, i) => `amp:big:${i}`);
const values = new Map();

async function seed(stack) {
  for (const k of BIG_KEYS) {
    // Random printable bytes: JSON and base64 output are checked byte for byte.
    const v = crypto.randomBytes(6 * MiB).toString("base64").slice(0, 8 * MiB);
    values.set(k, v);
    assert.equal(await stack.redis.call("SET", k, v), "OK");
  }
  // A small set: SRANDMEMBER with a negative count repeats members, so the reply's size comes
  // from the request alone, not from stored data.
  await stack.redis.call("SADD", "amp:set", "a", "b", "c");
  await seedLongList(stack);
}

// A list of more values than upstream.max_reply_elements (2^20): LRANGE 0 -1 asks for them all.
const LONG_LIST = 1100000;
async function seedLongList(stack) {
  await stack.redis.call("DEL", "amp:list");
  const chunk = Array.from({ length: 10000 }, (_, i) => `m${i % 10}`);
  for (let i = 0; i < LONG_LIST / 10000; i++) await stack.redis.call("RPUSH", "amp:list", ...chunk);
}

// The refusal the client sees: keyward's own text in Redis mode, the REST relay's in REST mode.
function refusal(mode, message) {
  return mode === "redis" ? message : "ERR upstream protocol: outcome unknown";
}

// An MGET is refused at max_reply_bytes, or, when it shares a worker with the client's other
// big reply of the round (listen.workers: each worker's pool has its part of
// max_reply_bytes_total, at least 2 x max_reply_bytes), at the client's half of that part: 502
// while it streams, or 429 before it is sent while the client's earlier refusal still blocks it.
const MGET_REFUSALS = [
  "ERR reply exceeds upstream.max_reply_bytes (the command ran; its reply was dropped)",
  "ERR replies in flight of this client exceed its share, half of upstream.max_reply_bytes_total (the command ran; its reply was dropped)",
];
const MGET_BLOCKED = "ERR replies in flight of this client exceed its share, half of upstream.max_reply_bytes_total; retry later";

function post(stack, body, headers = {}) {
  return request(stack.port, { body, key: stack.keys.admin, headers, timeoutMs: 30000 });
}

for (const mode of MODES) {
  describe(`reply amplification (${mode} mode)`, () => {
    let stack;
    before(async () => {
      stack = await startModeStack(mode);
      await seed(stack);
    });
    after(async () => {
      await stack?.stop();
    });

    test("MGET of 12 x 8 MiB and LRANGE of 1.1 million values: refused, the probe unaffected", async () => {
      const outcomes = [];
      const r = await underAttack(stack, async () => {
        // The LRANGE also stalls redis-server itself while it builds the reply (every client of
        // that server waits, keyward or not). The MGETs run in
        // pairs: both partial replies count against upstream.max_reply_bytes_total as well.
        const mget = () => post(stack, ["MGET", ...BIG_KEYS]);
        const lrange = () => post(stack, ["LRANGE", "amp:list", "0", "-1"]);
        for (const round of [[mget, lrange], [mget, mget], [mget, mget]]) {
          const res = await Promise.all(round.map((a) => a()));
          outcomes.push(...res.map((x, i) => ({ status: x.status, error: x.json?.error,
            want: round[i] === mget ? MGET_REFUSALS
              : "ERR reply exceeds upstream.max_reply_elements (the command ran; its reply was dropped)" })));
        }
      }, { durationMs: 8000 });
      report(`replies_amplification.${mode}`, { ...r.probe, peakRssKiB: r.peakRssKiB,
        baseRssKiB: r.baseRssKiB, growthKiB: r.peakRssKiB - r.baseRssKiB });
      assert.equal(outcomes.length, 6);
      for (const o of outcomes) {
        if (o.want === MGET_REFUSALS && o.status === 429) {
          assert.equal(o.error, MGET_BLOCKED, JSON.stringify(o));
          continue;
        }
        assert.equal(o.status, 502, JSON.stringify(o));
        const wants = Array.isArray(o.want) ? o.want : [o.want];
        assert.ok(wants.some((w) => o.error === refusal(mode, w)), JSON.stringify(o));
      }
      assert.equal(r.probe.failed, 0, JSON.stringify(r.probe.statuses));
      assert.ok(r.probe.count > 50, `probe made ${r.probe.count} requests`);
      // redis-server itself stalls while it builds each 96 MiB MGET reply (~0.35 s apiece on
      // this VM: every client of that server waits, keyward or not); what keyward adds is
      // measured over the probe's requests that did not overlap such a stall.
      assert.ok(r.probe.keywardP99 < 50, `probe p99 ${r.probe.keywardP99} ms beside redis stalls`);
      assert.ok(r.probe.redisExplained < r.probe.count / 10,
                `${r.probe.redisExplained} of ${r.probe.count} requests overlapped a redis-server stall`);
      assert.ok(r.peakRssKiB - r.baseRssKiB < RSS_BOUND_KIB,
        `RSS grew ${r.peakRssKiB - r.baseRssKiB} KiB (bound ${RSS_BOUND_KIB})`);
    });

    test("control: replies within the limits come back byte-exact (JSON, base64, resp2)", async () => {
      const six = BIG_KEYS.slice(0, 6);  // 48 MiB of values: under 64 MiB
      const base = rssKiB(stack.keyward.proc.pid);
      const sampler = rssSampler(stack.keyward.proc.pid);
      const plain = await post(stack, ["MGET", ...six]);
      const peak = sampler.stop();
      report(`replies_amplification.${mode}.legit48MiB`, { baseRssKiB: base, peakRssKiB: peak,
        growthKiB: peak - base });
      // Held raw, copied per request, parsed, encoded: a few times the reply, never unbounded.
      assert.ok(peak - base < LEGIT_RSS_BOUND_KIB, `RSS grew ${peak - base} KiB`);
      assert.equal(plain.status, 200);
      assert.deepEqual(plain.json.result, six.map((k) => values.get(k)));
      const b64 = await post(stack, ["GET", BIG_KEYS[0]], { "upstash-encoding": "base64" });
      assert.equal(b64.status, 200);
      assert.equal(Buffer.from(b64.json.result, "base64").toString("latin1"), values.get(BIG_KEYS[0]));
      const resp2 = await post(stack, ["GET", BIG_KEYS[1]], { "upstash-response-format": "resp2" });
      assert.equal(resp2.status, 200);
      const v = values.get(BIG_KEYS[1]);
      assert.ok(resp2.body.equals(Buffer.from(`$${v.length}\r\n${v}\r\n`, "latin1")));
      // A negative count repeats at most 16 times (attack round 29a); 16 picks still come back.
      const members = await post(stack, ["SRANDMEMBER", "amp:set", "-16"]);
      assert.equal(members.status, 200);
      assert.equal(members.json.result.length, 16);
      assert.ok(members.json.result.every((m) => ["a", "b", "c"].includes(m)));
      const many = await post(stack, ["SRANDMEMBER", "amp:set", "-100000"]);
      assert.equal(many.status, 403);
      assert.match(many.json.error, /with a negative count may return one element that many times/);
      // Control bytes escape 6x in JSON: a value within max_reply_bytes whose encoding is over
      // 2 x max_reply_bytes is refused before the body is built.
      // 24 MiB raw (under 64 MiB) is 144 MiB as JSON (over 128 MiB); as base64 it is 32 MiB.
      await stack.redis.call("SET", "amp:ctl", "\x01".repeat(24 * MiB));
      const ctl = await post(stack, ["GET", "amp:ctl"]);
      assert.equal(ctl.status, 502);
      assert.equal(ctl.json.error,
        refusal(mode, "ERR reply exceeds upstream.max_reply_bytes once encoded (the command ran; its reply was dropped)"));
      const ctl64 = await post(stack, ["GET", "amp:ctl"], { "upstash-encoding": "base64" });
      assert.equal(ctl64.status, 200);
      assert.equal(Buffer.from(ctl64.json.result, "base64").length, 24 * MiB);
      const small = await post(stack, ["GETRANGE", "amp:ctl", "0", "9"]);
      assert.equal(small.json.result, "\x01".repeat(10));
    });
  });
}

// One pooled connection shared by two tenants: a reply over the element limit fails that
// pipeline slot only, and the other tenant's pipelined INCRs on the same connection each run
// exactly once and are answered (checked on redis-server). Redis mode: the shared connection
// is keyward's own.
describe("over-limit reply on a shared pooled connection (redis mode)", () => {
  let stack;
  before(async () => {
    stack = await startModeStack("redis", { upstream: { connections: 1 },
      extraClients: { counter: { commands: ["+incr", "+get"], keys: ["ctr:*"] } } });
    await seedLongList(stack);
  });
  after(async () => {
    await stack?.stop();
  });

  test("only the over-limit slot fails; the other tenant's INCRs succeed exactly once", async () => {
    const n = 20;
    const counterRuns = Array.from({ length: n }, () => request(stack.port, {
      path: "/pipeline", key: stack.keys.counter, timeoutMs: 30000,
      body: [["INCR", "ctr:a"], ["INCR", "ctr:b"]],
    }));
    const attacker = request(stack.port, {
      path: "/pipeline", key: stack.keys.admin, timeoutMs: 30000,
      body: [["INCR", "amp:own"], ["LRANGE", "amp:list", "0", "-1"], ["INCR", "amp:own"]],
    });
    const [att, ...counters] = await Promise.all([attacker, ...counterRuns]);
    assert.equal(att.status, 200, att.text);
    assert.deepEqual(att.json, [{ result: 1 },
      { error: "ERR reply exceeds upstream.max_reply_elements (the command ran; its reply was dropped)" }, { result: 2 }]);
    for (const c of counters) assert.equal(c.status, 200, c.text);
    const seen = counters.map((c) => c.json[0].result).sort((x, y) => x - y);
    assert.deepEqual(seen, Array.from({ length: n }, (_, i) => i + 1));
    assert.equal(await stack.redis.call("GET", "ctr:a"), String(n));
    assert.equal(await stack.redis.call("GET", "ctr:b"), String(n));
    assert.equal(await stack.redis.call("GET", "amp:own"), "2");
  });
});
