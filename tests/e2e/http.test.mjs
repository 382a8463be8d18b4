// HTTP-level suite: raw requests against the real keyward over TLS, one test per row of
// README, HTTP statuses plus the wire features of docs/upstash-wire.md; every refusal is also checked on the
// real redis-server (INFO commandstats) to have executed nothing.
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { assert } from "./counted_assert.mjs";
import { freePort, measure, sleep, startStack } from "./harness.mjs";
import { parseResponse, rawExchange, rawRequest, request } from "./http.mjs";

const MAX_BODY = 2 * 1024 * 1024;
let stack;
let rt;
let port;

before(async () => {
  stack = await startStack({ listen: { max_body_bytes: MAX_BODY, header_timeout: "1s" } });
  rt = stack.redis;
  port = stack.port;
});
after(async () => {
  await stack?.stop();
});

// One HTTP/1.1 chunk carrying `s`.
const chunk = (s) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;

function post(body, { key = stack.keys.admin, path = "/", headers = {} } = {}) {
  return request(port, { method: "POST", path, body, key, headers });
}

// The error body contract: JSON {"error": "<prefix>..."} with the given status.
function expectError(res, status, prefix) {
  assert.equal(res.status, status, `status ${res.status} body ${res.text.slice(0, 300)}`);
  assert.ok(res.json && typeof res.json.error === "string",
            `error body is not JSON {"error": string}: ${res.text.slice(0, 300)}`);
  assert.ok(res.json.error.startsWith(prefix), `error ${JSON.stringify(res.json.error)} lacks ${prefix}`);
}

// Runs fn, checks via redis-server that it executed nothing; returns fn's result.
async function refused(fn) {
  const [res, delta] = await measure(rt, fn);
  assert.deepEqual(delta, {}, "a refused request executed commands on redis");
  return res;
}

describe("400 malformed requests (ERR), nothing executed", () => {
  const bad = {
    "truncated JSON": '["SET","app:t","1"',
    "trailing comma": '["SET","app:t","1",]',
    "missing comma": '["SET" "app:t" "1"]',
    "trailing garbage": '["SET","app:t","1"]x',
    "empty body": "",
    "not JSON": "SET app:t 1",
    "object, not an array": '{"cmd":"SET","args":["app:t","1"]}',
    "string, not an array": '"PING"',
    "number, not an array": "42",
    "null": "null",
    "empty command": "[]",
    "nested array as command name": '[["SET"],"app:t","1"]',
    "deep nesting": "[".repeat(100000) + "]".repeat(100000),
    "deep nesting inside an argument": '["SET","app:t",' + "[".repeat(50000) + "]".repeat(50000) + "]",
    "unterminated string": '["SET","app:t","1',
    "bad escape": '["SET","app:t","\\x41"]',
  };
  for (const [name, body] of Object.entries(bad)) {
    test(`POST / ${name}`, async () => {
      await rt.call("DEL", "app:t");
      const res = await refused(() => post(body));
      expectError(res, 400, "ERR");
    });
  }

  test("invalid UTF-8 inside a JSON string", async () => {
    const body = Buffer.concat([Buffer.from('["SET","app:utf","'), Buffer.from([0xff, 0xfe, 0xc3]),
                                Buffer.from('"]')]);
    const res = await refused(() => post(body));
    expectError(res, 400, "ERR");
    assert.equal(await rt.call("EXISTS", "app:utf"), 0);
  });

  const badBatches = {
    "pipeline of non-arrays": '["SET","app:t","1"]',
    "pipeline with an empty command": '[["SET","app:t","1"],[]]',
    "pipeline that is an object": '{"0":["SET","app:t","1"]}',
    "pipeline, truncated": '[["SET","app:t","1"],["GET"',
    "pipeline, deep nesting": "[".repeat(100000) + "]".repeat(100000),
  };
  for (const route of ["/pipeline", "/multi-exec"]) {
    for (const [name, body] of Object.entries(badBatches)) {
      test(`POST ${route} ${name}`, async () => {
        await rt.call("DEL", "app:t");
        const res = await refused(() => post(body, { path: route }));
        expectError(res, 400, "ERR");
        assert.equal(await rt.call("EXISTS", "app:t"), 0);
      });
    }
  }

  for (const path of ["/get/%zz", "/get/%4", "/get/abc%", "/set/app:t/%G1"]) {
    test(`bad path encoding ${path}`, async () => {
      const res = await refused(() => request(port, { method: "GET", path, key: stack.keys.admin }));
      expectError(res, 400, "ERR");
    });
  }
});

