// min-assertions: 60
// Second attacker round (a helper briefed only with the contract and a release build), each
// finding kept as rows in both upstream modes:
// F1 a pipeline of 100,000 denied commands held the loop ~65 ms per request (denied commands
//    cost no quota): requests are capped at 10,000 commands, and the probe keeps p99 < 50 ms
//    while a client sends the largest allowed all-denied pipelines back to back;
// F2 one client could take all of listen.max_buffered_bytes: each client holds at most half;
// F3 a head admitted before its body arrived ran after its token was revoked, its client was
//    removed or its grant narrowed: the admission is made again when the body completes;
// F4 one reply over the encoded bound failed a whole /pipeline after every command ran: only
//    that slot gets the error.
import tls from "node:tls";
import fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { assert } from "../e2e/counted_assert.mjs";
import { adminCall, certs, rewriteConfig } from "../e2e/harness.mjs";
import { request } from "../e2e/http.mjs";
import { edKey, keyDir, signingSection } from "../e2e/jwt_support.mjs";
import { MODES, report, sleep, startModeStack, underAttack } from "./lib.mjs";

const MiB = 1024 * 1024;
const ca = fs.readFileSync(certs().ca);

// A raw TLS connection that sends a head and all but `hold` bytes of its body now; finish()
// sends the rest and resolves to the response's status line and body. With `admitted`, the head
// carries Expect: 100-continue and the body goes only after keyward's 100 Continue: the head
// has been admitted (and its body's share reserved) when this resolves.
async function partialPost(port, path, headers, body, hold = 1,
                           { admitted = false, length = Buffer.byteLength(body) } = {}) {
  const s = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost" });
  await new Promise((r, j) => { s.once("secureConnect", r); s.once("error", j); });
  let data = "";
  s.setEncoding("latin1");
  s.on("data", (d) => { data += d; });
  s.on("error", () => {});
  const head = `POST ${path} HTTP/1.1\r\nHost: x\r\n` +
    Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("") +
    (admitted ? "Expect: 100-continue\r\n" : "") +
    `Content-Length: ${length}\r\n\r\n`;
  if (admitted) {
    s.write(head);
    for (let i = 0; i < 400 && !/^HTTP\/1\.1 100 Continue\r\n\r\n/.test(data); i++) await sleep(25);
    data = data.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, "");
    s.write(body.slice(0, body.length - hold));
  } else {
    s.write(head + body.slice(0, body.length - hold));
  }
  const answer = async () => {
    for (let i = 0; i < 200 && !/\r\n\r\n/.test(data); i++) await sleep(25);
    const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
    await sleep(50);
    return { status: m ? Number(m[1]) : 0, body: data.split("\r\n\r\n").slice(1).join("\r\n\r\n") };
  };
  return {
    sock: s,
    early: () => data,
    async finish() {
      s.write(body.slice(body.length - hold));
      const r = await answer();
      s.destroy();
      return r;
    },
  };
}

// Sends `body` to /pipeline over one kept-alive TLS connection, response after response, until
// `ms` passed; resolves to the statuses seen.
async function pipelineLoop(port, key, body, ms) {
  const s = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost" });
  await new Promise((r, j) => { s.once("secureConnect", r); s.once("error", j); });
  const req = Buffer.from(`POST /pipeline HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n` +
                          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  // One response at a time: its head from the first chunk, then its body counted, not copied.
  let head = "";
  let want = -1;  // body bytes still to come, -1 before the head
  let wake = null;
  let done = false;
  s.on("data", (d) => {
    if (want < 0) {
      head += d.toString("latin1");
      const h = head.indexOf("\r\n\r\n");
      if (h < 0) return;
      want = Number(/content-length: (\d+)/i.exec(head.slice(0, h))?.[1] ?? 0) - (head.length - h - 4);
    } else {
      want -= d.length;
    }
    if (want <= 0) { done = true; wake?.(); }
  });
  const statuses = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    head = "";
    want = -1;
    done = false;
    s.write(req);
    while (!done) await new Promise((r) => { wake = r; });
    statuses.push(Number(head.slice(9, 12)));
  }
  s.destroy();
  return statuses;
}

