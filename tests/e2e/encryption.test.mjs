// Value encryption (README, Value encryption) end to end: the unchanged @upstash/redis SDK through
// keyward, with redis-server read directly as the ground truth: what sits there under sess:* and
// pii:* is a kw1 envelope, never the plaintext. Tamper rows, the denied command classes, key
// rotation under a request loop, plaintext: pass, metrics and the CLI. Run twice by CMake: against
// redis-server, and in chain mode (keyward in REST mode in front of an inner keyward).
import crypto from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { Redis } from "@upstash/redis";
import { assert } from "./counted_assert.mjs";
import { adminCall, certs, chainMode, measure, rewriteConfig, sleep, startStack, toYaml } from "./harness.mjs";
import { request } from "./http.mjs";

const ENVELOPE_V1 = /^kw1\.v1\.[A-Za-z0-9_-]{38,}$/;
const ENVELOPE_V2 = /^kw1\.v2\.[A-Za-z0-9_-]{38,}$/;
const OPEN_ERROR = "ERR value under an encrypted pattern could not be decrypted";

let stack;
let rt; // redis-server, directly
let keyDir;
const secrets = { v1: crypto.randomBytes(32).toString("base64"), v2: crypto.randomBytes(32).toString("base64") };

function keyFile(id) {
  const p = path.join(keyDir, `${id}.key`);
  fs.writeFileSync(p, secrets[id] + "\n", { mode: 0o600 });
  return p;
}
function encryptionConfig(ids, plaintext = "refuse") {
  return { keys: ids.map((id) => ({ id, secret_file: keyFile(id) })), patterns: ["sess:*", "pii:*"], plaintext };
}

function sdk(opts = {}) {
  return new Redis({ url: stack.url, token: stack.keys.admin, retry: { retries: 0 }, ...opts });
}
function call(body, headers = {}, route = "/", port = stack.port) {
  return request(port, { path: route, body, key: stack.keys.admin, headers });
}
async function stored(key) {
  return rt.call("GET", key);
}
async function storedField(key, field) {
  return rt.call("HGET", key, field);
}
async function metric(name, kw = stack.keyward) {
  const text = (await adminCall(stack, kw, "GET", "/metrics")).text;
  const m = text.match(new RegExp(`^${name} (\\d+)$`, "m"));
  assert.ok(m, `${name} missing from /metrics`);
  return Number(m[1]);
}

before(async () => {
  keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "kw-enc-"));
  stack = await startStack({ encryption: encryptionConfig(["v1"]) });
  rt = stack.redis;
});
after(async () => {
  await stack?.stop();
  if (keyDir) fs.rmSync(keyDir, { recursive: true, force: true });
});