describe("401 credentials (WRONGPASS), nothing executed", () => {
  const cases = {
    "no Authorization header": () => ({}),
    "unknown well-formed key": () => ({ authorization: `Bearer kw_${"B".repeat(43)}` }),
    "valid key plus one character": () => ({ authorization: `Bearer ${stack.keys.admin}x` }),
    "valid key minus one character": () => ({ authorization: `Bearer ${stack.keys.admin.slice(0, -1)}` }),
    "empty bearer": () => ({ authorization: "Bearer " }),
    "Basic scheme": () => ({ authorization: `Basic ${Buffer.from(`x:${stack.keys.admin}`).toString("base64")}` }),
    "key without scheme": () => ({ authorization: stack.keys.admin }),
  };
  for (const [name, hdrs] of Object.entries(cases)) {
    test(name, async () => {
      const res = await refused(() => request(port, { body: ["SET", "app:auth", "1"], headers: hdrs() }));
      expectError(res, 401, "WRONGPASS");
      for (const k of Object.values(stack.keys)) assert.ok(!res.text.includes(k), "error echoes a key");
      assert.equal(await rt.call("EXISTS", "app:auth"), 0);
    });
  }

  test("?_token= is refused while allow_query_token is off", async () => {
    const res = await refused(() => request(port, {
      path: `/set/app:auth/1?_token=${encodeURIComponent(stack.keys.admin)}`, method: "POST" }));
    expectError(res, 401, "WRONGPASS");
  });

  // Attack round 24: every answer is logged and audited, and a connection that was refused
  // kept being served: 10.4 MB of pipelined unauthenticated requests from 2 connections made
  // 201,736 audit records (68 MiB) and 59 MiB of stdout in 5 s. A 401, and any refusal of a
  // request no client was admitted for, now ends its connection; an admitted client's refusals
  // (403) and an unauthenticated preflight keep it.
  test("a 401, or a refusal before any client was admitted, closes the connection", async () => {
    const keyed = (method, path, key, extra = []) => rawRequest(method, path, { key, close: false, headers: extra });
    for (const [what, first] of [
      ["no credential", keyed("GET", "/get/app:x")],
      ["a wrong key", keyed("GET", "/get/app:x", `kw_${"B".repeat(43)}`)],
      ["a 400 before the credential", keyed("GET", "/get/app:x?_token=a&_token=b")],
      ["a 405", keyed("DELETE", "/get/app:x")],
      ["a key from an Origin its client does not list", keyed("GET", "/get/app:x", stack.keys.admin,
                                                              ["origin: https://nowhere.example"])],
    ]) {
      const ex = await rawExchange(port, [first, ...Array.from({ length: 50 }, () => keyed("GET", "/get/app:x"))],
                                   { timeoutMs: 5000 });
      const answers = ex.data.toString("latin1").match(/HTTP\/1\.1 \d{3} /g) || [];
      assert.equal(answers.length, 1, `${what}: ${answers.length} answers on one connection`);
      assert.ok(ex.closed, `${what}: the connection stayed open`);
      assert.match(ex.data.toString("latin1"), /\r\nConnection: close\r\n/i, what);
    }
    // An admitted client's 403 keeps its connection, as does a CORS preflight.
    const denied = keyed("GET", "/flushall", stack.keys.admin);
    const ok = keyed("GET", "/get/app:x", stack.keys.admin);
    const ex = await rawExchange(port, [denied, ok, keyed("OPTIONS", "/", undefined,
      ["origin: https://nowhere.example", "access-control-request-method: POST"]), ok], { timeoutMs: 3000 });
    const statuses = (ex.data.toString("latin1").match(/HTTP\/1\.1 \d{3} /g) || []).map((l) => Number(l.slice(9, 12)));
    assert.equal(statuses.length, 4, `answers on one connection: ${statuses}`);
    assert.equal(statuses[0], 403);
    assert.equal(statuses[1], 200);
    assert.equal(statuses[3], 200);
  });

  test("header name is case-insensitive", async () => {
    const res = await request(port, { body: ["SET", "app:auth-ok", "1"],
                                      headers: { AUTHORIZATION: `Bearer ${stack.keys.admin}` } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { result: "OK" });
  });
});

describe("403 policy denials (NOPERM), nothing executed", () => {
  test("single command outside the client's commands names the command", async () => {
    const res = await refused(() => post(["SET", "app:x", "1"], { key: stack.keys.reader }));
    expectError(res, 403, "NOPERM");
    assert.match(res.json.error, /set/i);
  });

  test("key outside the client's patterns", async () => {
    await rt.call("SET", "secret:k", "hidden");
    const res = await refused(() => post(["GET", "secret:k"], { key: stack.keys.reader }));
    expectError(res, 403, "NOPERM");
    assert.ok(!res.text.includes("hidden"));
  });

  for (const argv of [["FLUSHALL"], ["flushdb"], ["KEYS", "*"], ["CONFIG", "GET", "*"], ["DEBUG", "SLEEP", "0"],
                      ["FOOBAR", "x"], ["CLIENT", "KILL", "TYPE", "normal"], ["SHUTDOWN"]]) {
    test(`+@all does not grant ${argv.join(" ")}`, async () => {
      await rt.call("SET", "keep:1", "v");
      const res = await refused(() => post(argv));
      expectError(res, 403, "NOPERM");
      assert.equal(await rt.call("GET", "keep:1"), "v");
    });
  }

  test("path style is checked too", async () => {
    const res = await refused(() => request(port, { method: "POST", path: "/set/app:x/1", key: stack.keys.reader }));
    expectError(res, 403, "NOPERM");
    assert.equal(await rt.call("EXISTS", "app:x"), 0);
  });

  test("transaction with one denied command: whole refusal naming command and index", async () => {
    const res = await refused(() => post([["GET", "app:a"], ["GET", "app:b"], ["SET", "app:tx", "1"]],
                                         { path: "/multi-exec", key: stack.keys.reader }));
    expectError(res, 403, "NOPERM");
    assert.match(res.json.error, /set/i);
    assert.match(res.json.error, /\b[23]\b/, "transaction denial does not name the index");
    assert.equal(await rt.call("EXISTS", "app:tx"), 0);
  });

  test("multi-exec with FLUSHALL hidden inside executes nothing", async () => {
    await rt.call("SET", "keep:2", "v");
    const res = await refused(() => post([["SET", "app:m1", "1"], ["FlushAll"], ["SET", "app:m2", "2"]],
                                         { path: "/multi-exec" }));
    expectError(res, 403, "NOPERM");
    assert.match(res.json.error, /flushall/i);
    assert.match(res.json.error, /\b[12]\b/);
    assert.deepEqual(await rt.call("MGET", "app:m1", "app:m2", "keep:2"), [null, null, "v"]);
  });

  test("pipeline with FLUSHALL hidden inside: denied slot, others run, data intact", async () => {
    await rt.call("SET", "keep:3", "v");
    const before = Number(await rt.call("DBSIZE"));
    const [res, delta] = await measure(rt, () => post(
      [["SET", "app:p1", "1"], ["FLUSHALL"], ["flushall", "ASYNC"], ["SET", "app:p2", "2"], ["GET", "app:p1"]],
      { path: "/pipeline" }));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.length, 5);
    assert.deepEqual(res.json[0], { result: "OK" });
    assert.match(res.json[1].error, /^NOPERM/);
    assert.match(res.json[2].error, /^NOPERM/);
    assert.deepEqual(res.json[3], { result: "OK" });
    assert.deepEqual(res.json[4], { result: "1" });
    assert.equal(delta.flushall, undefined, "FLUSHALL reached redis");
    assert.equal(delta.set, 2);
    assert.equal(await rt.call("GET", "keep:3"), "v");
    assert.equal(Number(await rt.call("DBSIZE")), before + 2);
  });

  test("key check with a NUL byte: no truncation past the check", async () => {
    await rt.call("SET", "top:pub\u0000secret", "hidden");
    let res = await refused(() => post(["GET", "top:pub\u0000secret"], { key: stack.keys.suffix }));
    expectError(res, 403, "NOPERM");
    res = await refused(() => request(port, { method: "GET", path: "/get/top:pub%00secret", key: stack.keys.suffix }));
    expectError(res, 403, "NOPERM");
  });
});

