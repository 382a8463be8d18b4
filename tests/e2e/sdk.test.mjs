// End to end with the real @upstash/redis SDK: SDK -> TLS -> keyward -> redis-server, with the
// ground truth read straight from redis-server over RESP.
import { after, before, describe, test } from "node:test";
import { Redis, errors } from "@upstash/redis";
import { assert } from "./counted_assert.mjs";
import { SCRIPT_ALLOWED, SCRIPT_ALLOWED_SHA, measure, sha1, sleep, startStack } from "./harness.mjs";

let stack;
let rt; // ground-truth RESP client on redis-server
const sdk = {};

function client(name, opts = {}) {
  return new Redis({ url: stack.url, token: stack.keys[name],
                     retry: { retries: 2, backoff: () => 100 }, ...opts });
}

async function rejectsWith(promise, re) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected a rejection matching ${re}`);
  assert.ok(err instanceof errors.UpstashError, `expected UpstashError, got ${err?.name}: ${err?.message}`);
  assert.match(err.message, re);
  return err;
}

async function until(fn, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) return v;
    await sleep(50);
  }
}

before(async () => {
  stack = await startStack();
  rt = stack.redis;
  for (const name of Object.keys(stack.keys)) sdk[name] = client(name);
});
after(async () => {
  await stack?.stop();
});

describe("strings", () => {
  test("set/get/incr/append/mset/mget round trip and match redis", async () => {
    const r = sdk.admin;
    assert.equal(await r.set("s:a", "hello"), "OK");
    assert.equal(await r.get("s:a"), "hello");
    assert.equal(await rt.call("GET", "s:a"), "hello");
    assert.equal(await r.append("s:a", " world"), 11);
    assert.equal(await r.strlen("s:a"), 11);
    assert.equal(await r.getrange("s:a", 0, 4), "hello");
    assert.equal(await r.incr("s:n"), 1);
    assert.equal(await r.incrby("s:n", 41), 42);
    assert.equal(await r.decr("s:n"), 41);
    assert.equal(await r.incrbyfloat("s:f", 1.5), 1.5);
    assert.equal(await rt.call("GET", "s:n"), "41");
    assert.equal(await r.mset({ "s:m1": "one", "s:m2": "two" }), "OK");
    assert.deepEqual(await r.mget("s:m1", "s:m2", "s:missing"), ["one", "two", null]);
    assert.equal(await r.set("s:nx", "first", { nx: true }), "OK");
    assert.equal(await r.set("s:nx", "second", { nx: true }), null);
    assert.equal(await rt.call("GET", "s:nx"), "first");
    assert.equal(await r.set("s:ex", "v", { ex: 100 }), "OK");
    const ttl = await r.ttl("s:ex");
    assert.ok(ttl > 90 && ttl <= 100, `ttl ${ttl}`);
    assert.equal(await r.getdel("s:m1"), "one");
    assert.equal(await rt.call("EXISTS", "s:m1"), 0);
  });

  test("objects, numbers and unicode survive serialization", async () => {
    const r = sdk.admin;
    await r.set("s:obj", { a: 1, b: [1, 2, "x"] });
    assert.deepEqual(await r.get("s:obj"), { a: 1, b: [1, 2, "x"] });
    assert.equal(await rt.call("GET", "s:obj"), '{"a":1,"b":[1,2,"x"]}');
    await r.set("s:uni", "zażółć gęślą jaźń ✓ 🚀");
    assert.equal(await r.get("s:uni"), "zażółć gęślą jaźń ✓ 🚀");
    assert.equal(await rt.call("GET", "s:uni"), "zażółć gęślą jaźń ✓ 🚀");
    await r.set("s:big", "12345678901234567890");
    assert.equal(await r.get("s:big"), "12345678901234567890");
    assert.equal(await r.exists("s:obj", "s:uni", "s:none"), 2);
    assert.equal(await r.del("s:obj", "s:uni"), 2);
    assert.equal(await r.type("s:big"), "string");
  });
});

describe("hashes, lists, sets, sorted sets", () => {
  test("hashes", async () => {
    const r = sdk.admin;
    assert.equal(await r.hset("h:1", { f1: "v1", f2: "v2", n: 5 }), 3);
    assert.equal(await r.hget("h:1", "f1"), "v1");
    assert.deepEqual(await r.hgetall("h:1"), { f1: "v1", f2: "v2", n: 5 });
    assert.equal(await r.hincrby("h:1", "n", 10), 15);
    assert.equal(await r.hexists("h:1", "f2"), 1);
    assert.equal(await r.hdel("h:1", "f2"), 1);
    assert.equal(await r.hlen("h:1"), 2);
    assert.deepEqual((await r.hkeys("h:1")).sort(), ["f1", "n"]);
    assert.deepEqual(await r.hmget("h:1", "f1", "n"), { f1: "v1", n: 15 });
    assert.deepEqual(await rt.call("HGETALL", "h:1"), ["f1", "v1", "n", "15"]);
  });

  test("lists", async () => {
    const r = sdk.admin;
    assert.equal(await r.rpush("l:1", "a", "b", "c"), 3);
    assert.equal(await r.lpush("l:1", "z"), 4);
    assert.deepEqual(await r.lrange("l:1", 0, -1), ["z", "a", "b", "c"]);
    assert.equal(await r.llen("l:1"), 4);
    assert.equal(await r.lindex("l:1", 1), "a");
    assert.equal(await r.lset("l:1", 1, "A"), "OK");
    assert.equal(await r.lpop("l:1"), "z");
    assert.equal(await r.rpop("l:1"), "c");
    assert.equal(await r.lrem("l:1", 0, "A"), 1);
    assert.deepEqual(await rt.call("LRANGE", "l:1", "0", "-1"), ["b"]);
  });

  test("sets", async () => {
    const r = sdk.admin;
    assert.equal(await r.sadd("set:1", "a", "b", "c"), 3);
    assert.equal(await r.sadd("set:2", "b", "c", "d"), 3);
    assert.deepEqual((await r.smembers("set:1")).sort(), ["a", "b", "c"]);
    assert.equal(await r.sismember("set:1", "a"), 1);
    assert.equal(await r.sismember("set:1", "d"), 0);
    assert.equal(await r.scard("set:2"), 3);
    assert.deepEqual((await r.sinter("set:1", "set:2")).sort(), ["b", "c"]);
    assert.deepEqual((await r.sunion("set:1", "set:2")).sort(), ["a", "b", "c", "d"]);
    assert.equal(await r.srem("set:1", "a"), 1);
    assert.deepEqual((await rt.call("SMEMBERS", "set:1")).sort(), ["b", "c"]);
  });

  test("sorted sets", async () => {
    const r = sdk.admin;
    assert.equal(await r.zadd("z:1", { score: 1, member: "one" }, { score: 2, member: "two" },
                              { score: 3, member: "three" }), 3);
    assert.equal(await r.zscore("z:1", "two"), 2);
    assert.equal(await r.zincrby("z:1", 10, "one"), 11);
    assert.equal(await r.zrank("z:1", "one"), 2);
    assert.equal(await r.zcard("z:1"), 3);
    assert.deepEqual(await r.zrange("z:1", 0, -1), ["two", "three", "one"]);
    assert.deepEqual(await r.zrange("z:1", 0, 1, { withScores: true }), ["two", 2, "three", 3]);
    assert.deepEqual(await r.zrange("z:1", 3, 11, { byScore: true }), ["three", "one"]);
    assert.equal(await r.zrem("z:1", "three"), 1);
    assert.deepEqual(await rt.call("ZRANGE", "z:1", "0", "-1", "WITHSCORES"), ["two", "2", "one", "11"]);
  });
});

describe("streams with consumer groups", () => {
  test("xadd/xgroup/xreadgroup/xack/xpending", async () => {
    const r = sdk.admin;
    const id1 = await r.xadd("st:1", "*", { kind: "a", n: "1" });
    const id2 = await r.xadd("st:1", "*", { kind: "b", n: "2" });
    assert.match(id1, /^\d+-\d+$/);
    assert.equal(await r.xlen("st:1"), 2);
    const range = await r.xrange("st:1", "-", "+");
    assert.deepEqual(Object.keys(range), [id1, id2]);
    assert.equal(range[id1].kind, "a");
    assert.equal(await r.xgroup("st:1", { type: "CREATE", group: "g1", id: "0" }), "OK");
    const read = await r.xreadgroup("g1", "c1", "st:1", ">", { count: 10 });
    assert.equal(read.length, 1);
    assert.equal(read[0][0], "st:1");
    assert.deepEqual(read[0][1].map((e) => e[0]), [id1, id2]);
    const pend = await rt.call("XPENDING", "st:1", "g1");
    assert.equal(pend[0], 2);
    assert.equal(await r.xack("st:1", "g1", [id1, id2]), 2);
    assert.equal((await rt.call("XPENDING", "st:1", "g1"))[0], 0);
  });

  test("consumer-group restricted client", async () => {
    await rt.call("XADD", "events:1", "*", "k", "v");
    await rt.call("XGROUP", "CREATE", "events:1", "workers", "0");
    await rt.call("XGROUP", "CREATE", "events:1", "others", "0");
    const s = sdk.streamer;
    const ok = await s.xreadgroup("workers", "w1", "events:1", ">", { count: 5 });
    assert.equal(ok[0][1].length, 1);
    const [, delta] = await measure(rt, () =>
      rejectsWith(s.xreadgroup("others", "w1", "events:1", ">", { count: 5 }), /NOPERM/));
    assert.deepEqual(delta, {}, "denied XREADGROUP reached redis");
    assert.equal((await rt.call("XPENDING", "events:1", "others"))[0], 0);
    await rejectsWith(s.xadd("secret:stream", "*", { a: "b" }), /NOPERM/);
    assert.equal(await rt.call("EXISTS", "secret:stream"), 0);
  });
});

describe("pub/sub over SSE", () => {
  async function waitNumsub(channel, n) {
    return until(async () => (await rt.call("PUBSUB", "NUMSUB", channel))[1] === n);
  }

  test("subscribe receives published messages; unsubscribe tears down upstream", async () => {
    const sub = sdk.admin.subscribe(["news:1"]);
    const got = [];
    const errs = [];
    let subscribed = 0;
    sub.on("subscribe", (n) => { subscribed = n; });
    sub.on("message", (m) => got.push(m));
    sub.on("error", (e) => errs.push(e));
    assert.ok(await waitNumsub("news:1", 1), "upstream SUBSCRIBE not seen on redis");
    assert.ok(await until(() => subscribed === 1), "no subscribe event");
    assert.equal(await sdk.admin.publish("news:1", "hello, world"), 1);
    await sdk.admin.publish("news:1", { a: 1 });
    assert.ok(await until(() => got.length === 2), `got ${JSON.stringify(got)}`);
    assert.deepEqual(got[0], { channel: "news:1", message: "hello, world" });
    assert.deepEqual(got[1], { channel: "news:1", message: { a: 1 } });
    await sub.unsubscribe();
    assert.ok(await waitNumsub("news:1", 0), "upstream subscription outlived the client");
    assert.deepEqual(errs, []);
  });

  test("psubscribe receives pmessage", async () => {
    const sub = sdk.admin.psubscribe(["feed:*"]);
    const got = [];
    sub.on("pmessage", (m) => got.push(m));
    assert.ok(await until(async () => (await rt.call("PUBSUB", "NUMPAT")) === 1), "no upstream PSUBSCRIBE");
    // The SDK JSON.parses pmessage payloads without a fallback, so publish JSON (with commas).
    await rt.call("PUBLISH", "feed:x", '{"text":"payload,with,commas"}');
    assert.ok(await until(() => got.length === 1), "no pmessage");
    assert.deepEqual(got[0], { pattern: "feed:*", channel: "feed:x", message: { text: "payload,with,commas" } });
    await sub.unsubscribe();
    assert.ok(await until(async () => (await rt.call("PUBSUB", "NUMPAT")) === 0), "PSUBSCRIBE leaked");
  });

  test("channel-restricted client: allowed channel works, others are refused", async () => {
    const ok = sdk.chat.subscribe(["chat:room"]);
    const got = [];
    ok.on("message", (m) => got.push(m));
    assert.ok(await waitNumsub("chat:room", 1));
    assert.equal(await sdk.chat.publish("chat:room", "hi"), 1);
    assert.ok(await until(() => got.length === 1));
    await ok.unsubscribe();

    const bad = sdk.chat.subscribe(["secret"]);
    const errs = [];
    bad.on("error", (e) => errs.push(e));
    assert.ok(await until(() => errs.length === 1), "denied SUBSCRIBE gave no error event");
    assert.match(errs[0].message, /NOPERM/);
    assert.equal((await rt.call("PUBSUB", "NUMSUB", "secret"))[1], 0);
    await bad.unsubscribe();

    const badp = sdk.chat.psubscribe(["*"]);
    const perrs = [];
    badp.on("error", (e) => perrs.push(e));
    assert.ok(await until(() => perrs.length === 1), "denied PSUBSCRIBE gave no error event");
    assert.match(perrs[0].message, /NOPERM/);
    assert.equal(await rt.call("PUBSUB", "NUMPAT"), 0);
    await badp.unsubscribe();

    await rejectsWith(sdk.chat.publish("other", "x"), /NOPERM/);
  });
});

describe("scripts", () => {
  test("createScript: EVALSHA, NOSCRIPT fallback to EVAL, then cached", async () => {
    await rt.call("SCRIPT", "FLUSH");
    const body = "return {KEYS[1], ARGV[1]}";
    const script = sdk.admin.createScript(body);
    const [res, delta] = await measure(rt, () => script.exec(["sc:k"], ["arg1"]));
    assert.deepEqual(res, ["sc:k", "arg1"]);
    assert.equal(delta.evalsha, 1, JSON.stringify(delta));
    assert.equal(delta.eval, 1, JSON.stringify(delta));
    const [res2, delta2] = await measure(rt, () => script.exec(["sc:k"], ["arg2"]));
    assert.deepEqual(res2, ["sc:k", "arg2"]);
    assert.deepEqual(delta2, { evalsha: 1 });
    assert.equal((await rt.call("SCRIPT", "EXISTS", sha1(body)))[0], 1);
  });

  test("script allow-list by SHA-1, declared keys still checked", async () => {
    await rt.call("SCRIPT", "FLUSH");
    await rt.call("SET", "app:sv", "script-value");
    const s = sdk.scripter;
    const allowed = s.createScript(SCRIPT_ALLOWED);
    assert.equal(await allowed.exec(["app:sv"], []), "script-value");
    assert.equal((await rt.call("SCRIPT", "EXISTS", SCRIPT_ALLOWED_SHA))[0], 1);
    const [, d1] = await measure(rt, () => rejectsWith(allowed.exec(["secret:x"], []), /NOPERM/));
    assert.deepEqual(d1, {}, "script with a forbidden declared key reached redis");
    const other = s.createScript("return redis.call('FLUSHALL')");
    const [, d2] = await measure(rt, () => rejectsWith(other.exec([], []), /NOPERM/));
    assert.deepEqual(d2, {}, "unlisted script reached redis");
    assert.equal(await rt.call("GET", "app:sv"), "script-value");
  });
});

describe("pipelines and transactions", () => {
  test("auto-pipelining batches concurrent reads and writes", async () => {
    const r = sdk.admin;
    await rt.call("SET", "ap:str", "text");
    await rt.call("SET", "ap:a", "seed");
    await rt.call("SADD", "ap:s", "m0");
    // Since 1.38 reads and writes of one tick go out as two concurrent pipelines: no read here
    // depends on a write of the same tick.
    const [res, delta] = await measure(rt, () => Promise.allSettled([
      r.set("ap:w", "1"), r.get("ap:a"), r.incr("ap:c"), r.exists("ap:a"), r.incr("ap:str"),
      r.get("ap:str"), r.sadd("ap:s2", "m"), r.scard("ap:s"),
    ]));
    assert.deepEqual(res.map((x) => x.status),
                     ["fulfilled", "fulfilled", "fulfilled", "fulfilled", "rejected", "fulfilled",
                      "fulfilled", "fulfilled"]);
    assert.equal(res[0].value, "OK");
    assert.equal(res[1].value, "seed");
    assert.equal(res[2].value, 1);
    assert.ok(res[4].reason instanceof errors.UpstashError);
    assert.match(res[4].reason.message, /^Command failed: ERR value is not an integer/);
    assert.equal(res[5].value, "text");
    assert.equal(res[7].value, 1);
    assert.equal(delta.incr, 2);
    assert.equal(delta.set, 1);
  });

  test("explicit pipeline with keepErrors and without", async () => {
    const r = sdk.admin;
    await rt.call("SET", "pl:str", "x");
    const p = r.pipeline();
    p.set("pl:a", "1").incr("pl:str").get("pl:a").lpush("pl:l", "a", "b");
    const out = await p.exec({ keepErrors: true });
    assert.equal(out.length, 4);
    assert.deepEqual(out[0], { error: undefined, result: "OK" });
    assert.match(out[1].error, /^ERR value is not an integer/);
    assert.equal(out[2].result, 1);
    assert.equal(out[3].result, 2);
    const p2 = r.pipeline();
    p2.get("pl:a").incr("pl:str");
    await rejectsWith(p2.exec(), /^Command 2 \[ incr \] failed: ERR value is not an integer/);
  });

  test("multi() runs atomically", async () => {
    const r = sdk.admin;
    const [out, delta] = await measure(rt, () =>
      r.multi().set("tx:a", "1").incr("tx:a").get("tx:a").exec());
    assert.deepEqual(out, ["OK", 2, 2]);
    assert.equal(delta.multi, 1);
    assert.equal(delta.exec, 1);
    assert.equal(await rt.call("GET", "tx:a"), "2");
  });
});

describe("encodings and large values", () => {
  test("base64 off (responseEncoding:false) and on give identical results", async () => {
    const b64 = sdk.admin;
    const raw = client("admin", { responseEncoding: false });
    const noDeser = client("admin", { automaticDeserialization: false });
    await rt.call("RPUSH", "enc:l", "OK", "T0s=", "plain", "ünï");
    await rt.call("SET", "enc:ok", "OK");
    for (const r of [b64, raw]) {
      assert.deepEqual(await r.lrange("enc:l", 0, -1), ["OK", "T0s=", "plain", "ünï"]);
      assert.equal(await r.get("enc:ok"), "OK");
      assert.equal(await r.set("enc:s", "🚀 rocket"), "OK");
      assert.equal(await r.get("enc:s"), "🚀 rocket");
      assert.equal(await r.ping(), "PONG");
      assert.equal(await r.type("enc:l"), "list");
      assert.equal(await r.incrbyfloat("enc:f", 0.5) > 0, true);
    }
    await rt.call("SET", "enc:json", '{"x":1}');
    assert.equal(await noDeser.get("enc:json"), '{"x":1}');
    assert.deepEqual(await b64.get("enc:json"), { x: 1 });
  });

  test("a 5 MB value round-trips", async () => {
    const big = "x".repeat(5 * 1024 * 1024 - 7) + "ending!";
    assert.equal(await sdk.admin.set("big:1", big), "OK");
    assert.equal(await rt.call("STRLEN", "big:1"), 5 * 1024 * 1024);
    const back = await sdk.admin.get("big:1");
    assert.equal(back.length, big.length);
    assert.ok(back === big, "5 MB value differs after round trip");
  });
});

describe("read-your-writes", () => {
  test("sync token header is present on every response", async () => {
    const r = client("admin");
    assert.equal(r.readYourWritesSyncToken, "");
    const steps = [
      () => r.set("ryw:a", "1"),                      // auto-pipeline
      () => r.get("ryw:a"),
      () => r.hgetall("ryw:none"),                     // POST /
      () => r.pipeline().set("ryw:b", "2").get("ryw:b").exec(),
      () => r.multi().incr("ryw:c").exec(),
      () => r.eval("return 1", [], []),
    ];
    for (const [i, step] of steps.entries()) {
      r.readYourWritesSyncToken = "";
      await step();
      assert.ok(r.readYourWritesSyncToken, `no upstash-sync-token on response of step ${i}`);
    }
  });
});

describe("restricted clients get the SDK's own errors", () => {
  test("reader: reads inside app:* work; writes and other keys are NOPERM", async () => {
    await rt.call("SET", "app:r1", "v1");
    await rt.call("SET", "secret:r1", "hidden");
    await rt.call("HSET", "secret:h", "f", "v");
    const r = sdk.reader;
    assert.equal(await r.get("app:r1"), "v1");
    const [, d] = await measure(rt, async () => {
      await rejectsWith(r.set("app:r1", "changed"), /^Command failed: NOPERM/);
      await rejectsWith(r.get("secret:r1"), /^Command failed: NOPERM/);
      await rejectsWith(r.del("app:r1"), /NOPERM/);
      const e = await rejectsWith(r.hgetall("secret:h"), /^NOPERM/);   // POST /, non-2xx
      assert.match(e.message, /command was:/);
      await rejectsWith(r.flushall(), /NOPERM/);
    });
    assert.deepEqual(d, {}, "a denied command reached redis");
    assert.equal(await rt.call("GET", "app:r1"), "v1");
    assert.equal(await rt.call("EXISTS", "secret:h"), 1);
  });

  test("reader pipeline: denied slot is an inline error, the others run", async () => {
    await rt.call("SET", "app:p1", "one");
    await rt.call("SET", "app:p3", "three");
    const [out, d] = await measure(rt, () => sdk.reader.pipeline()
      .get("app:p1").set("app:p2", "x").get("app:p3").exec({ keepErrors: true }));
    assert.equal(out[0].result, "one");
    assert.match(out[1].error, /^NOPERM/);
    assert.equal(out[2].result, "three");
    assert.equal(d.get, 2);
    assert.equal(d.set, undefined);
    assert.equal(await rt.call("EXISTS", "app:p2"), 0);
    await rejectsWith(sdk.reader.pipeline().get("app:p1").set("app:p2", "x").exec(),
                      /^Command 2 \[ set \] failed: NOPERM/);
  });

  test("reader multi(): one denied command rejects the whole transaction", async () => {
    const [, d] = await measure(rt, () => rejectsWith(
      sdk.reader.multi().get("app:p1").set("app:tx", "1").exec(), /NOPERM/));
    assert.deepEqual(d, {});
    assert.equal(await rt.call("EXISTS", "app:tx"), 0);
  });

  test("write-only keys: SET allowed, GET refused", async () => {
    const w = sdk.writer;
    assert.equal(await w.set("inbox:1", "msg"), "OK");
    assert.equal(await rt.call("GET", "inbox:1"), "msg");
    // INCR reads the value it returns (key spec RW+access): write-only keys do not allow it.
    await rejectsWith(w.incr("inbox:n"), /NOPERM/);
    assert.equal(await rt.call("EXISTS", "inbox:n"), 0);
    await rejectsWith(w.get("inbox:1"), /NOPERM/);
    await rejectsWith(w.set("app:1", "x"), /NOPERM/);
    assert.equal(await rt.call("EXISTS", "app:1"), 0);
  });

  test("SCAN is confined to the client's key patterns", async () => {
    for (const k of ["tenant1:a", "tenant1:b", "tenant1:c", "tenant2:a", "tenant2:b", "other"]) {
      await rt.call("SET", k, "1");
    }
    const s = sdk.scanner;
    async function scanAll(opts) {
      const seen = new Set();
      let cursor = "0";
      let rounds = 0;
      do {
        const [next, keys] = await s.scan(cursor, { count: 100, ...opts });
        cursor = String(next);
        keys.forEach((k) => seen.add(k));
      } while (cursor !== "0" && ++rounds < 1000);
      return [...seen].sort();
    }
    assert.deepEqual(await scanAll({ match: "tenant1:*" }), ["tenant1:a", "tenant1:b", "tenant1:c"]);
    const all = await scanAll({}).catch((e) => e);
    if (all instanceof Error) {
      assert.match(all.message, /NOPERM/);
    } else {
      assert.deepEqual(all, ["tenant1:a", "tenant1:b", "tenant1:c"]);
    }
    const outside = await scanAll({ match: "tenant2:*" }).catch((e) => e);
    if (outside instanceof Error) {
      assert.match(outside.message, /NOPERM/);
    } else {
      assert.deepEqual(outside, []);
    }
    const sneaky = await scanAll({ match: "*" }).catch((e) => e);
    if (!(sneaky instanceof Error)) {
      assert.ok(sneaky.every((k) => k.startsWith("tenant1:")), `SCAN leaked ${sneaky}`);
    }
  });

  test("unknown API key is WRONGPASS", async () => {
    const bogus = new Redis({ url: stack.url, token: "kw_" + "A".repeat(43), retry: false });
    await rejectsWith(bogus.get("app:r1"), /WRONGPASS/);
    const none = new Redis({ url: stack.url, token: "x", retry: false, enableAutoPipelining: false });
    await rejectsWith(none.get("app:r1"), /WRONGPASS/);
  });

  test("suffix pattern: a NUL byte cannot truncate a key past the check", async () => {
    const s = sdk.suffix;
    assert.equal(await s.set("top:pub", "public"), "OK");
    await rt.call("SET", "top:pub\u0000secret", "hidden");
    await rejectsWith(s.get("top:pub\u0000secret"), /NOPERM/);
  });
});