describe("the SDK stores only envelopes", () => {
  test("strings, numbers and objects round trip; redis holds kw1 envelopes", async () => {
    const r = sdk();
    assert.equal(await r.set("sess:s", "hello"), "OK");
    assert.equal(await r.get("sess:s"), "hello");
    assert.equal(await r.set("sess:n", 42), "OK");
    assert.equal(await r.get("sess:n"), 42);
    const obj = { user: "ann-secret", roles: ["admin"], n: 1.5 };
    assert.equal(await r.set("pii:o", obj), "OK");
    assert.deepEqual(await r.get("pii:o"), obj);
    for (const k of ["sess:s", "sess:n", "pii:o"]) assert.match(await stored(k), ENVELOPE_V1, k);
    assert.ok(!(await stored("pii:o")).includes("ann-secret"));
    // Two writes of one value are two envelopes (a fresh nonce each).
    await r.set("sess:s2", "hello");
    assert.notEqual(await stored("sess:s2"), await stored("sess:s"));
    // Keys outside the patterns are untouched.
    assert.equal(await r.set("plain:s", "hello"), "OK");
    assert.equal(await stored("plain:s"), "hello");
  });

  test("every covered string command", async () => {
    const r = sdk();
    assert.equal(await r.setex("sess:ex", 100, "e1"), "OK");
    assert.equal(await r.get("sess:ex"), "e1");
    assert.equal(await r.psetex("sess:px", 100000, "p1"), "OK");
    assert.equal(await r.get("sess:px"), "p1");
    assert.equal(await r.setnx("sess:nx", "first"), 1);
    assert.equal(await r.setnx("sess:nx", "second"), 0);
    assert.equal(await r.get("sess:nx"), "first");
    assert.equal(await r.getset("sess:nx", "third"), "first");
    assert.equal(await r.set("sess:nx", "fourth", { get: true }), "third");
    assert.equal(await r.getex("sess:nx", { ex: 100 }), "fourth");
    assert.equal(await r.getdel("sess:nx"), "fourth");
    assert.equal(await r.get("sess:nx"), null);
    assert.equal(await r.mset({ "sess:m1": "a", "plain:m2": "b", "pii:m3": { x: 1 } }), "OK");
    assert.deepEqual(await r.mget("sess:m1", "plain:m2", "pii:m3", "sess:missing"), ["a", "b", { x: 1 }, null]);
    assert.equal(await r.msetnx({ "sess:mn1": "c", "sess:mn2": "d" }), 1);
    assert.deepEqual(await r.mget("sess:mn1", "sess:mn2"), ["c", "d"]);
    for (const k of ["sess:ex", "sess:px", "sess:m1", "pii:m3", "sess:mn1", "sess:mn2"]) {
      assert.match(await stored(k), ENVELOPE_V1, k);
    }
    assert.equal(await stored("plain:m2"), "b");
  });

  test("hash values, bound to their fields", async () => {
    const r = sdk();
    assert.equal(await r.hset("sess:h", { name: "ann", age: 31 }), 2);
    assert.equal(await r.hsetnx("sess:h", "city", "oslo"), 1);
    assert.equal(await r.hmset("sess:h", { zip: "z150" }), "OK");
    assert.deepEqual(await r.hgetall("sess:h"), { name: "ann", age: 31, city: "oslo", zip: "z150" });
    assert.equal(await r.hget("sess:h", "name"), "ann");
    assert.deepEqual(await r.hmget("sess:h", "name", "age", "nope"), { name: "ann", age: 31, nope: null });
    assert.deepEqual((await r.hvals("sess:h")).map(String).sort(), ["31", "ann", "oslo", "z150"]);
    const rand = await r.hrandfield("sess:h", 2, true);
    assert.equal(Object.keys(rand).length, 2);
    for (const [f, v] of Object.entries(rand)) {
      assert.equal(String(v), String({ name: "ann", age: 31, city: "oslo", zip: "z150" }[f]));
    }
    for (const f of ["name", "age", "city", "zip"]) assert.match(await storedField("sess:h", f), ENVELOPE_V1, f);
  });

  test("pipelines, transactions and auto-pipelining", async () => {
    const r = sdk();
    const p = r.pipeline();
    p.set("sess:p", "pv");
    p.get("sess:p");
    p.hset("sess:ph", { f: "hv" });
    p.hgetall("sess:ph");
    p.incr("plain:counter");
    assert.deepEqual(await p.exec(), ["OK", "pv", 1, { f: "hv" }, 1]);
    const m = r.multi();
    m.set("pii:t", "tv");
    m.get("pii:t");
    m.hget("sess:ph", "f");
    m.mget("pii:t", "sess:p");
    assert.deepEqual(await m.exec(), ["OK", "tv", "hv", ["tv", "pv"]]);
    const auto = sdk({ enableAutoPipelining: true });
    const [a, b, c] = await Promise.all([auto.set("sess:auto", "av"), auto.get("sess:p"), auto.hgetall("sess:ph")]);
    assert.deepEqual([a, b, c], ["OK", "pv", { f: "hv" }]);
    assert.equal(await auto.get("sess:auto"), "av");
    for (const k of ["sess:p", "pii:t", "sess:auto"]) assert.match(await stored(k), ENVELOPE_V1, k);
    assert.match(await storedField("sess:ph", "f"), ENVELOPE_V1);
  });
});