describe("405, 413", () => {
  for (const method of ["DELETE", "PATCH", "TRACE", "PROPFIND"]) {
    test(`${method} is 405`, async () => {
      const res = await refused(async () => {
        const ex = await rawExchange(port, [rawRequest(method, "/set/app:m/1", { key: stack.keys.admin })]);
        return parseResponse(ex.data);
      });
      assert.ok(res, "no HTTP response");
      expectError(res, 405, "ERR");
      assert.equal(await rt.call("EXISTS", "app:m"), 0);
    });
  }

  test("body over max_body_bytes (Content-Length) is 413", async () => {
    const body = JSON.stringify(["SET", "app:big", "y".repeat(MAX_BODY)]);
    const res = await refused(() => post(body));
    expectError(res, 413, "ERR");
    assert.equal(await rt.call("EXISTS", "app:big"), 0);
  });

  test("announced Content-Length over the limit is 413 before the body arrives", async () => {
    const ex = await refused(() => rawExchange(port, [rawRequest("POST", "/", {
      key: stack.keys.admin, headers: ["content-length: 1000000000000", "content-type: application/json"] }),
      '["SET","app:big","1"]'], { timeoutMs: 5000 }));
    const res = parseResponse(ex.data);
    assert.ok(res, "no response to an oversized Content-Length");
    expectError(res, 413, "ERR");
  });

  test("chunked body over max_body_bytes is 413", async () => {
    const filler = "z".repeat(256 * 1024);
    const parts = [rawRequest("POST", "/", { key: stack.keys.admin, headers: ["transfer-encoding: chunked"] }),
                   chunk('["SET","app:ch",'), chunk('"')];
    for (let i = 0; i < 10; i++) parts.push(chunk(filler));
    parts.push(chunk('"]'), "0\r\n\r\n");
    const ex = await refused(() => rawExchange(port, parts, { timeoutMs: 8000 }));
    const res = parseResponse(ex.data);
    assert.ok(res, "no response to an oversized chunked body");
    expectError(res, 413, "ERR");
    assert.equal(await rt.call("EXISTS", "app:ch"), 0);
  });
});