for (const mode of MODES) {
  describe(`attacker findings, second round (${mode} mode)`, () => {
    let stack, keys;
    before(async () => {
      keys = keyDir();
      const ed = await edKey(keys.dir, "k1", { withPrivate: true });
      stack = await startModeStack(mode, {
        listen: { max_buffered_bytes: 24 * MiB },
        signing: signingSection([ed], keys.revokedFile, { leeway: "0s" }),
        extraClients: {
          session: { credentials: ["jwt"], commands: ["+set", "+get"], keys: ["sess:*"] },
          narrow: { commands: ["+get", "+set"], keys: ["nar:*"] },
          doomed: { commands: ["+get", "+set"], keys: ["doom:*"] },
          pusher: { commands: ["+set"], keys: ["push:*"] },
          denied: { commands: ["+get"], keys: ["den:*"], limits: { rate: "5/s", burst: 10 } },
        },
      });
    });
    after(async () => {
      await stack?.stop();
      keys?.cleanup();
    });

    test("F1: over 10,000 commands is 413; 10,000 denied ones back to back leave the probe fast", async () => {
      const over = Array.from({ length: 10001 }, () => ["x"]);
      const r413 = await request(stack.port, { path: "/pipeline", body: over, key: stack.keys.denied });
      assert.equal(r413.status, 413, r413.text);
      assert.match(r413.json.error, /^ERR too many commands in the request/);
      const body = JSON.stringify(Array.from({ length: 10000 }, () => ["x"]));
      let statuses = [];
      const r = await underAttack(stack, async () => {
        statuses = await pipelineLoop(stack.port, stack.keys.denied, body, 3000);
      }, { durationMs: 3000 });
      const sent = statuses.length;
      assert.ok(statuses.every((x) => x === 200), JSON.stringify(statuses.slice(0, 5)));
      report(`attacker2.denied_pipelines.${mode}`, { requests: sent, probe: r.probe });
      assert.ok(sent > 5, `${sent} pipelines of 10,000 denied commands`);
      assert.equal(r.probe.failed, 0, JSON.stringify(r.probe.statuses));
      assert.ok(r.probe.p99 < 50, `probe p99 ${r.probe.p99} ms`);
    });

    test("F2: one client holds at most half of listen.max_buffered_bytes; others still post", async () => {
      const big = "x".repeat(9 * MiB);
      const body = JSON.stringify(["SET", "push:a", big]);
      const first = await partialPost(stack.port, "/", { Authorization: `Bearer ${stack.keys.pusher}` },
                                      body, 1, { admitted: true });
      // Head first (Expect: 100-continue): a client that sends a refused body whole may lose the
      // answer to the reset that closing on its unread bytes causes (RFC 9112 section 9.6).
      const second = await partialPost(stack.port, "/", { Authorization: `Bearer ${stack.keys.pusher}`,
                                                          Expect: "100-continue" }, "", 0,
                                   { length: Buffer.byteLength(body) });
      for (let i = 0; i < 400 && !/\r\n\r\n/.test(second.early()); i++) await sleep(25);
      const refused = second.early();
      assert.match(refused, /^HTTP\/1\.1 429 /, refused.slice(0, 80));
      assert.match(refused, /too many request bodies of this client in flight \(its share, half of listen\.max_buffered_bytes 25165824\)/);
      assert.match(refused, /Retry-After: 1/i);
      // Another client's 9 MiB body still fits the pool while the first one is held.
      const other = await request(stack.port, { body: ["SET", "nar:v", big], key: stack.keys.narrow,
                                                timeoutMs: 20000 });
      assert.equal(other.status, 200, other.text);
      const done = await first.finish();
      assert.equal(done.status, 200, done.body.slice(0, 200));
      second.sock.destroy();
      // The share came back: the same client posts again.
      const again = await request(stack.port, { body: ["SET", "push:b", big], key: stack.keys.pusher,
                                                timeoutMs: 20000 });
      assert.equal(again.status, 200, again.text);
    });

    test("F3: a token revoked while its body arrives is refused when the body completes", async () => {
      const t = await adminCall(stack, stack.keyward, "POST", "/v1/tokens", { client: "session", sub: "u1", ttl: "10m" });
      assert.equal(t.status, 200, t.text);
      await stack.redis.call("DEL", "sess:after");
      const p = await partialPost(stack.port, "/", { Authorization: `Bearer ${t.json.token}` },
                                  JSON.stringify(["SET", "sess:after", "ran"]));
      await sleep(200);
      const rv = await adminCall(stack, stack.keyward, "POST", "/v1/tokens/revoke", { jti: t.json.jti });
      assert.equal(rv.status, 200, rv.text);
      const r = await p.finish();
      assert.equal(r.status, 401, r.body);
      assert.match(r.body, /WRONGPASS/);
      assert.equal(await stack.redis.call("GET", "sess:after"), null, "the SET never ran");
    });

    test("F3: a token that expires while its body arrives is refused when the body completes", async () => {
      const t = await adminCall(stack, stack.keyward, "POST", "/v1/tokens", { client: "session", sub: "u2", ttl: "1s" });
      assert.equal(t.status, 200, t.text);
      await stack.redis.call("DEL", "sess:late");
      const p = await partialPost(stack.port, "/", { Authorization: `Bearer ${t.json.token}` },
                                  JSON.stringify(["SET", "sess:late", "ran"]));
      await sleep(2200);
      const r = await p.finish();
      assert.equal(r.status, 401, r.body);
      assert.equal(await stack.redis.call("GET", "sess:late"), null, "the SET never ran");
    });

    test("F3: a client removed, or a grant narrowed, by a reload while its body arrives", async () => {
      await stack.redis.call("SET", "nar:v", "secret");
      await stack.redis.call("DEL", "doom:after");
      const doomed = await partialPost(stack.port, "/", { Authorization: `Bearer ${stack.keys.doomed}` },
                                       JSON.stringify(["SET", "doom:after", "ran"]));
      const narrowed = await partialPost(stack.port, "/", { Authorization: `Bearer ${stack.keys.narrow}` },
                                         JSON.stringify(["GET", "nar:v"]));
      await sleep(200);
      rewriteConfig(stack.keyward, (cfg) => {
        cfg.clients = cfg.clients.filter((c) => c.name !== "doomed");
        for (const c of cfg.clients) if (c.name === "narrow") c.keys = ["nothing:*"];
      });
      const rl = await adminCall(stack, stack.keyward, "POST", "/v1/reload");
      assert.equal(rl.status, 200, rl.text);
      const d = await doomed.finish();
      assert.equal(d.status, 401, d.body);
      assert.equal(await stack.redis.call("GET", "doom:after"), null, "the removed client's SET never ran");
      const n = await narrowed.finish();
      assert.equal(n.status, 403, n.body);
      assert.match(n.body, /NOPERM/);
      assert.ok(!n.body.includes("secret"), n.body);
      // Control: a body that completes under an unchanged config runs.
      const ok = await partialPost(stack.port, "/", { Authorization: `Bearer ${stack.keys.admin}` },
                                   JSON.stringify(["SET", "app:after", "ran"]));
      const okr = await ok.finish();
      assert.equal(okr.status, 200, okr.body);
      assert.equal(await stack.redis.call("GET", "app:after"), "ran");
    });

    test("F4: a pipeline slot over the encoded bound is an inline error; the others answer", async () => {
      // A value of NUL bytes within max_reply_bytes (64 MiB) escapes 6x in JSON (\u0000): over
      // the 128 MiB bound for its body.
      await stack.redis.call("DEL", "app:k1", "app:k2");
      await stack.redis.call("SETRANGE", "app:z", String(30 * MiB - 1), "x");
      const r = await request(stack.port, {
        path: "/pipeline", key: stack.keys.admin, timeoutMs: 60000,
        body: [["INCR", "app:k1"], ["GET", "app:z"], ["INCR", "app:k2"]],
      });
      if (mode === "redis") {
        assert.equal(r.status, 200, r.text.slice(0, 200));
        assert.equal(r.json.length, 3);
        assert.deepEqual(r.json[0], { result: 1 });
        assert.match(r.json[1].error, /^ERR reply exceeds upstream\.max_reply_bytes once encoded \(the command ran; its reply was dropped\)/);
        assert.deepEqual(r.json[2], { result: 1 });
      } else {
        // REST mode relays the inner keyward's body: the same three slots.
        assert.equal(r.status, 200, r.text.slice(0, 200));
        assert.equal(r.json.length, 3);
        assert.match(r.json[1].error ?? "", /once encoded/);
      }
      assert.equal(await stack.redis.call("GET", "app:k1"), "1");
      assert.equal(await stack.redis.call("GET", "app:k2"), "1");
      await stack.redis.call("DEL", "app:z");
    });
  });
}