describe("encodings", () => {
  test("plain JSON, base64 and resp2 give the plaintext", async () => {
    await sdk().set("sess:enc", "héllo\u0001");
    let res = await call(["GET", "sess:enc"]);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { result: "héllo\u0001" });
    res = await call(["GET", "sess:enc"], { "upstash-encoding": "base64" });
    assert.deepEqual(res.json, { result: Buffer.from("héllo\u0001").toString("base64") });
    res = await call(["GET", "sess:enc"], { "upstash-response-format": "resp2" });
    assert.equal(res.status, 200);
    const plain = Buffer.from("héllo\u0001");
    assert.equal(res.body.toString("latin1"), `$${plain.length}\r\n${plain.toString("latin1")}\r\n`);
    // A resp2 pipeline with a denied slot spliced between opened replies.
    res = await call([["GET", "sess:enc"], ["INCR", "sess:enc"], ["HGET", "sess:ph", "f"]],
                     { "upstash-response-format": "resp2" }, "/pipeline");
    assert.equal(res.status, 200);
    const text = res.body.toString("latin1");
    assert.ok(text.startsWith(`$${plain.length}\r\n`), text);
    assert.match(text, /\r\n-NOPERM [^\r\n]*value is encrypted[^\r\n]*\r\n\$2\r\nhv\r\n$/);
    // resp2 keeps RESP types and Redis errors in both upstream modes (attack-run findings: a REST
    // hop turned +PONG into a bulk string, and a single command's -ERR into a 502).
    res = await call([["PING"], ["GET", "sess:enc"], ["TYPE", "sess:enc"]], { "upstash-response-format": "resp2" }, "/pipeline");
    assert.equal(res.status, 200);
    assert.equal(res.body.toString("latin1"), `+PONG\r\n$${plain.length}\r\n${plain.toString("latin1")}\r\n+string\r\n`);
    await sdk().set("plain:word", "notanumber");
    res = await call(["INCR", "plain:word"], { "upstash-response-format": "resp2" });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.body.toString(), "-ERR value is not an integer or out of range\r\n");
    res = await call(["SET", "sess:enc2", "v", "EX", "-5"], { "upstash-response-format": "resp2" });
    assert.equal(res.status, 400, res.text);
    assert.match(res.body.toString(), /^-ERR invalid expire time/);
    // Transactions in base64.
    res = await call([["SET", "sess:tx", "x1"], ["GET", "sess:tx"]], { "upstash-encoding": "base64" }, "/multi-exec");
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, [{ result: "OK" }, { result: Buffer.from("x1").toString("base64") }]);
    assert.match(await stored("sess:tx"), ENVELOPE_V1);
  });
});