describe("percent-encoding and path tricks", () => {
  test("%2F carries a slash inside one argument", async () => {
    await rt.call("SET", "a/b", "slash");
    const res = await request(port, { method: "GET", path: "/get/a%2Fb", key: stack.keys.admin });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { result: "slash" });
  });

  test("+ in a path segment is a plus, not a space", async () => {
    const res = await request(port, { method: "POST", path: "/set/app:plus/a+b", key: stack.keys.admin });
    assert.equal(res.status, 200, res.text);
    assert.equal(await rt.call("GET", "app:plus"), "a+b");
  });

  for (const path of ["/get/../flushall", "/get/%2e%2e/flushall", "/./flushall", "//flushall",
                      "/get/..%2fflushall", "/%66lushall", "/FLUSHALL/"]) {
    test(`dot segments and encoded names never reach FLUSHALL: ${path}`, async () => {
      await rt.call("SET", "keep:4", "v");
      const size = await rt.call("DBSIZE");
      const [res, delta] = await measure(rt, async () => {
        const ex = await rawExchange(port, [rawRequest("GET", path, { key: stack.keys.admin })]);
        return parseResponse(ex.data);
      });
      assert.ok(res, "no response");
      assert.equal(delta.flushall, undefined, `FLUSHALL reached redis (status ${res.status})`);
      assert.equal(delta.flushdb, undefined);
      assert.equal(await rt.call("DBSIZE"), size);
      assert.equal(await rt.call("GET", "keep:4"), "v");
      if (res.status >= 400) {
        assert.ok(res.json && typeof res.json.error === "string", `non-JSON error body: ${res.text}`);
      }
    });
  }

  test("%00 inside a key is a byte of the key, not a terminator", async () => {
    await rt.call("SET", "app:nul\u0000tail", "with-nul");
    await rt.call("SET", "app:nul", "without-nul");
    const res = await request(port, { method: "GET", path: "/get/app:nul%00tail", key: stack.keys.reader });
    if (res.status === 200) {
      assert.deepEqual(res.json, { result: "with-nul" });
    } else {
      expectError(res, 400, "ERR");
    }
  });

  test("raw non-ASCII bytes in the request target are refused", async () => {
    const head = Buffer.concat([Buffer.from("GET /get/app:"), Buffer.from([0xff, 0x00, 0x80]),
                                Buffer.from(` HTTP/1.1\r\nhost: x\r\nconnection: close\r\n` +
                                            `authorization: Bearer ${stack.keys.admin}\r\n\r\n`)]);
    const ex = await refused(() => rawExchange(port, [head]));
    const res = parseResponse(ex.data);
    if (res) expectError(res, 400, "ERR");
    else assert.ok(ex.closed, "neither a response nor a close");
  });
});

