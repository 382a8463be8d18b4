// HTTP-level suite for the access rows of README, HTTP statuses beyond credentials: source-IP and
// browser-Origin allow-lists (403), CORS preflight, and rate limits (429 with its headers).
import { after, before, describe, test } from "node:test";
import { assert } from "./counted_assert.mjs";
import { measure, startStack } from "./harness.mjs";
import { parseResponse, rawExchange, request } from "./http.mjs";

let stack;
let rt;
let port;

before(async () => {
  stack = await startStack();
  rt = stack.redis;
  port = stack.port;
});
after(async () => {
  await stack?.stop();
});

function expectError(res, status, prefix) {
  assert.equal(res.status, status, `status ${res.status} body ${res.text.slice(0, 300)}`);
  assert.ok(res.json && typeof res.json.error === "string", `error body is not JSON: ${res.text.slice(0, 300)}`);
  assert.ok(res.json.error.startsWith(prefix), `error ${JSON.stringify(res.json.error)} lacks ${prefix}`);
}

async function refused(fn) {
  const [res, delta] = await measure(rt, fn);
  assert.deepEqual(delta, {}, "a refused request executed commands on redis");
  return res;
}

describe("403 source IP and Origin", () => {
  test("client whose allow_ips exclude 127.0.0.1 is refused", async () => {
    await rt.call("SET", "app:ip", "v");
    const res = await refused(() => request(port, { body: ["GET", "app:ip"], key: stack.keys.iplocked }));
    expectError(res, 403, "NOPERM");
    assert.ok(!res.text.includes("\"v\""));
  });

  test("Origin not in allow_origins is refused; allowed Origin works", async () => {
    await rt.call("SET", "app:o", "v");
    let res = await refused(() => request(port, { body: ["GET", "app:o"], key: stack.keys.browser,
                                                  headers: { origin: "https://evil.example" } }));
    expectError(res, 403, "NOPERM");
    assert.equal(res.headers["access-control-allow-origin"], undefined);
    res = await refused(() => request(port, { body: ["GET", "app:o"], key: stack.keys.reader,
                                              headers: { origin: "https://app.example.com" } }));
    expectError(res, 403, "NOPERM");
    res = await request(port, { body: ["GET", "app:o"], key: stack.keys.browser,
                                headers: { origin: "https://app.example.com" } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { result: "v" });
    assert.equal(res.headers["access-control-allow-origin"], "https://app.example.com");
    assert.match(res.headers["access-control-expose-headers"] ?? "", /upstash-sync-token/i);
  });

  test("CORS preflight: allowed Origin gets the allow headers, others get none", async () => {
    const pre = (origin) => request(port, { method: "OPTIONS", path: "/pipeline", headers: {
      origin, "access-control-request-method": "POST",
      "access-control-request-headers": "authorization,content-type,upstash-encoding,upstash-sync-token" } });
    const ok = await pre("https://app.example.com");
    assert.ok(ok.status >= 200 && ok.status < 300, `preflight status ${ok.status}`);
    assert.equal(ok.headers["access-control-allow-origin"], "https://app.example.com");
    const allowed = (ok.headers["access-control-allow-headers"] ?? "").toLowerCase();
    for (const h of ["authorization", "content-type", "upstash-encoding", "upstash-sync-token"]) {
      assert.ok(allowed.includes(h), `preflight does not allow ${h}: ${allowed}`);
    }
    assert.match(ok.headers["access-control-allow-methods"] ?? "", /POST/i);
    assert.match(ok.headers["access-control-expose-headers"] ?? "", /upstash-sync-token/i);
    assert.equal(ok.headers.vary, "Origin");
    const bad = await pre("https://evil.example");
    for (const h of Object.keys(bad.headers)) assert.ok(!h.startsWith("access-control-"), `CORS header ${h} for evil`);
    // Attack round 26: the refused preflight said nothing of depending on the Origin.
    assert.equal(bad.headers.vary, "Origin");
  });
  // Attack round 21: a 401 (expired or revoked token), a 413 and a refusal before the credential
  // was read went without CORS headers, so a browser saw a network error instead (and
  // @upstash/redis retried it). They carry them for an Origin some client lists, never another.
  test("answers no client made carry CORS headers for a listed Origin only", async () => {
    const app = "https://app.example.com";
    const cases = (origin) => [
      ["401", () => request(port, { body: ["GET", "app:o"], key: "kw_not_a_key", headers: { origin } }), 401],
      ["400", () => request(port, { method: "GET", path: "/", key: stack.keys.browser, headers: { origin } }), 400],
      ["413", async () => {
        const out = await rawExchange(port, [`POST /set/app:big HTTP/1.1\r\nHost: x\r\nOrigin: ${origin}\r\n` +
          `Authorization: Bearer ${stack.keys.browser}\r\nContent-Length: 999999999999\r\n\r\n`], { timeoutMs: 5000 });
        return parseResponse(out.data);
      }, 413],
    ];
    for (const [name, send, status] of cases(app)) {
      const res = await refused(send);
      assert.equal(res.status, status, `${name}: ${res.status}`);
      assert.equal(res.headers["access-control-allow-origin"], app, `${name} lacks Access-Control-Allow-Origin`);
      assert.equal(res.headers.vary, "Origin", name);
      assert.match(res.headers["access-control-expose-headers"] ?? "", /retry-after.*x-request-id/i, name);
    }
    for (const [name, send, status] of cases("https://evil.example")) {
      const res = await refused(send);
      assert.equal(res.status, status, `${name}: ${res.status}`);
      for (const h of Object.keys(res.headers)) assert.ok(!h.startsWith("access-control-"), `${name}: CORS header ${h} for evil`);
    }
  });
});

describe("429 rate limits", () => {
  test("over rate+burst: 429 ERR with Retry-After and RateLimit headers; nothing sent", async () => {
    await rt.call("SET", "app:rl", "v");
    const t0 = Date.now();
    const [results, delta] = await measure(rt, () => Promise.all(Array.from({ length: 8 }, () =>
      request(port, { body: ["GET", "app:rl"], key: stack.keys.limited }))));
    const elapsedS = (Date.now() - t0) / 1000;
    const ok = results.filter((r) => r.status === 200);
    const limited = results.filter((r) => r.status === 429);
    assert.ok(ok.length >= 2, `burst 2 should let 2 through, got ${ok.length}`);
    // burst 2 plus at most one token per second of the (loaded machine's) elapsed time
    assert.ok(ok.length <= 2 + Math.ceil(elapsedS), `rate 1/s burst 2 let ${ok.length} of 8 through in ${elapsedS} s`);
    assert.equal(ok.length + limited.length, 8);
    assert.ok(limited.length > 0, `no 429 among 8 requests in ${elapsedS} s`);
    assert.equal(delta.get ?? 0, ok.length, "a rate-limited request reached redis");
    const r = limited[0];
    expectError(r, 429, "ERR");
    assert.ok(Number(r.headers["retry-after"]) >= 0, `Retry-After ${r.headers["retry-after"]}`);
    assert.ok(r.headers["ratelimit-policy"], "no RateLimit-Policy header");
    assert.ok(r.headers["ratelimit"], "no RateLimit header");
    const other = await request(port, { body: ["GET", "app:rl"], key: stack.keys.reader });
    assert.equal(other.status, 200, "one client's limit throttled another client");
  });
});

describe("request ids", () => {
  // The access records keyward wrote so far, by request_id.
  const records = () => new Map(stack.keyward.events.filter((e) => e.event === "access").map((e) => [e.request_id, e]));
  async function logged(id) {
    const end = Date.now() + 3000;  // access lines are flushed every 100 ms
    while (!records().has(id) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return records().get(id);
  }

  test("every response carries a fresh X-Request-Id that names its access record", async () => {
    const ids = new Set();
    const cases = [
      [{ body: ["GET", "app:1"], key: stack.keys.reader }, 200],
      [{ body: ["SET", "app:1", "x"], key: stack.keys.reader }, 403],
      [{ body: ["GET", "app:1"], key: "kw_" + "B".repeat(43) }, 401],
      [{ body: "[not json", key: stack.keys.reader }, 400],
      [{ method: "OPTIONS", headers: { origin: "https://app.example.com", "access-control-request-method": "POST" } }, 204],
    ];
    for (const [opts, status] of cases) {
      const res = await request(port, opts);
      assert.equal(res.status, status, res.text);
      const id = res.headers["x-request-id"];
      assert.match(id, /^[0-9a-f]{32}$/);
      assert.ok(!ids.has(id), "a request id repeated");
      ids.add(id);
      const rec = await logged(id);
      assert.ok(rec, `no access record with request_id ${id}`);
      assert.equal(rec.status, status);
    }
    // Opaque (attack round 15: a per-worker prefix told a client which worker answered it, and a
    // counter how many requests others sent): no two ids share their first half.
    assert.equal(new Set([...ids].map((id) => id.slice(0, 16))).size, ids.size);
  });

  test("a refused transaction's record names every command, decided or not", async () => {
    const res = await request(port, { path: "/multi-exec", body: [["GET", "app:1"], ["SET", "app:2", "v"], ["HGETALL", "app:3"], ["NOSUCHCMD"]],
                                      key: stack.keys.reader });
    assert.equal(res.status, 403);
    const rec = await logged(res.headers["x-request-id"]);
    assert.deepEqual(rec.commands, ["get", "set", "hgetall", "?"]);
    assert.equal(rec.command_count, 4);
    assert.equal(rec.decision, "deny");
  });

  test("a client's own id is kept as client_request_id only when 1-64 of [A-Za-z0-9._-], never sent back", async () => {
    const good = "trace-4bf92f3577b34da6.a3ce929d0e0e4736_01";
    const res = await request(port, { body: ["GET", "app:1"], key: stack.keys.reader, headers: { "x-request-id": good } });
    assert.notEqual(res.headers["x-request-id"], good);
    assert.equal((await logged(res.headers["x-request-id"])).client_request_id, good);
    // Two X-Request-Id lines are one comma-joined value (RFC 9110 5.3): not a valid id.
    const twice = await request(port, { body: ["GET", "app:1"], key: stack.keys.reader, headers: { "x-request-id": ["ok1", "ok2"] } });
    assert.equal((await logged(twice.headers["x-request-id"])).client_request_id, undefined);
    for (const bad of ["x".repeat(65), "has space", "quote\"inject", "semi;colon", "ünïcode"]) {
      const r = await request(port, { body: ["GET", "app:1"], key: stack.keys.reader, headers: { "x-request-id": bad } });
      assert.equal(r.status, 200);
      const rec = await logged(r.headers["x-request-id"]);
      assert.ok(rec);
      assert.equal(rec.client_request_id, undefined, `kept ${JSON.stringify(bad)}`);
    }
  });
});