describe("tampered values give the error and nothing else", () => {
  test("flipped, moved, unknown key, plaintext, truncated", async () => {
    const r = sdk();
    await r.set("sess:t1", "secret-one");
    await r.set("sess:t2", "secret-two");
    await r.hset("sess:th", { a: "secret-A", b: "secret-B" });
    const env1 = await stored("sess:t1");
    const env2 = await stored("sess:t2");
    const flipAt = env1.length - 20;
    const flipped = env1.slice(0, flipAt) + (env1[flipAt] === "A" ? "B" : "A") + env1.slice(flipAt + 1);
    const rows = {
      "sess:x:flipped": flipped,
      "sess:x:moved": env2,
      "sess:x:unknown": env1.replace("kw1.v1.", "kw1.v9."),
      "sess:x:plaintext": "not an envelope",
      "sess:x:truncated": env1.slice(0, -6),
      "sess:x:field": await storedField("sess:th", "a"),
    };
    for (const [k, v] of Object.entries(rows)) await rt.call("SET", k, v);
    const before = await metric("keyward_encryption_failures_total");
    for (const k of Object.keys(rows)) {
      const res = await call(["GET", k]);
      assert.equal(res.status, 400, `${k}: ${res.text}`);
      assert.deepEqual(res.json, { error: OPEN_ERROR }, k);
    }
    assert.equal(await metric("keyward_encryption_failures_total"), before + Object.keys(rows).length);
    // A hash value moved to another field.
    await rt.call("HSET", "sess:th", "a", await storedField("sess:th", "b"));
    assert.deepEqual((await call(["HGET", "sess:th", "a"])).json, { error: OPEN_ERROR });
    assert.deepEqual((await call(["HGETALL", "sess:th"])).json, { error: OPEN_ERROR });
    assert.deepEqual((await call(["HGET", "sess:th", "b"])).json, { result: "secret-B" });
    // The good value still opens; MGET with one bad value is the error whole (no partial plaintext).
    assert.deepEqual((await call(["GET", "sess:t2"])).json, { result: "secret-two" });
    let res = await call(["MGET", "sess:t2", "sess:x:moved"]);
    assert.equal(res.status, 400);
    assert.deepEqual(res.json, { error: OPEN_ERROR });
    // An error slot in a pipeline and in a transaction; the other commands answer.
    res = await call([["GET", "sess:x:unknown"], ["GET", "sess:t2"]], {}, "/pipeline");
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, [{ error: OPEN_ERROR }, { result: "secret-two" }]);
    res = await call([["GET", "sess:x:flipped"], ["GET", "sess:t1"]], {}, "/multi-exec");
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, [{ error: OPEN_ERROR }, { result: "secret-one" }]);
    res = await call(["GET", "sess:x:truncated"], { "upstash-response-format": "resp2" });
    assert.equal(res.body.toString(), `-${OPEN_ERROR}\r\n`);
    // Through the SDK: an error, never the ciphertext.
    await assert.rejects(r.get("sess:x:moved"), /could not be decrypted/);
  });
});

describe("binary names", () => {
  test("a hash field that is not UTF-8 binds its value by its exact bytes, in both upstream modes", async () => {
    // Attack-run finding: a plain-JSON REST hop turned the field f\xff into f\uFFFD, so values
    // did not open, and one sealed for the field "f\uFFFD" opened when moved to f\xff.
    // A REST upstream takes JSON text only: in chain mode the field is written through a second
    // keyward on redis-server itself, with the same keys.
    const writer = chainMode()
      ? await stack.startKeyward({ upstreamUrl: `redis://127.0.0.1:${stack.redisPort}` })
      : stack.keyward;
    let res = await request(writer.port, { path: "/hset/sess:bf/f%FF/v1", key: stack.keys.admin });
    assert.equal(res.status, 200, res.text);
    assert.equal((await call(["HSET", "sess:bf", "ok", "v2"])).status, 200);
    if (writer !== stack.keyward) await writer.stop();
    res = await call(["HGETALL", "sess:bf"]);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { result: ["f\uFFFD", "v1", "ok", "v2"] });
    res = await call(["HGETALL", "sess:bf"], { "upstash-encoding": "base64" });
    assert.deepEqual(res.json, { result: [Buffer.from([0x66, 0xff]).toString("base64"),
      Buffer.from("v1").toString("base64"), Buffer.from("ok").toString("base64"), Buffer.from("v2").toString("base64")] });
    res = await call(["HVALS", "sess:bf"], { "upstash-response-format": "resp2" });
    assert.equal(res.body.toString(), "*2\r\n$2\r\nv1\r\n$2\r\nv2\r\n");
    assert.equal((await call(["HSET", "sess:bf2", "f\uFFFD", "SECRET-FFFD"])).status, 200);
    const env = await rt.callRaw("HGET", "sess:bf2", "f\uFFFD");
    await rt.callRaw("HSET", "sess:bf2", Buffer.from([0x66, 0xff]), env);
    await rt.callRaw("HDEL", "sess:bf2", "f\uFFFD");
    for (const headers of [{}, { "upstash-encoding": "base64" }, { "upstash-response-format": "resp2" }]) {
      for (const cmd of [["HGETALL", "sess:bf2"], ["HVALS", "sess:bf2"], ["HRANDFIELD", "sess:bf2", "1", "WITHVALUES"]]) {
        res = await call(cmd, headers);
        assert.equal(res.status, 400, `${cmd[0]} ${JSON.stringify(headers)}: ${res.text}`);
        assert.ok(res.body.toString().includes(OPEN_ERROR));
        assert.ok(!res.body.toString().includes("SECRET"));
      }
    }
  });
});