describe("large inputs", () => {
  test("100,000-element MGET inside the client's patterns", async () => {
    await rt.call("SET", "app:k99999", "last");
    const argv = ["MGET"];
    for (let i = 0; i < 100000; i++) argv.push(`app:k${i}`);
    const res = await post(argv, { key: stack.keys.reader });
    if (res.status === 200) {
      assert.equal(res.json.result.length, 100000);
      assert.equal(res.json.result[99999], "last");
    } else {
      assert.ok([400, 413].includes(res.status), `status ${res.status}`);
      assert.match(res.json?.error ?? "", /^ERR/);
    }
  });

  test("100,000-element MGET with one forbidden key at the end is refused whole", async () => {
    const argv = ["MGET"];
    for (let i = 0; i < 99999; i++) argv.push(`app:k${i}`);
    argv.push("secret:k");
    const res = await refused(() => post(argv, { key: stack.keys.reader }));
    assert.ok([403, 400, 413].includes(res.status), `status ${res.status}`);
    assert.ok(res.json && typeof res.json.error === "string");
    if (res.status === 403) assert.match(res.json.error, /^NOPERM/);
  });

  test("100,000-command pipeline with FLUSHALL in the last slot", async () => {
    await rt.call("SET", "keep:5", "v");
    const cmds = [];
    for (let i = 0; i < 99999; i++) cmds.push(["GET", "keep:5"]);
    cmds.push(["FLUSHALL"]);
    const [res, delta] = await measure(rt, () => post(cmds, { path: "/pipeline" }), 500);
    assert.equal(delta.flushall, undefined, "FLUSHALL reached redis");
    assert.equal(await rt.call("GET", "keep:5"), "v");
    if (res.status === 200) {
      assert.equal(res.json.length, 100000);
      assert.deepEqual(res.json[0], { result: "v" });
      assert.match(res.json[99999].error, /^NOPERM/);
    } else {
      assert.deepEqual(delta, {});
      assert.ok([400, 413].includes(res.status), `status ${res.status}`);
    }
  });
});

describe("HTTP framing attacks", () => {
  test("chunked request body is reassembled", async () => {
    const ex = await rawExchange(port, [
      rawRequest("POST", "/", { key: stack.keys.admin, headers: ["transfer-encoding: chunked"] }),
      chunk('["SET'), 20, chunk('","app:'), 20, chunk('chunked","yes'), chunk('"]'), "0\r\n\r\n",
    ]);
    const res = parseResponse(ex.data);
    assert.ok(res, "no response");
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { result: "OK" });
    assert.equal(await rt.call("GET", "app:chunked"), "yes");
  });

  test("malformed chunk size", async () => {
    const ex = await refused(() => rawExchange(port, [
      rawRequest("POST", "/", { key: stack.keys.admin, headers: ["transfer-encoding: chunked"] }),
      'zz\r\n["SET","app:badchunk","1"]\r\n0\r\n\r\n']));
    const res = parseResponse(ex.data);
    if (res) expectError(res, 400, "ERR");
    else assert.ok(ex.closed);
  });

  test("Content-Length plus Transfer-Encoding cannot smuggle a second request", async () => {
    const smuggled = rawRequest("POST", "/", { key: stack.keys.admin, body: '["SET","app:smuggled","1"]', close: false });
    const body = Buffer.concat([Buffer.from("0\r\n\r\n"), smuggled]);
    const head = [
      "POST / HTTP/1.1", "host: x", `authorization: Bearer ${stack.keys.admin}`,
      `content-length: ${body.length}`, "transfer-encoding: chunked", "", "",
    ].join("\r\n");
    await rawExchange(port, [head, body], { timeoutMs: 3000 });
    await sleep(200);
    assert.equal(await rt.call("EXISTS", "app:smuggled"), 0, "smuggled request executed");
  });

  test("two Content-Length headers that disagree", async () => {
    const ex = await refused(() => rawExchange(port, [
      "POST / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n" +
      `authorization: Bearer ${stack.keys.admin}\r\ncontent-length: 26\r\ncontent-length: 5\r\n\r\n` +
      '["SET","app:twocl","1"]   ']));
    const res = parseResponse(ex.data);
    if (res) expectError(res, 400, "ERR");
    else assert.ok(ex.closed);
  });

  test("header flood (10,000 headers) is refused and the server stays up", async () => {
    const hdrs = [];
    for (let i = 0; i < 10000; i++) hdrs.push(`x-flood-${i}: ${"v".repeat(20)}`);
    const ex = await refused(() => rawExchange(port, [rawRequest("POST", "/", {
      key: stack.keys.admin, headers: hdrs, body: '["SET","app:flood","1"]' })]));
    const res = parseResponse(ex.data);
    if (res) {
      assert.ok([400, 413, 431].includes(res.status), `status ${res.status}`);
      assert.ok(res.json && /^ERR/.test(res.json.error), `error body ${res.text.slice(0, 200)}`);
    } else {
      assert.ok(ex.closed, "neither a response nor a close");
    }
    assert.equal(await rt.call("EXISTS", "app:flood"), 0);
    const ok = await post(["PING"]);
    assert.deepEqual(ok.json, { result: "PONG" });
  });

  test("one 1 MB header line is refused", async () => {
    const ex = await refused(() => rawExchange(port, [rawRequest("POST", "/", {
      key: stack.keys.admin, headers: [`x-big: ${"a".repeat(1024 * 1024)}`], body: '["SET","app:bighdr","1"]' })]));
    const res = parseResponse(ex.data);
    if (res) {
      assert.ok([400, 413, 431].includes(res.status), `status ${res.status}`);
      assert.ok(res.json && /^ERR/.test(res.json.error), `error body ${res.text.slice(0, 200)}`);
    } else {
      assert.ok(ex.closed);
    }
  });

  test("slowloris: headers sent byte by byte are cut off after header_timeout", async () => {
    const req = rawRequest("POST", "/", { key: stack.keys.admin, body: '["SET","app:slow","1"]' });
    const parts = [];
    for (const b of req) parts.push(Buffer.from([b]), 100);
    const ex = await refused(() => rawExchange(port, parts, { timeoutMs: 6000 }));
    assert.ok(ex.closed, "connection still open after 6 s of a byte every 100 ms");
    assert.equal(ex.sentAll, false, "the whole request got through");
    assert.ok(ex.closedAtMs < 4000, `closed only after ${ex.closedAtMs} ms (header_timeout 1s)`);
    const res = parseResponse(ex.data);
    if (res) assert.notEqual(res.status, 200);
    assert.equal(await rt.call("EXISTS", "app:slow"), 0);
  });

  test("plaintext HTTP on the TLS port gets no answer", async () => {
    const net = await import("node:net");
    const data = await new Promise((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => s.write(rawRequest("POST", "/", {
        key: stack.keys.admin, body: '["SET","app:plain","1"]' })));
      const chunks = [];
      s.on("data", (d) => chunks.push(d));
      s.on("close", () => resolve(Buffer.concat(chunks)));
      s.on("error", () => {});
      setTimeout(() => s.destroy(), 3000);
    });
    assert.ok(!/^HTTP\/1\.1 200/.test(data.toString("latin1")));
    assert.equal(await rt.call("EXISTS", "app:plain"), 0);
  });

  test("TLS 1.1 is refused (min_version 1.2)", async () => {
    const err = await new Promise((resolve) => {
      const s = tls.connect({ host: "127.0.0.1", port, servername: "localhost", minVersion: "TLSv1",
                              maxVersion: "TLSv1.1", ca: [], rejectUnauthorized: false });
      s.once("secureConnect", () => { s.destroy(); resolve(null); });
      s.once("error", (e) => resolve(e));
    });
    assert.ok(err, "a TLS 1.1 handshake succeeded");
  });
});

