// keyward in REST mode (upstream.url https://...) against a recording HTTPS upstream: asserts the
// exact requests keyward sends (token swap, headers passed through and dropped, body bytes, the
// pipeline with denied slots spliced back) and the documented status for every upstream fault,
// with keyward staying up and serving again once the upstream is healthy.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { assert } from "./counted_assert.mjs";
import { baseConfig, certs, freePort, newApiKey, sha256hex, spawnKeyward } from "./harness.mjs";
import { rawExchange, rawRequest, request } from "./http.mjs";
import { makeUpstreamCerts, resultOf, startRestUpstream } from "./rest_upstream.mjs";

const UP_TOKEN = "upstash_" + crypto.randomBytes(24).toString("base64url");
const COOKIE = "session=" + crypto.randomBytes(12).toString("hex");
const TIMEOUT_MS = 1000;
const MAX_REPLY = 4 * 1024 * 1024;  // upstream.max_reply_bytes here

let dir;
let up;
let kw;
const keys = {};

const CLIENTS = {
  admin: { commands: ["+@all"], keys: ["*"], channels: ["*"], scripts: ["*"] },
  reader: { commands: ["+@read"], keys: ["app:*"] },
  scanner: { commands: ["+scan", "+get"], keys: ["tenant1:*"] },
  chat: { commands: ["+subscribe", "+psubscribe", "+publish"], channels: ["chat:*"] },
  // One billed command a day: a request refused before it is sent must not spend it.
  once: { commands: ["+set"], keys: ["app:*"], limits: { per_day: 1 } },
  // Two a day: the upstream's own 429 and 413 (nothing ran) must not spend them.
  twice: { commands: ["+incr"], keys: ["app:*"], limits: { per_day: 2 } },
};

before(async () => {
  const c = certs();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kw-rest-"));
  const upCerts = makeUpstreamCerts(path.dirname(c.ca), path.join(dir, "upstream-certs"));
  up = await startRestUpstream({ certs: upCerts });
  const clients = Object.entries(CLIENTS).map(([name, rules]) => {
    keys[name] = newApiKey();
    return { name, api_keys: [`sha256:${sha256hex(keys[name])}`], ...rules };
  });
  const cfg = baseConfig({
    certs: c, clients, adminPort: await freePort(),
    listen: { allow_query_token: true },
    upstream: { ca_file: c.ca, timeout: `${TIMEOUT_MS}ms`, connections: 2, max_reply_bytes: MAX_REPLY },
  });
  kw = await spawnKeyward(dir, cfg, {
    KW_E2E_UPSTREAM_URL: up.url,
    KW_E2E_UPSTREAM_TOKEN: UP_TOKEN,
    KW_E2E_ADMIN_TOKEN: crypto.randomBytes(16).toString("hex"),
  });
});