describe("command classes on encrypted keys", () => {
  test("value-touching commands are NOPERM and never reach redis", async () => {
    await sdk().set("sess:c", "12");
    await sdk().hset("sess:ch", { f: "1" });
    const denied = [
      ["APPEND", "sess:c", "x"], ["INCR", "sess:c"], ["INCRBY", "sess:c", "2"], ["DECR", "sess:c"],
      ["INCRBYFLOAT", "sess:c", "1"], ["GETRANGE", "sess:c", "0", "1"], ["SETRANGE", "sess:c", "0", "x"],
      ["STRLEN", "sess:c"], ["LCS", "sess:c", "plain:s"], ["SETBIT", "sess:c", "0", "1"], ["BITCOUNT", "sess:c"],
      ["HINCRBY", "sess:ch", "f", "1"], ["HSTRLEN", "sess:ch", "f"], ["HSCAN", "sess:ch", "0"],
      ["RENAME", "sess:c", "plain:r"], ["RENAME", "plain:s", "sess:r"], ["COPY", "sess:c", "plain:cp"],
      ["DUMP", "sess:c"], ["EVAL", "return redis.call('GET', KEYS[1])", "1", "sess:c"],
      ["LPUSH", "sess:l", "a"], ["SADD", "sess:set", "a"], ["ZADD", "sess:z", "1", "a"], ["XADD", "sess:x", "*", "f", "v"],
      ["OBJECT", "ENCODING", "sess:c"],
    ];
    const [statuses, delta] = await measure(rt, async () => {
      const out = [];
      for (const cmd of denied) {
        const res = await call(cmd);
        out.push([cmd[0], res.status, res.json?.error ?? res.text]);
      }
      return out;
    });
    for (const [name, status, error] of statuses) {
      assert.equal(status, 403, `${name}: ${error}`);
      assert.match(error, /^NOPERM .*value is encrypted/, name);
    }
    assert.deepEqual(delta, {}, "no denied command reached redis");
  });

  test("value-agnostic commands work on encrypted keys", async () => {
    const r = sdk();
    await r.set("sess:a1", "v");
    await r.hset("sess:ah", { f: "1", g: "2" });
    assert.equal(await r.exists("sess:a1", "sess:ah"), 2);
    assert.equal(await r.type("sess:a1"), "string");
    assert.equal(await r.expire("sess:a1", 100), 1);
    assert.ok((await r.ttl("sess:a1")) > 0);
    assert.ok((await r.pttl("sess:a1")) > 0);
    assert.equal(await r.persist("sess:a1"), 1);
    assert.equal(await r.touch("sess:a1"), 1);
    assert.equal(await r.hexists("sess:ah", "f"), 1);
    assert.equal(await r.hlen("sess:ah"), 2);
    assert.deepEqual((await r.hkeys("sess:ah")).sort(), ["f", "g"]);
    assert.equal(await r.hdel("sess:ah", "g"), 1);
    const [, keys] = await r.scan(0, { match: "sess:a*", count: 1000 });
    assert.ok(keys.includes("sess:a1") && keys.includes("sess:ah"), JSON.stringify(keys));
    assert.equal(await r.unlink("sess:a1"), 1);
    assert.equal(await r.del("sess:ah"), 1);
  });
});