describe("wire compatibility (docs/upstash-wire.md)", () => {
  test("Upstash-Encoding: base64 encodes strings, keeps top-level OK, never errors", async () => {
    const h = { "upstash-encoding": "base64" };
    let res = await post(["SET", "app:b64", "bar"], { headers: h });
    assert.deepEqual(res.json, { result: "OK" });
    res = await post(["GET", "app:b64"], { headers: h });
    assert.deepEqual(res.json, { result: "YmFy" });
    await rt.call("RPUSH", "app:b64l", "OK", "x");
    res = await post(["LRANGE", "app:b64l", "0", "-1"], { headers: h });
    assert.deepEqual(res.json, { result: ["T0s=", "eA=="] });
    res = await post(["PING"], { headers: h });
    assert.deepEqual(res.json, { result: "UE9ORw==" });
    res = await post(["INCR", "app:b64"], { headers: h });
    expectError(res, 400, "ERR value is not an integer");
    res = await post([["GET", "app:b64"], ["INCR", "app:b64"], ["DEL", "app:none"]], { path: "/pipeline", headers: h });
    assert.deepEqual(res.json[0], { result: "YmFy" });
    assert.match(res.json[1].error, /^ERR value is not an integer/);
    assert.deepEqual(res.json[2], { result: 0 });
  });

  test("Upstash-Response-Format: resp2", async () => {
    await rt.call("SET", "app:resp", "bar");
    let res = await post(["GET", "app:resp"], { headers: { "upstash-response-format": "resp2" } });
    assert.equal(res.status, 200);
    assert.equal(res.text, "$3\r\nbar\r\n");
    res = await post(["GET", "app:resp"], { headers: { "upstash-response-format": "resp2", "upstash-encoding": "base64" } });
    expectError(res, 400, "ERR");
    res = await post(["GET", "app:resp"], { headers: { "upstash-response-format": "xml" } });
    expectError(res, 400, "ERR");
  });

  test("path style: raw body is the last argument, query pairs appended", async () => {
    const res = await request(port, { method: "POST", path: "/set/app:ps?EX=100", body: "raw \"body\" [1]",
                                      key: stack.keys.admin });
    assert.deepEqual(res.json, { result: "OK" });
    assert.equal(await rt.call("GET", "app:ps"), "raw \"body\" [1]");
    const ttl = await rt.call("TTL", "app:ps");
    assert.ok(ttl > 90 && ttl <= 100, `ttl ${ttl}`);
    const g = await request(port, { method: "GET", path: "/get/app:ps", key: stack.keys.admin });
    assert.deepEqual(g.json, { result: "raw \"body\" [1]" });
  });

  test("JSON numbers and booleans are accepted as arguments", async () => {
    const res = await post(["SET", "app:num", 100, "EX", 100]);
    assert.deepEqual(res.json, { result: "OK" });
    assert.equal(await rt.call("GET", "app:num"), "100");
  });

  test("single-command Redis errors are 400 with the Redis text", async () => {
    const res = await post(["GET"]);
    expectError(res, 400, "ERR wrong number of arguments");
  });

  test("upstash-sync-token header on successful responses", async () => {
    for (const [path, body] of [["/", ["SET", "app:sync", "1"]], ["/pipeline", [["GET", "app:sync"]]],
                                ["/multi-exec", [["INCR", "app:sync"]]]]) {
      const res = await post(body, { path, headers: { "upstash-sync-token": "" } });
      assert.equal(res.status, 200, res.text);
      assert.ok(res.headers["upstash-sync-token"], `no upstash-sync-token on ${path}`);
    }
  });

  test("SSE subscribe: raw events, denied channel is a JSON 403, teardown on disconnect", async () => {
    const start = rawRequest("POST", "/subscribe/chat:sse", {
      key: stack.keys.chat, headers: ["accept: text/event-stream"], body: "[]", close: false });
    const pending = rawExchange(port, [start], { timeoutMs: 2500 });
    let subscribed = false;
    for (let i = 0; i < 40 && !subscribed; i++) {
      await sleep(50);
      subscribed = (await rt.call("PUBSUB", "NUMSUB", "chat:sse"))[1] === 1;
    }
    assert.ok(subscribed, "no upstream SUBSCRIBE");
    assert.equal(await rt.call("PUBLISH", "chat:sse", "hello, there"), 1);
    const ex = await pending;
    const sse = parseResponse(ex.data);
    assert.ok(sse, `no SSE response: ${ex.data.toString("latin1").slice(0, 300)}`);
    assert.equal(sse.status, 200);
    assert.match(sse.headers["content-type"] ?? "", /^text\/event-stream/);
    const text = sse.text;
    assert.match(text, /data: subscribe,chat:sse,1\n/);
    assert.match(text, /data: message,chat:sse,hello, there\n/);
    let gone = false;
    for (let i = 0; i < 40 && !gone; i++) {
      await sleep(50);
      gone = (await rt.call("PUBSUB", "NUMSUB", "chat:sse"))[1] === 0;
    }
    assert.ok(gone, "upstream subscription outlived the client");

    const denied = await refused(() => request(port, { path: "/subscribe/secret", body: "[]", key: stack.keys.chat,
                                                      headers: { accept: "text/event-stream" }, timeoutMs: 5000 }));
    expectError(denied, 403, "NOPERM");
  });
});