after(async () => {
  await kw?.stop();
  await up?.close();
  // keyward's own output never carries a secret (README, Operating it).
  for (const secret of kw ? [UP_TOKEN, ...Object.values(keys), COOKIE] : []) {
    assert.ok(!kw.stdout.includes(secret) && !kw.stderr.includes(secret), "a secret reached keyward's logs");
  }
  if (!process.env.KW_E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  if (up.certName !== "good") up.useCert("good");
  up.reset();
});

const post = (body, { key = keys.admin, path: p = "/", headers = {} } = {}) =>
  request(kw.port, { method: "POST", path: p, body, key, headers });

// The commands an upstream request asks for, whatever shape keyward chose: JSON array body on
// POST / (one command), /pipeline and /multi-exec (array of commands), or path style.
function commandsOf(rec) {
  const p = rec.path.split("?")[0];
  if (p === "/pipeline" || p === "/multi-exec") return JSON.parse(rec.body.toString("utf8"));
  if (p === "/") return [JSON.parse(rec.body.toString("utf8"))];
  const parts = p.split("/").filter(Boolean).map(decodeURIComponent);
  if (rec.body.length) parts.push(rec.body.toString("utf8"));
  return [parts];
}

// Header names keyward may send upstream; everything else a client sent must be dropped.
const ALLOWED_UP_HEADERS = new Set(["host", "authorization", "content-type", "content-length", "connection",
                                    "accept", "user-agent", "upstash-encoding", "upstash-response-format",
                                    "upstash-sync-token"]);

// Checks one recorded upstream request for the token swap and for leaked client credentials.
function assertClean(rec, clientSecrets) {
  const auth = rec.rawHeaders.filter(([n]) => n.toLowerCase() === "authorization");
  assert.equal(auth.length, 1, "exactly one Authorization header upstream");
  assert.equal(auth[0][1], `Bearer ${UP_TOKEN}`, "Authorization is not keyward's upstream token");
  for (const [name] of rec.rawHeaders) {
    const n = name.toLowerCase();
    assert.ok(ALLOWED_UP_HEADERS.has(n) || n.startsWith("upstash-telemetry-"), `header ${name} forwarded upstream`);
  }
  assert.ok(!/[?&]_token=/.test(rec.path), `_token forwarded in ${rec.path}`);
  const everything = rec.path + "\n" + rec.rawHeaders.flat().join("\n") + "\n" + rec.body.toString("latin1");
  for (const s of clientSecrets) assert.ok(!everything.includes(s), "a client credential reached the upstream");
}

function expectError(res, status, prefix) {
  assert.equal(res.status, status, `status ${res.status} body ${res.text.slice(0, 300)}`);
  assert.ok(res.json && typeof res.json.error === "string", `error body not JSON: ${res.text.slice(0, 300)}`);
  assert.ok(res.json.error.startsWith(prefix), `error ${JSON.stringify(res.json.error)} lacks ${prefix}`);
  for (const s of [UP_TOKEN, ...Object.values(keys)]) assert.ok(!res.text.includes(s), "secret in error body");
}

describe("request shape", () => {
  test("single command: token swap, body, pass-through headers; sync tokens kept per client", async () => {
    up.syncToken = "up-sync-7";
    const body = '["SET","app:k","v a l"]';
    const res = await post(body, { headers: {
      cookie: COOKIE, "x-forwarded-for": "10.1.1.1", "x-custom": "1", "proxy-authorization": `Basic ${keys.admin}`,
      "Upstash-Encoding": "base64", "Upstash-Telemetry-Sdk": "@upstash/redis@v1.39.0",
      "Upstash-Telemetry-Runtime": "node@v20", "Upstash-Telemetry-Platform": "unknown",
      "upstash-sync-token": "client-sync-3" } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { result: resultOf(["SET", "app:k", "v a l"]) });
    // The client gets keyward's own token (the response time); the upstream's stays in keyward.
    assert.match(res.headers["upstash-sync-token"], /^[0-9]+$/, "not keyward's token");
    assert.equal(up.requests.length, 1);
    const rec = up.requests[0];
    assertClean(rec, [keys.admin, COOKIE]);
    assert.equal(rec.method, "POST");
    assert.deepEqual(commandsOf(rec), [["SET", "app:k", "v a l"]]);
    assert.equal(rec.headers["upstash-encoding"], "base64");
    assert.equal(rec.headers["upstash-telemetry-sdk"], "@upstash/redis@v1.39.0");
    assert.equal(rec.headers["upstash-telemetry-runtime"], "node@v20");
    assert.equal(rec.headers["upstash-telemetry-platform"], "unknown");
    // The client's value is never relayed (it is not an upstream token); nothing was kept yet.
    assert.equal(rec.headers["upstash-sync-token"], undefined, "client's sync token relayed");
    assert.equal(rec.headers.cookie, undefined);
    assert.equal(rec.headers.host, `127.0.0.1:${up.port}`, "Host is not the upstream URL's authority");
  });

  test("sync tokens: the newest upstream token of this client goes up, none reaches a client", async () => {
    const token = (res) => {
      assert.equal(res.status, 200, res.text);
      const t = res.headers["upstash-sync-token"];
      assert.match(t, /^[0-9]+$/, `client token ${t} is not keyward's own`);
      return BigInt(t);
    };
    const sentUp = () => up.requests.at(-1).headers["upstash-sync-token"];
    up.syncToken = "up-sync-20";
    let t = token(await post(["SET", "app:s", "1"], { headers: { "upstash-sync-token": "" } }));
    up.syncToken = "up-sync-21";
    const t2 = token(await post(["GET", "app:s"], { headers: { "upstash-sync-token": String(t) } }));
    assert.equal(sentUp(), "up-sync-20", "the client's newest upstream token was not sent");
    assert.ok(t2 > t, "the client's token did not move on");
    // Whatever the client sends (a stale or made-up value), its own newest upstream token goes up.
    token(await post(["GET", "app:s"], { headers: { "upstash-sync-token": "forged-up-sync-1" } }));
    assert.equal(sentUp(), "up-sync-21");
    // No token sent: none forwarded (read-your-writes off, as the SDK's readYourWrites:false).
    token(await post(["GET", "app:s"]));
    assert.equal(sentUp(), undefined, "a token forwarded for a client that sent none");
    // A reply without a token, an oversized one and one with a space keep the last good one.
    for (const bad of [null, "x".repeat(257), "up sync"]) {
      up.syncToken = bad;
      token(await post(["GET", "app:s"], { headers: { "upstash-sync-token": "1" } }));
      assert.equal(sentUp(), "up-sync-21", `kept token lost after ${String(bad).slice(0, 10)}`);
    }
    // Another client has tokens of its own: admin's upstream token is never sent for it.
    up.syncToken = null;
    const r = token(await post(["GET", "app:s"], { key: keys.reader, headers: { "upstash-sync-token": "" } }));
    assert.equal(sentUp(), undefined, "another client's upstream token sent for reader");
    assert.ok(r > t2, "reader's token is not the response time");
    // Upstream errors and answers keyward makes itself carry the token too (both modes alike).
    const denied = await post(["SET", "app:s", "1"], { key: keys.reader });
    assert.equal(denied.status, 403);
    assert.match(denied.headers["upstash-sync-token"], /^[0-9]+$/);
  });

  test("headers the client did not send are not invented", async () => {
    const res = await post(["GET", "app:k"]);
    assert.equal(res.status, 200, res.text);
    const rec = up.requests[0];
    assertClean(rec, [keys.admin]);
    for (const h of ["upstash-encoding", "upstash-response-format", "upstash-telemetry-sdk"]) {
      assert.equal(rec.headers[h], undefined, `${h} invented`);
    }
    assert.deepEqual(commandsOf(rec), [["GET", "app:k"]]);
  });

  test("Upstash-Encoding / -Response-Format go upstream as keyward read them; one of each header", async () => {
    // A spelling keyward accepts goes up in the one spelling; one it does not act on goes nowhere.
    let res = await post(["GET", "app:k"], { headers: {
      "Upstash-Encoding": "BASE64", "Upstash-Response-Format": "JSON",
      "upstash-sync-token": ["first-sync", "second-sync"],
      "Upstash-Telemetry-Sdk": ["sdk-a", "sdk-b"] } });
    assert.equal(res.status, 200, res.text);
    let rec = up.requests[0];
    assert.equal(rec.headers["upstash-encoding"], "base64");
    assert.equal(rec.headers["upstash-response-format"], undefined, "json is the default: not sent");
    // Neither client value goes up: a sync token upstream is only ever the upstream's own.
    assert.ok(rec.rawHeaders.filter(([n]) => n.toLowerCase() === "upstash-sync-token").length <= 1);
    assert.ok(!["first-sync", "second-sync"].includes(rec.headers["upstash-sync-token"]), "client token relayed");
    assert.equal(rec.headers["upstash-telemetry-sdk"], "sdk-a");
    up.requests.length = 0;
    res = await post(["GET", "app:k"], { headers: { "Upstash-Encoding": "gzip" } });
    assert.equal(res.status, 200, res.text);
    rec = up.requests[0];
    assert.equal(rec.headers["upstash-encoding"], undefined, "an encoding keyward does not apply was forwarded");
  });

  test("Upstash-Response-Format passes through, with the upstream's body unchanged", async () => {
    const octet = { "content-type": "application/octet-stream" };
    up.reply(() => ({ status: 200, body: Buffer.from("$2\r\nhi\r\n"), headers: octet }));
    const res = await post(["GET", "app:k"], { headers: { "Upstash-Response-Format": "resp2" } });
    assert.equal(res.status, 200, res.text);
    assert.equal(up.requests[0].headers["upstash-response-format"], "resp2");
    assert.equal(res.headers["content-type"], "application/octet-stream");
    assert.equal(res.text, "$2\r\nhi\r\n");
    // Attack round 18: a JSON 200 to a resp2 request went out as it was (a resp2 client then
    // reads a body that is not RESP): 502. A refusal is JSON in either format.
    up.reply(() => ({ status: 200, json: { result: "hello" } }));
    expectError(await post(["GET", "app:k"], { headers: { "Upstash-Response-Format": "resp2" } }),
                502, "ERR upstream protocol: outcome unknown");
    up.reply(() => ({ status: 400, json: { error: "ERR wrong number of arguments" } }));
    const refused = await post(["GET", "app:k"], { headers: { "Upstash-Response-Format": "resp2" } });
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.json.error, "ERR wrong number of arguments");
    up.reply(null);
  });

  test("?_token= authenticates at keyward and is not forwarded", async () => {
    const res = await request(kw.port, { method: "POST", path: `/?_token=${keys.admin}`, body: ["GET", "app:q"] });
    assert.equal(res.status, 200, res.text);
    assertClean(up.requests[0], [keys.admin]);
    assert.deepEqual(commandsOf(up.requests[0]), [["GET", "app:q"]]);
  });

  // Attack round 15b: with both, the query token was silently ignored for the header's.
  test("an Authorization header and ?_token= together: 400, nothing sent", async () => {
    for (const path of [`/?_token=${keys.reader}`, `/get/app:q?_token=${keys.reader}`]) {
      const res = await request(kw.port, { method: "POST", path, key: keys.admin,
                                           body: path === "/" || path.startsWith("/?") ? ["GET", "app:q"] : undefined });
      expectError(res, 400, "ERR two credentials");
    }
    assert.equal(up.requests.length, 0);
  });

  test("path style with raw body and query argument reaches the upstream as the same command", async () => {
    const res = await request(kw.port, { method: "POST", path: "/set/app:p?EX=100", body: "raw value", key: keys.admin });
    assert.equal(res.status, 200, res.text);
    assertClean(up.requests[0], [keys.admin]);
    const [cmd] = commandsOf(up.requests[0]);
    assert.equal(String(cmd[0]).toLowerCase(), "set");
    assert.deepEqual(cmd.slice(1).map(String), ["app:p", "raw value", "EX", "100"]);
  });

  test("a raw body that JSON escaping would grow past twice max_body_bytes is 413, nothing sent", async () => {
    // Each 0x01 byte becomes \u0001 (six bytes): 4 MiB would be 24 MiB of JSON, over 2 x 10 MiB.
    const big = await request(kw.port, { method: "POST", path: "/set/app:raw",
                                         body: Buffer.alloc(4 << 20, 1), key: keys.admin });
    assert.equal(big.status, 413, big.text);
    assert.match(big.json.error, /too large once encoded as JSON/);
    assert.equal(up.requests.length, 0);
    const fits = await request(kw.port, { method: "POST", path: "/set/app:raw",
                                          body: Buffer.alloc(16 << 10, 1), key: keys.admin });
    assert.equal(fits.status, 200, fits.text);
    assert.equal(up.requests.length, 1);
    assert.equal(commandsOf(up.requests[0])[0][2].length, 16 << 10);
  });

  test("a request the upstream cannot carry is refused before it is charged", async () => {
    for (let i = 0; i < 3; i++) {  // with per_day 1, a charge would make the second a 429
      const big = await request(kw.port, { method: "POST", path: "/set/app:once",
                                           body: Buffer.alloc(4 << 20, 1), key: keys.once });
      assert.equal(big.status, 413, big.text);
    }
    assert.equal(up.requests.length, 0);
    const ok = await post(["SET", "app:once", "1"], { key: keys.once });
    assert.equal(ok.status, 200, ok.text);
    const spent = await post(["SET", "app:once", "2"], { key: keys.once });
    assert.equal(spent.status, 429, spent.text);  // the one billed command was this day's
    assert.equal(up.requests.length, 1);
  });

  test("binary-safe body bytes: UTF-8 and escapes arrive as the same strings", async () => {
    const value = "ünïcødé \" \\ \n \u0001 😀";
    const res = await post(["SET", "app:u", value]);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(commandsOf(up.requests[0]), [["SET", "app:u", value]]);
    assert.deepEqual(res.json, { result: resultOf(["SET", "app:u", value]) });
  });

  test("a pipeline of allowed commands goes up whole, replies in order", async () => {
    const cmds = [["SET", "app:a", "1"], ["GET", "app:a"], ["INCR", "app:n"]];
    const res = await post(cmds, { path: "/pipeline" });
    assert.equal(res.status, 200, res.text);
    assert.equal(up.requests.length, 1);
    const rec = up.requests[0];
    assertClean(rec, [keys.admin]);
    assert.equal(rec.path, "/pipeline");
    assert.deepEqual(commandsOf(rec), cmds);
    assert.deepEqual(res.json, cmds.map((c) => ({ result: resultOf(c) })));
  });

  test("pipeline with denied commands: only the allowed go up, NOPERM spliced at their slots", async () => {
    const cmds = [["GET", "app:1"], ["SET", "app:2", "x"], ["MGET", "app:3", "app:4"], ["GET", "other:5"],
                  ["STRLEN", "app:6"], ["FLUSHALL"]];
    const res = await post(cmds, { key: keys.reader, path: "/pipeline" });
    assert.equal(res.status, 200, res.text);
    assert.equal(up.requests.length, 1);
    const rec = up.requests[0];
    assertClean(rec, [keys.reader]);
    assert.equal(rec.path, "/pipeline");
    const allowed = [cmds[0], cmds[2], cmds[4]];
    assert.deepEqual(commandsOf(rec), allowed, "upstream got a denied command or lost an allowed one");
    assert.equal(res.json.length, cmds.length);
    for (const i of [0, 2, 4]) assert.deepEqual(res.json[i], { result: resultOf(cmds[i]) }, `slot ${i}`);
    for (const i of [1, 3, 5]) {
      assert.deepEqual(Object.keys(res.json[i]), ["error"], `slot ${i}`);
      assert.match(res.json[i].error, /^NOPERM/, `slot ${i}`);
    }
  });

  test("pipeline with upstream error slots: the upstream's errors stay at their positions", async () => {
    up.reply((rec) => ({ status: 200, json: commandsOf(rec).map((c, i) => (i === 1 ? { error: "WRONGTYPE x" } : { result: resultOf(c) })) }));
    const cmds = [["GET", "app:1"], ["SET", "x:2", "x"], ["GET", "app:3"], ["GET", "app:4"]];
    const res = await post(cmds, { key: keys.reader, path: "/pipeline" });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(commandsOf(up.requests[0]), [cmds[0], cmds[2], cmds[3]]);
    assert.deepEqual(res.json[0], { result: resultOf(cmds[0]) });
    assert.match(res.json[1].error, /^NOPERM/);
    assert.deepEqual(res.json[2], { error: "WRONGTYPE x" });
    assert.deepEqual(res.json[3], { result: resultOf(cmds[3]) });
  });

  test("a pipeline whose every command is denied sends nothing upstream", async () => {
    const res = await post([["SET", "app:1", "x"], ["FLUSHALL"]], { key: keys.reader, path: "/pipeline" });
    assert.equal(up.requests.length, 0, "a fully denied pipeline reached the upstream");
    if (res.status === 200) {
      assert.equal(res.json.length, 2);
      for (const slot of res.json) assert.match(slot.error, /^NOPERM/);
    } else {
      expectError(res, 403, "NOPERM");
    }
  });

  test("denied single command and denied transaction send nothing upstream", async () => {
    expectError(await post(["SET", "app:1", "x"], { key: keys.reader }), 403, "NOPERM");
    expectError(await post([["GET", "app:1"], ["SET", "app:1", "x"]], { key: keys.reader, path: "/multi-exec" }),
                403, "NOPERM");
    expectError(await post(["GET", "app:1"], { key: "kw_" + "A".repeat(43) }), 401, "WRONGPASS");
    assert.equal(up.requests.length, 0);
  });

  test("multi-exec goes up as a transaction", async () => {
    const cmds = [["INCR", "app:t"], ["GET", "app:t"]];
    const res = await post(cmds, { path: "/multi-exec" });
    assert.equal(res.status, 200, res.text);
    assert.equal(up.requests[0].path, "/multi-exec");
    assert.deepEqual(commandsOf(up.requests[0]), cmds);
    assertClean(up.requests[0], [keys.admin]);
    assert.deepEqual(res.json, cmds.map((c) => ({ result: resultOf(c) })));
  });

  test("an upstream Redis error (400 JSON) reaches the client unchanged", async () => {
    up.reply(() => ({ status: 400, json: { error: "ERR wrong number of arguments for 'get' command" } }));
    const res = await post(["GET"]);
    expectError(res, 400, "ERR wrong number of arguments");
  });

  test("SCAN of a key-restricted client goes up with its MATCH added; outside patterns nothing goes up", async () => {
    const res = await post(["SCAN", "0", "COUNT", "10"], { key: keys.scanner });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(commandsOf(up.requests[0]), [["SCAN", "0", "COUNT", "10", "MATCH", "tenant1:*"]]);
    const p = await post([["SCAN", "0", "MATCH", "tenant1:a*"], ["GET", "tenant1:a"]], { key: keys.scanner, path: "/pipeline" });
    assert.equal(p.status, 200, p.text);
    assert.deepEqual(commandsOf(up.requests[1]), [["SCAN", "0", "MATCH", "tenant1:a*"], ["GET", "tenant1:a"]]);
    expectError(await post(["SCAN", "0", "MATCH", "tenant2:*"], { key: keys.scanner }), 403, "NOPERM");
    assert.equal(up.requests.length, 2);
    // COUNT is lowered to 1000 (Redis walks that many buckets, other tenants' keys included).
    const big = await post(["SCAN", "0", "COUNT", "1000000000"], { key: keys.scanner });
    assert.equal(big.status, 200, big.text);
    assert.deepEqual(commandsOf(up.requests[2]), [["SCAN", "0", "COUNT", "1000", "MATCH", "tenant1:*"]]);
  });

  test("SSE subscribe streams the upstream's events and closes the upstream stream with the client", async () => {
    up.reply(() => ({ sse: ["subscribe,chat:1,1", "message,chat:1,hello, there"] }));
    const start = rawRequest("POST", "/subscribe/chat:1", {
      key: keys.chat, headers: ["accept: text/event-stream", `cookie: ${COOKIE}`], body: "[]",
      close: false });
    const pending = rawExchange(kw.port, [start], { timeoutMs: 1500 });
    await up.waitRequests(1);
    const rec = up.requests[0];
    assertClean(rec, [keys.chat, COOKIE]);
    assert.equal(rec.method, "POST");
    assert.equal(rec.path, "/subscribe/chat:1");
    for (const s of up.streams) s.write("data: message,chat:1,second\n\n");
    const ex = await pending;
    const text = ex.data.toString("utf8");
    assert.match(text, /^HTTP\/1\.1 200/);
    assert.match(text, /text\/event-stream/i);
    for (const ev of ["subscribe,chat:1,1", "message,chat:1,hello, there", "message,chat:1,second"]) {
      assert.ok(text.includes(`data: ${ev}\n\n`), `event ${ev} missing from ${JSON.stringify(text.slice(-300))}`);
    }
    // The client went away: keyward must close its upstream stream (no leaked subscriptions).
    const end = Date.now() + 5000;
    while (up.streams.size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.equal(up.streams.size, 0, "the upstream event stream outlived the client");
    expectError(await post([], { key: keys.chat, path: "/subscribe/secret" }), 403, "NOPERM");
    assert.equal(up.requests.length, 1);
  });

  // Opens POST `path` (a subscription of client chat) through keyward and waits until the
  // upstream holds its stream: {pending: the raw exchange, streams: the upstream's new ones}.
  async function openSubscription(path, timeoutMs = 3000) {
    const earlier = new Set(up.streams);  // an ended stream stays listed until its socket closes
    const start = rawRequest("POST", path, {
      key: keys.chat, headers: ["accept: text/event-stream"], body: "[]", close: false });
    const pending = rawExchange(kw.port, [start], { timeoutMs });
    const fresh = () => [...up.streams].filter((st) => !earlier.has(st));
    const end = Date.now() + 5000;
    while (fresh().length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return { pending, streams: fresh() };
  }

  // Attack round 15b: an upstream that dropped the stream looked like its normal end.
  test("an upstream that drops or ends a subscription stream: the client gets event: error", async () => {
    for (const how of ["destroy", "end"]) {
      up.reply(() => ({ sse: ["subscribe,chat:1,1"] }));
      const { pending, streams } = await openSubscription("/subscribe/chat:1");
      for (const st of streams) {
        if (how === "destroy") st.destroy();
        else st.end();
      }
      const text = (await pending).data.toString("utf8");
      assert.match(text, /data: subscribe,chat:1,1\n\n/);
      assert.match(text, /event: error\ndata: \{"error":"ERR upstream [^"]*"\}\n\n/, `${how}: ${JSON.stringify(text.slice(-200))}`);
      up.reset();
    }
  });

  // An upstream stream for chat:1 that carries another channel's message (or anything that is not
  // an event of this subscription): the SDK routes each data line by the channel it names, so it
  // would reach the client outside its grants. The stream ends with event: error before it.
  test("an upstream subscription stream with an event outside the subscription ends there", async () => {
    const channel = { path: "/subscribe/chat:1", first: ["subscribe,chat:1,1", "message,chat:1,before"],
                      before: "message,chat:1,before", after: "data: message,chat:1,after\n\n" };
    const pattern = { path: "/psubscribe/chat:*", first: ["psubscribe,chat:*,1", "pmessage,chat:*,chat:1,before"],
                      before: "pmessage,chat:*,chat:1,before", after: "data: pmessage,chat:*,chat:1,after\n\n" };
    const cases = [
      [channel, "data: message,secret,the payroll\n\n", "secret"],
      [channel, "data: subscribe,chat:2,1\n\n", "chat:2"],
      // The SDK ignores an event: line, but the data line after it would follow unchecked.
      [channel, "event: x\ndata: message,other,y\n\n", "other"],
      // Attack round 17: a pmessage of a channel the pattern does not match.
      [pattern, "data: pmessage,chat:*,vic:secret,LEAK\n\n", "vic:secret"],
      // keyward's own upstream token, echoed into an event: as it is, JSON-escaped, one byte short.
      [channel, `data: message,chat:1,${UP_TOKEN}\n\n`, UP_TOKEN],
      [channel, `data: message,chat:1,"${[...UP_TOKEN].map((ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`).join("")}"\n\n`, "\\u"],
      [channel, `data: message,chat:1,${UP_TOKEN.slice(0, -1)}\n\n`, UP_TOKEN.slice(0, 20)],
      // A line past 1 MiB (what the SDK buffers of one) is never held whole.
      [channel, `data: message,chat:1,${"x".repeat(1100 * 1024)}`, "xxxxxxxxxx"],
    ];
    for (const [sub, injected, leaked] of cases) {
      up.reply(() => ({ sse: sub.first }));
      const { pending, streams } = await openSubscription(sub.path);
      assert.equal(streams.length, 1);
      streams[0].write(`${injected}${sub.after}`);
      const text = (await pending).data.toString("utf8");
      assert.ok(text.includes(`data: ${sub.before}\n\n`), JSON.stringify(text.slice(0, 300)));
      assert.ok(!text.includes(leaked), `${injected.slice(0, 60)} reached the client: ${JSON.stringify(text.slice(-300))}`);
      assert.ok(!text.includes("after"), "the stream went on after the bad event");
      assert.match(text, /event: error\ndata: \{"error":"ERR upstream protocol"\}\n\n/, JSON.stringify(text.slice(-200)));
      up.reset();
    }
  });

  // Attack round 17: one client's slow requests held every pooled connection, and another
  // client's requests waited for them (up to the timeout, a 504). A client's requests go on at
  // most half of a worker's pooled connections, so the other client always finds one.
  test("one client's slow requests never hold the whole upstream pool", async () => {
    up.reply((rec) => (rec.body.includes("app:slow") ? { status: 200, json: { result: "slow" }, delayMs: 1500 }
                                                     : { status: 200, json: { result: "fast" } }));
    const slow = Array.from({ length: 24 }, () => post(["GET", "app:slow"]));
    await up.waitRequests(2);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    const fast = await post(["GET", "tenant1:v"], { key: keys.scanner });
    const took = Date.now() - t0;
    assert.equal(fast.status, 200, fast.text);
    assert.equal(fast.json.result, "fast");
    assert.ok(took < 500, `the other client waited ${took} ms behind the slow requests`);
    for (const res of await Promise.all(slow)) assert.ok([200, 504].includes(res.status), res.text);
    up.reply(null);
  });

  test("a large reply arrives whole", async () => {
    const big = "v".repeat(3 * 1024 * 1024);
    for (const chunked of [false, true]) {
      up.reply(() => ({ status: 200, json: { result: big }, chunked }));
      const res = await post(["GET", "app:big"]);
      assert.equal(res.status, 200);
      assert.equal(res.json.result.length, big.length);
    }
  });

  // Attack round 17 (F6): a REST reply was bounded at a fixed 512 MiB. Now by twice
  // upstream.max_reply_bytes (its JSON, base64 or escaped, is larger than the RESP a Redis
  // upstream bounds). Over it: 502 with the Redis upstream's words when nothing went out yet (a
  // Content-Length says so at once), else the relay is cut before its end.
  test("a reply over twice upstream.max_reply_bytes: 502, or cut before its end when streaming", async () => {
    const over = "o".repeat(2 * MAX_REPLY + 65536 + 1024);
    up.reply(() => ({ status: 200, json: { result: over } }));
    expectError(await post(["GET", "app:big"]), 502, "ERR reply exceeds upstream.max_reply_bytes");
    up.reply(() => ({ status: 200, json: { result: over }, chunked: true }));
    const cut = await post(["GET", "app:big"]).then((res) => res, (err) => ({ err }));
    let whole = false;
    try { whole = cut.status === 200 && JSON.parse(cut.text).result.length === over.length; } catch { /* cut */ }
    assert.ok(!whole, "a reply over upstream.max_reply_bytes arrived whole");
    up.reply(null);
    const after = await post(["GET", "app:after"]);
    assert.equal(after.status, 200, after.text);
  });

  // Its lines are bounded one by one; a subscription has no total (it lasts while its client
  // listens): more than upstream.max_reply_bytes of messages pass.
  test("a subscription stream carries more than upstream.max_reply_bytes in all", async () => {
    up.reply(() => ({ sse: ["subscribe,chat:1,1"] }));
    const { pending, streams } = await openSubscription("/subscribe/chat:1", 6000);
    assert.equal(streams.length, 1);
    const line = "m".repeat(900 * 1024);
    const [stream] = streams;
    for (let i = 0; i < 12; i++) stream.write(`data: message,chat:1,${i}${line}\n\n`);
    stream.write("data: message,chat:1,last\n\n");
    setTimeout(() => stream.end(), 500);
    const text = (await pending).data.toString("latin1");
    assert.ok(text.length > 2 * MAX_REPLY + 65536, `the stream ended after ${text.length} bytes`);
    assert.ok(text.includes("data: message,chat:1,last\n\n"), JSON.stringify(text.slice(-200)));
  });

  test("an upstream 400 refusing a pipeline whole passes through, even with denied slots", async () => {
    up.reply(() => ({ status: 400, json: { error: "ERR max request size exceeded" } }));
    const res = await post([["GET", "app:a"], ["FLUSHALL"]], { path: "/pipeline" });
    assert.equal(res.status, 400, res.text);
    assert.deepEqual(res.json, { error: "ERR max request size exceeded" });
    assert.deepEqual(commandsOf(up.requests[0]), [["GET", "app:a"]]);
  });

  test("HEAD of a large reply sends the head only, and the kept-alive connection stays in sync", async () => {
    const big = "h".repeat(400 * 1024);
    up.reply((rec) => ({ status: 200, json: { result: rec.body.includes("app:big") ? big : "small" } }));
    const ex = await rawExchange(kw.port, [
      rawRequest("HEAD", "/get/app:big", { key: keys.admin, close: false }),
      rawRequest("GET", "/get/app:small", { key: keys.admin }),
    ]);
    const text = ex.data.toString("latin1");
    assert.equal(text.match(/HTTP\/1\.1 200/g)?.length, 2, text.slice(0, 400));
    assert.ok(ex.data.length < 64 * 1024, `a HEAD response carried a body (${ex.data.length} bytes)`);
    assert.ok(text.endsWith('{"result":"small"}'), text.slice(-200));
  });

  test("a large pipeline reply with a denied slot streams with the NOPERM spliced in place", async () => {
    const big = "w".repeat(600 * 1024);
    up.reply(() => ({ status: 200, json: [{ result: big }, { result: "b" }] }));
    const res = await post([["GET", "app:big"], ["FLUSHALL"], ["GET", "app:b"]], { path: "/pipeline" });
    assert.equal(res.status, 200, res.text.slice(0, 200));
    assert.equal(res.headers["transfer-encoding"], "chunked", "a reply over 256 KiB is relayed, not held");
    assert.equal(res.json.length, 3);
    assert.equal(res.json[0].result.length, big.length);
    assert.match(res.json[1].error, /^NOPERM /);
    assert.deepEqual(res.json[2], { result: "b" });
    assert.deepEqual(commandsOf(up.requests[0]), [["GET", "app:big"], ["GET", "app:b"]]);
  });
});

describe("upstream faults: documented status, keyward stays up, next request works", () => {
  async function recovers() {
    up.mode = "ok";
    const res = await post(["GET", "app:after"]);
    assert.equal(res.status, 200, `after the fault: ${res.status} ${res.text}`);
    assert.deepEqual(res.json, { result: resultOf(["GET", "app:after"]) });
    assert.equal(kw.exitCode, undefined, "keyward exited");
  }

  test("hang: 504 after upstream.timeout, not retried", async () => {
    up.mode = "hang";
    const t0 = Date.now();
    const res = await post(["INCR", "app:h"]);
    const took = Date.now() - t0;
    expectError(res, 504, "ERR");
    assert.ok(took >= TIMEOUT_MS * 0.8 && took < TIMEOUT_MS * 5, `504 after ${took} ms (timeout ${TIMEOUT_MS})`);
    assert.equal(up.requests.length, 1, "a request that reached the upstream was retried");
    up.dropConnections();
    await recovers();
  });

  test("reset mid-reply: 502, not retried", async () => {
    up.mode = "reset";
    const res = await post(["INCR", "app:r"]);
    expectError(res, 502, "ERR");
    assert.equal(up.requests.length, 1, "a request that reached the upstream was retried");
    await recovers();
  });

  test("reset after a large part was relayed: the client connection is cut, never a complete 200", async () => {
    up.mode = "resetLate";
    const outcome = await post(["GET", "app:late"]).then(
      (res) => ({ res }), (err) => ({ err }));
    if (outcome.res) {
      // Whatever arrived must not pass for the whole reply.
      assert.notEqual(outcome.res.status === 200 && outcome.res.json !== undefined, true,
                      "a truncated upstream reply reached the client as a complete 200");
    } else {
      assert.ok(outcome.err, "the request neither failed nor answered");
    }
    assert.equal(up.requests.length, 1, "a request that reached the upstream was retried");
    await recovers();
  });

  for (const [mode, what] of [["html", "HTML page with 200"], ["500", "500"], ["401", "401 (wrong upstream token)"]]) {
    test(`${what}: 502`, async () => {
      up.mode = mode;
      const res = await post(["GET", "app:f"]);
      expectError(res, 502, "ERR");
      const p = await post([["GET", "app:f"], ["GET", "app:g"]], { path: "/pipeline" });
      expectError(p, 502, "ERR");
      await recovers();
    });
  }

  // Attack round 15: a truncated, padded or miscounted body passed for a complete 200 (a
  // pipeline of 3 got 1 result). A reply relayed as it is must be one whole reply to what was
  // sent; anything else is 502 "outcome unknown" (the commands may have run).
  test("a body that is not one whole reply to what was sent: 502, never passed on", async () => {
    const single = ["GET", "app:s"];
    const three = [["GET", "app:1"], ["GET", "app:2"], ["GET", "app:3"]];
    const cases = [
      [200, '{"result":', single, "/"],
      [200, '"hi"', single, "/"],
      [200, "5", single, "/"],
      [200, '\ufeff{"result":1}', single, "/"],
      [200, '{"result":"x"', single, "/"],
      [200, '{"result":"x"} {"result":"y"}', single, "/"],
      [200, "[1,2,3]", single, "/"],
      [200, '{"foo":1}', single, "/"],
      [200, '{"result":1,"error":"x"}', single, "/"],
      [400, '{"error":"ERR x', single, "/"],
      [400, '{"error":5}', single, "/"],
      [200, '[{"result":"only-one"}]', three, "/pipeline"],
      [200, '{"result":"notarray"}', three, "/pipeline"],
      [200, '[{"result":1},{"result":2},{"result":3},{"result":4}]', three, "/pipeline"],
      [200, '[{"result":"only-one"}]', three, "/multi-exec"],
      [200, '[{"result":1},{"result":2},3]', three, "/multi-exec"],
    ];
    for (const [status, body, cmd, path] of cases) {
      up.reply(() => ({ status, body }));
      const res = await post(cmd, { path });
      expectError(res, 502, "ERR upstream protocol: outcome unknown");
    }
    // An upstream error that echoes keyward's own token is not relayed (expectError checks the
    // body holds no secret).
    up.reply(() => ({ status: 400, json: { error: `ERR bad token Bearer ${UP_TOKEN}` } }));
    expectError(await post(single), 502, "ERR upstream protocol: outcome unknown");
    // Attack round 18: nor in a form the client decodes back to it (JSON escapes, base64 under
    // Upstash-Encoding: base64), nor one byte short (Upstash's endpoint answers a guess).
    const escaped = [...UP_TOKEN].map((ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`).join("");
    for (const [body, headers] of [
      [`{"result":"${escaped}"}`, {}],
      [`{"result":"${Buffer.from(`x${UP_TOKEN}`).toString("base64")}"}`, { "Upstash-Encoding": "base64" }],
      [JSON.stringify({ result: UP_TOKEN.slice(0, -1) }), {}],
      [JSON.stringify({ error: `ERR no ${UP_TOKEN.slice(1)}` }), {}],
    ]) {
      up.reply(() => ({ status: 200, body: Buffer.from(body) }));
      const res = await post(single, { headers });
      expectError(res, 502, "ERR upstream protocol: outcome unknown");
    }
    // Streamed single-command replies (over 256 KiB) are checked as they pass, their last byte
    // kept back (attack round 16: these five went out as complete 200s).
    const big = "a".repeat(300 * 1024);
    for (const body of [`{"result":"${big}"}{"result":1}`, `{"result":"${big}"} garbage`,
                        `{"result":"${big}`, `{"result":"${big}\u00ff"}`.replace("\u00ff", "\xff"),
                        `{"result":"${big}",` + "[".repeat(600) + "]".repeat(600) + "}"]) {
      up.reply(() => ({ status: 200, body: Buffer.from(body, "latin1") }));
      const got = await post(single).then((res) => res, (err) => ({ err }));
      let whole = false;
      try { whole = got.status === 200 && JSON.parse(got.text) !== undefined; } catch { /* cut */ }
      assert.ok(!whole, `a bad streamed reply passed whole: ${body.slice(-40)}`);
    }
    up.reply(() => ({ status: 200, json: { result: big } }));
    const fine = await post(single);
    assert.equal(fine.status, 200);
    assert.equal(fine.json.result.length, big.length, "a good streamed reply arrives whole");
    // Attack round 17: a streamed reply (the client padded its request past 256 KiB, the
    // upstream reflects it) holding keyward's upstream token: the token never goes out.
    for (const body of [JSON.stringify({ result: `${big}Bearer ${UP_TOKEN}` }),
                        JSON.stringify({ result: `${"b".repeat(262143)}${UP_TOKEN}${big}` }),
                        `{"result":"${big}${escaped}"}`,
                        `{"result":"${"c".repeat(262140)}${escaped}${big}"}`]) {
      up.reply(() => ({ status: 200, body: Buffer.from(body) }));
      const raw = await rawExchange(kw.port, [rawRequest("POST", "/", { key: keys.admin, body: JSON.stringify(single) })],
                                    { timeoutMs: 5000 });
      const text = raw.data.toString("latin1");
      assert.match(text, /^HTTP\/1\.1 200/, "the reply did not stream");
      assert.ok(!text.includes(UP_TOKEN) && !text.includes(escaped.slice(0, 96)), "the upstream token reached the client");
      assert.ok(text.length < body.length, "a reply with the token passed whole");
    }
    // Streamed resp2 replies (over 256 KiB) are counted as they pass: one whole reply per
    // command, nothing after, the last byte kept back until the end shows it whole.
    const octet = { "content-type": "application/octet-stream" };
    const asResp2 = { "Upstash-Response-Format": "resp2" };
    const bulk = `$${big.length}\r\n${big}\r\n`;
    for (const [body, cmd, path] of [
      [`${bulk}:1\r\n`, single, "/"],
      [bulk.slice(0, -3), single, "/"],
      [`${bulk}garbage`, single, "/"],
      [`$${big.length + 5}\r\n${big}\r\n`, single, "/"],
      [`${bulk}+OK\r\n`, three, "/pipeline"],
      [`${bulk}+OK\r\n+OK\r\n+OK\r\n`, three, "/pipeline"],
    ]) {
      up.reply(() => ({ status: 200, body: Buffer.from(body, "latin1"), headers: octet }));
      const got = await post(cmd, { path, headers: asResp2 }).then((res) => res, (err) => ({ err }));
      const whole = !got.err && got.status === 200 && got.body.equals(Buffer.from(body, "latin1"));
      assert.ok(!whole, `a bad streamed resp2 reply passed whole: ${JSON.stringify(body.slice(-20))}`);
    }
    for (const [body, cmd, path] of [[bulk, single, "/"], [`${bulk}+OK\r\n:7\r\n`, three, "/pipeline"]]) {
      up.reply(() => ({ status: 200, body: Buffer.from(body, "latin1"), headers: octet }));
      const got = await post(cmd, { path, headers: asResp2 });
      assert.equal(got.status, 200);
      assert.ok(got.body.equals(Buffer.from(body, "latin1")), "a good streamed resp2 reply arrives whole");
    }
    // A streamed reply (over 256 KiB) one element short never gets its closing bracket.
    up.reply(() => ({ status: 200, json: [{ result: "v".repeat(300 * 1024) }, { result: "b" }] }));
    const cut = await post(three, { path: "/pipeline" }).then((res) => res, (err) => ({ err }));
    assert.ok(cut.err || !cut.text.trimEnd().endsWith("]"), "a short streamed reply read as whole");
    // Attack round 23: a streamed array's slots are envelopes as a held one's are. Past 256 KiB
    // only their count was checked, and these reached the client as complete 200s.
    const v = "B".repeat(150 * 1024);  // two of them are past the 256 KiB held whole
    for (const [body, path, status] of [
      [`["${v}","${v}","${v}"]`, "/pipeline", 200],
      [`[{"result":"${v}","x":1},{"result":"${v}"},{"result":"${v}"}]`, "/pipeline", 200],
      [`[{"result":"${v}","error":"E"},{"result":"${v}"},{"result":"${v}"}]`, "/multi-exec", 200],
      [`[{"result":"${v}"},{"result":"${v}"},{"error":["${v}"]}]`, "/pipeline", 200],
      [`[{"result":"${v}"},{"result":"${v}"},{}]`, "/pipeline", 200],
      [`[{"result":"${v}"},{"result":"${v}"},{"res\\u0075lt":1}]`, "/pipeline", 200],
      [`[{"result":"${v}"},{"result":"${v}"},[{"result":1}]]`, "/pipeline", 200],
      [`{"result":"${v}${v}${v}","extra":1}`, "/", 200],
      [`{"error":"${v}${v}${v}","result":1}`, "/pipeline", 400],
    ]) {
      up.reply(() => ({ status, body: Buffer.from(body) }));
      const got = await post(path === "/" ? single : three, { path }).then((res) => res, (err) => ({ err }));
      let whole = false;
      try { whole = !got.err && got.status === status && JSON.parse(got.text) !== undefined; } catch { /* cut */ }
      assert.ok(!whole, `a streamed reply of the wrong shape passed whole: ${body.slice(-40)}`);
    }
    // Attack round 25: separators inside a value (a held reply with them is refused). Not JSON,
    // so "passed whole" is every byte delivered with a clean end.
    for (const [body, path] of [
      [`{"result":["${v}","${v}",]}`, "/"],
      [`{"result":{"a" "${v}${v}"}}`, "/"],
      [`[{"result":["${v}" 1]},{"result":"${v}"},{"result":1}]`, "/pipeline"],
    ]) {
      up.reply(() => ({ status: 200, body: Buffer.from(body) }));
      const got = await post(path === "/" ? single : three, { path }).then((res) => res, (err) => ({ err }));
      assert.ok(got.err || got.status !== 200 || got.text !== body,
                `a streamed reply with a bad separator passed whole: ${body.slice(-30)}`);
    }
    // ... and the right shape streams whole: nested values, an error slot, whitespace.
    const good = `[ {"result":"${v}"} , {"error":"ERR x"},\n{"result":[1,{"a":"${v}"},null]} ]`;
    up.reply(() => ({ status: 200, body: Buffer.from(good) }));
    const whole = await post(three, { path: "/pipeline" });
    assert.equal(whole.status, 200);
    assert.deepEqual(whole.json, JSON.parse(good));
    up.reply(null);
    await recovers();
  });

  test("413 from the upstream (a body over its size limit): 413 for the client, nothing ran", async () => {
    up.mode = "413";
    const res = await post(["SET", "app:big", "x".repeat(1000)]);
    expectError(res, 413, "ERR request too large for the upstream");
    const p = await post([["GET", "app:f"], ["GET", "app:g"]], { path: "/pipeline" });
    expectError(p, 413, "ERR request too large");
    await recovers();
  });

  test("429 from the upstream (its rate or plan limit): 429 for the client, nothing ran", async () => {
    up.mode = "429";
    const res = await post(["INCR", "app:n"]);
    expectError(res, 429, "ERR the upstream refused the request: its rate or plan limit");
    // Every 429 says when to come back: the upstream's own Retry-After (attack round 15b).
    assert.equal(res.headers["retry-after"], "7");
    assert.equal(res.headers["ratelimit-policy"], '"upstream";q=0;w=7');
    assert.equal(res.headers["ratelimit"], '"upstream";r=0;t=7');
    // Nothing ran, so nothing is charged (attack round 27: each 429 spent one of the client's
    // day): five 429s and two 413s later, its two commands a day are all there.
    for (let i = 0; i < 5; i++) {
      assert.equal((await post(["INCR", "app:twice"], { key: keys.twice })).status, 429);
    }
    up.mode = "413";
    for (let i = 0; i < 2; i++) {
      assert.equal((await post(["INCR", "app:twice"], { key: keys.twice })).status, 413);
    }
    up.mode = "ok";
    for (let i = 0; i < 2; i++) {
      const ok = await post(["INCR", "app:twice"], { key: keys.twice });
      assert.equal(ok.status, 200, ok.text);
    }
    const spent = await post(["INCR", "app:twice"], { key: keys.twice });
    assert.equal(spent.status, 429, spent.text);
    assert.match(spent.json.error, /per_day/);
    await recovers();
  });

  for (const [cert, what] of [["expired", "expired certificate"], ["otherHost", "certificate for another host"]]) {
    test(`${what}: 502, nothing sent`, async () => {
      up.useCert(cert);
      const res = await post(["SET", "app:c", "secret-value"]);
      expectError(res, 502, "ERR");
      assert.equal(up.requests.length, 0, "a request went over an unverified connection");
      up.useCert("good");
      await recovers();
    });
  }

  test("https://localhost:<port>: SNI and Host name the host, its certificate name is checked", async () => {
    const c = certs();
    const cfg = baseConfig({
      certs: c, adminPort: await freePort(),
      clients: [{ name: "admin", api_keys: [`sha256:${sha256hex(keys.admin)}`], ...CLIENTS.admin }],
      upstream: { ca_file: c.ca, timeout: `${TIMEOUT_MS}ms`, connections: 1 },
    });
    const byName = await spawnKeyward(dir, cfg, {
      KW_E2E_UPSTREAM_URL: `https://localhost:${up.port}`, KW_E2E_UPSTREAM_TOKEN: UP_TOKEN,
      KW_E2E_ADMIN_TOKEN: crypto.randomBytes(16).toString("hex"),
    });
    try {
      const res = await request(byName.port, { body: ["GET", "app:n"], key: keys.admin });
      assert.equal(res.status, 200, res.text);
      // The SNI of the connection that carried this keyward's request (the suite's other keyward
      // talks to 127.0.0.1, sends no SNI, and may reopen a pooled connection at any moment).
      assert.equal(up.requests[0].servername, "localhost", `SNI ${JSON.stringify(up.sni)}`);
      assert.ok(up.sni.includes("localhost"), `SNI ${JSON.stringify(up.sni)}`);
      assert.equal(up.requests[0].headers.host, `localhost:${up.port}`);
      assertClean(up.requests[0], [keys.admin]);
      up.useCert("otherHost");
      expectError(await request(byName.port, { body: ["GET", "app:n"], key: keys.admin }), 502, "ERR");
      assert.equal(up.requests.length, 1, "a request went over an unverified connection");
      up.useCert("good");
      const again = await request(byName.port, { body: ["GET", "app:n"], key: keys.admin });
      assert.equal(again.status, 200, again.text);
    } finally {
      await byName.stop();
    }
    assert.ok(!byName.stdout.includes(UP_TOKEN) && !byName.stderr.includes(UP_TOKEN));
  });

  test("refused: 502; works again once the upstream listens", async () => {
    await up.close();
    const res = await post(["GET", "app:x"]);
    expectError(res, 502, "ERR");
    await up.restart();
    await recovers();
  });
});