describe("rotation", () => {
  test("a new first key under a concurrent loop: zero failures, old values still open", async () => {
    await sdk().set("sess:rot:old", "written-with-v1");
    const agent = new https.Agent({ keepAlive: true, maxSockets: 4, ca: fs.readFileSync(certs().ca) });
    const stats = { ok: 0, failed: [] };
    let running = true;
    const one = (w, i) => new Promise((resolve) => {
      const key = `sess:rot:${w}`;
      const body = JSON.stringify([["SET", key, `v${i}`], ["GET", key], ["GET", "sess:rot:old"]]);
      const req = https.request({ host: "127.0.0.1", port: stack.port, method: "POST", path: "/pipeline", agent,
                                  headers: { authorization: `Bearer ${stack.keys.admin}`, "content-length": Buffer.byteLength(body) } },
      (res) => {
        const chunks = [];
        res.on("data", (d) => chunks.push(d));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          const want = JSON.stringify([{ result: "OK" }, { result: `v${i}` }, { result: "written-with-v1" }]);
          if (res.statusCode === 200 && text === want) stats.ok++;
          else stats.failed.push(`${res.statusCode} ${text.slice(0, 200)}`);
          resolve();
        });
      });
      req.on("error", (e) => { stats.failed.push(e.message); resolve(); });
      req.end(body);
    });
    const loops = [0, 1, 2, 3].map(async (w) => {
      for (let i = 0; running; i++) await one(w, i);
    });
    await sleep(400);
    const kw = stack.keyward;
    rewriteConfig(kw, (c) => { c.encryption = encryptionConfig(["v2", "v1"]); });
    const seen = kw.events.filter((e) => e.event === "reloaded").length;
    kw.proc.kill("SIGHUP");
    const end = Date.now() + 10000;
    while (kw.events.filter((e) => e.event === "reloaded").length === seen) {
      assert.ok(Date.now() < end, `no reloaded event; stderr ${kw.stderr.slice(-500)}`);
      await sleep(20);
    }
    await sleep(600);
    running = false;
    await Promise.all(loops);
    agent.destroy();
    assert.deepEqual(stats.failed, []);
    assert.ok(stats.ok > 20, `only ${stats.ok} requests ran`);
    // New writes use v2; the v1 value still opens.
    for (let w = 0; w < 4; w++) assert.match(await stored(`sess:rot:${w}`), ENVELOPE_V2);
    assert.match(await stored("sess:rot:old"), ENVELOPE_V1);
    assert.equal(await sdk().get("sess:rot:old"), "written-with-v1");
    // Dropping v1 (after re-writing what it sealed) leaves its values unreadable: the error.
    rewriteConfig(kw, (c) => { c.encryption = encryptionConfig(["v2"]); });
    const r = await adminCall(stack, kw, "POST", "/v1/reload");
    assert.equal(r.status, 200, r.text);
    assert.deepEqual((await call(["GET", "sess:rot:old"])).json, { error: OPEN_ERROR });
    assert.deepEqual((await call(["GET", "sess:rot:0"])).json.result.startsWith("v"), true);
    rewriteConfig(kw, (c) => { c.encryption = encryptionConfig(["v2", "v1"]); });
    assert.equal((await adminCall(stack, kw, "POST", "/v1/reload")).status, 200);
  });
});