describe("upstream failures", () => {
  // Attack round 15b: a stream whose upstream went away ended as if normally.
  test("a subscription whose upstream connection dies ends with event: error", async () => {
    const start = rawRequest("POST", "/subscribe/chat:dies", {
      key: stack.keys.chat, headers: ["accept: text/event-stream"], body: "[]", close: false });
    const pending = rawExchange(port, [start], { timeoutMs: 3000 });
    let subscribed = false;
    for (let i = 0; i < 40 && !subscribed; i++) {
      await sleep(50);
      subscribed = (await rt.call("PUBSUB", "NUMSUB", "chat:dies"))[1] === 1;
    }
    assert.ok(subscribed, "no upstream SUBSCRIBE");
    await rt.call("CLIENT", "KILL", "TYPE", "pubsub");
    const sse = parseResponse((await pending).data);
    assert.equal(sse.status, 200);
    assert.match(sse.text, /data: subscribe,chat:dies,1\n/);
    assert.match(sse.text, /event: error\ndata: \{"error":"ERR upstream [^"]*"\}\n\n/, JSON.stringify(sse.text.slice(-200)));
  });

  test("502 when the upstream is unreachable", async () => {
    const closed = await freePort();
    const kw = await stack.startKeyward({ upstreamUrl: `redis://127.0.0.1:${closed}`, upstream: { timeout: "2s" } });
    try {
      const res = await request(kw.port, { body: ["GET", "app:x"], key: stack.keys.admin });
      expectError(res, 502, "ERR");
      const p = await request(kw.port, { path: "/pipeline", body: [["GET", "app:x"]], key: stack.keys.admin });
      expectError(p, 502, "ERR");
      assert.ok(!res.text.includes(stack.redisPassword));
    } finally {
      await kw.stop();
    }
  });

  test("504 when the upstream accepts and never answers", async () => {
    const net = await import("node:net");
    const sockets = [];
    const hang = net.createServer((s) => { sockets.push(s); s.on("error", () => {}); });
    await new Promise((r) => hang.listen(0, "127.0.0.1", r));
    let kw;
    try {
      kw = await stack.startKeyward({ upstreamUrl: `redis://127.0.0.1:${hang.address().port}`,
                                      upstream: { timeout: "1s" } });
      const t0 = Date.now();
      const res = await request(kw.port, { body: ["GET", "app:x"], key: stack.keys.admin, timeoutMs: 15000 });
      const took = Date.now() - t0;
      expectError(res, 504, "ERR");
      assert.ok(took < 5000, `504 took ${took} ms with upstream.timeout 1s`);
    } finally {
      await kw?.stop();
      sockets.forEach((s) => s.destroy());
      hang.close();
    }
  });
});

describe("upstream timeout after a good handshake", () => {
  test("504 when the upstream answers AUTH and then never answers a command", async () => {
    const net = await import("node:net");
    const sockets = [];
    // Answers AUTH/SELECT/HELLO/CLIENT/PING with +OK (the connection handshake), nothing else.
    const silent = net.createServer((s) => {
      sockets.push(s);
      s.on("error", () => {});
      let buf = "";
      s.on("data", (d) => {
        buf += d.toString("latin1");
        for (;;) {
          const m = /^\*(\d+)\r\n/.exec(buf);
          if (!m) return;
          let p = m[0].length;
          const args = [];
          for (let i = 0; i < Number(m[1]); i++) {
            const l = /^\$(\d+)\r\n/.exec(buf.slice(p));
            if (!l) return;
            const start = p + l[0].length;
            if (buf.length < start + Number(l[1]) + 2) return;
            args.push(buf.slice(start, start + Number(l[1])));
            p = start + Number(l[1]) + 2;
          }
          buf = buf.slice(p);
          if (/^(auth|select|hello|client|ping)$/i.test(args[0])) s.write("+OK\r\n");
        }
      });
    });
    await new Promise((r) => silent.listen(0, "127.0.0.1", r));
    let kw;
    try {
      kw = await stack.startKeyward({ upstreamUrl: `redis://127.0.0.1:${silent.address().port}`,
                                      upstream: { timeout: "1s" } });
      const t0 = Date.now();
      const res = await request(kw.port, { body: ["GET", "app:x"], key: stack.keys.admin, timeoutMs: 15000 });
      const took = Date.now() - t0;
      expectError(res, 504, "ERR");
      assert.ok(took < 5000, `504 took ${took} ms with upstream.timeout 1s`);
    } finally {
      await kw?.stop();
      sockets.forEach((x) => x.destroy());
      silent.close();
    }
  });
});

describe("logs and shutdown", () => {
  test("no secret appears in keyward's output; log lines are JSON", async () => {
    await post(["SET", "app:logged", "value-that-must-not-be-logged"]);
    await sleep(200);
    const out = stack.keyward.stdout + stack.keyward.stderr;
    for (const s of stack.secrets()) assert.ok(!out.includes(s), "a secret appears in keyward's output");
    assert.ok(!out.includes("value-that-must-not-be-logged"), "a value appears in the logs");
    const lines = stack.keyward.stdout.split("\n").filter((l) => l.trim());
    assert.ok(lines.length > 1);
    const notJson = lines.filter((l) => { try { JSON.parse(l); return false; } catch { return true; } });
    assert.deepEqual(notJson.slice(0, 5), [], "stdout lines that are not JSON");
  });

  test("SIGTERM exits 0", async () => {
    await stack.keyward.stop("SIGTERM", 30000);
    assert.equal(stack.keyward.exitSignal, null, `killed by ${stack.keyward.exitSignal}`);
    assert.equal(stack.keyward.exitCode, 0, stack.keyward.stderr.slice(-2000));
  });
});