describe("operations", () => {
  test("plaintext: pass returns values written before encryption, still refuses tampering", async () => {
    const kw = await stack.startKeyward({ encryption: encryptionConfig(["v2", "v1"], "pass") });
    await rt.call("SET", "sess:legacy", "plain-old");
    let res = await call(["GET", "sess:legacy"], {}, "/", kw.port);
    assert.deepEqual(res.json, { result: "plain-old" });
    res = await call(["GET", "sess:x:moved"], {}, "/", kw.port);
    assert.deepEqual(res.json, { error: OPEN_ERROR });
    res = await call(["GET", "sess:legacy"]);
    assert.deepEqual(res.json, { error: OPEN_ERROR }, "refuse mode on the main instance");
    await kw.stop();
  });

  test("a request that waits for a quota-store lease still has its values opened", async () => {
    // Review finding: the plan kept for after the lease lost what to open, so the first requests
    // of a keyward with quota.store_url answered with the stored envelope.
    process.env.KW_E2E_QUOTA_STORE = `redis://:${stack.redisPassword}@127.0.0.1:${stack.redisPort}`;
    const kw = await stack.startKeyward({ quota: { store_url_env: "KW_E2E_QUOTA_STORE" },
                                          budget: { per_second: 0, per_day: 100000, per_month: 0 } });
    try {
      let res = await call(["GET", "sess:s"], {}, "/", kw.port);
      assert.deepEqual(res.json, { result: "hello" });
      res = await call([["GET", "sess:s"], ["HGET", "sess:ph", "f"]], {}, "/pipeline", kw.port);
      assert.deepEqual(res.json, [{ result: "hello" }, { result: "hv" }]);
      res = await call([["SET", "sess:lease", "lv"], ["GET", "sess:lease"]], {}, "/multi-exec", kw.port);
      assert.deepEqual(res.json, [{ result: "OK" }, { result: "lv" }]);
      assert.match(await stored("sess:lease"), /^kw1\./);
    } finally {
      await kw.stop();
    }
  });

  test("metrics count, and no key material in logs or check output", async () => {
    assert.ok((await metric("keyward_encryption_encrypted_total")) > 30);
    assert.ok((await metric("keyward_encryption_decrypted_total")) > 30);
    assert.ok((await metric("keyward_encryption_failures_total")) >= 6);
    const kw = stack.keyward;
    for (const s of Object.values(secrets)) {
      assert.ok(!kw.stdout.includes(s) && !kw.stderr.includes(s), "a value key reached the logs");
      assert.ok(!kw.stdout.includes(Buffer.from(s, "base64").toString("hex")), "hex key in logs");
    }
    for (const v of ["secret-one", "ann-secret", "written-with-v1"]) {
      assert.ok(!kw.stdout.includes(v) && !kw.stderr.includes(v), `a value reached the logs: ${v}`);
    }
    const check = spawnSync(process.env.KEYWARD_BIN, ["check", "--config", kw.cfgPath], {
      encoding: "utf8", cwd: stack.dir,
      env: { ...process.env, KW_E2E_UPSTREAM_URL: "redis://127.0.0.1:1", KW_E2E_UPSTREAM_TOKEN: "x", KW_E2E_ADMIN_TOKEN: "x" },
    });
    for (const s of Object.values(secrets)) assert.ok(!(check.stdout + check.stderr).includes(s));
  });

  test("keyward encryption new-key, and config errors name the place, never the secret", () => {
    const r = spawnSync(process.env.KEYWARD_BIN, ["encryption", "new-key"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const key = r.stdout.trim();
    assert.match(key, /^[A-Za-z0-9+/]{43}=$/);
    assert.equal(Buffer.from(key, "base64").length, 32);
    const r2 = spawnSync(process.env.KEYWARD_BIN, ["encryption", "new-key"], { encoding: "utf8" });
    assert.notEqual(r2.stdout.trim(), key);
    const bad = crypto.randomBytes(31).toString("base64");
    const badFile = path.join(keyDir, "short.key");
    fs.writeFileSync(badFile, bad);
    const cfg = { ...stack.keyward.config, encryption: { keys: [{ id: "v1", secret_file: badFile }], patterns: ["sess:*"] } };
    const cfgPath = path.join(keyDir, "bad.yaml");
    fs.writeFileSync(cfgPath, toYaml(cfg));
    const c = spawnSync(process.env.KEYWARD_BIN, ["check", "--config", cfgPath], {
      encoding: "utf8", env: { ...process.env, KW_E2E_UPSTREAM_URL: "redis://127.0.0.1:1", KW_E2E_UPSTREAM_TOKEN: "x", KW_E2E_ADMIN_TOKEN: "x" },
    });
    assert.notEqual(c.status, 0);
    const out = c.stdout + c.stderr;
    assert.match(out, /bad\.yaml:\d+:\d+: .*encryption\.keys\[0\]\.secret.*32 bytes/);
    assert.ok(!out.includes(bad) && !out.includes(bad.slice(0, 20)), "the secret was printed");
  });
});
