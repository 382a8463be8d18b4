// min-assertions: 70
// Streams are authorised again after they open: a /subscribe or /psubscribe stream is closed
// with a final `event: error` (data: {"error":"..."}) within a second of its token's revocation,
// at its token's exp, and when a reload removes its client or its channel grant; unrelated
// reloads and revocations leave other streams running. Both upstream modes; the probe tenant
// keeps its p99 under 50 ms throughout.
import fs from "node:fs";
import https from "node:https";
import { after, before, describe, test } from "node:test";
// The SDK is installed with the e2e suites (tests/e2e/package.json).
import { Redis } from "../e2e/node_modules/@upstash/redis/nodejs.mjs";
import { assert } from "../e2e/counted_assert.mjs";
import { adminCall, certs, rewriteConfig } from "../e2e/harness.mjs";
import { edKey, keyDir, signingSection } from "../e2e/jwt_support.mjs";
import { MODES, report, sleep, startModeStack, underAttack } from "./lib.mjs";

const RSS_BOUND_KIB = 64 * 1024;  // keyward's RSS may grow by at most this during an attack

// An open SSE stream: its text so far, and when it ended (null while open).
function openStream(stack, path, token) {
  const s = { text: "", endedAt: null, status: null };
  s.ended = new Promise((resolve) => {
    const req = https.request(`${stack.url}${path}`, {
      method: "POST", ca: fs.readFileSync(certs().ca),
      headers: { authorization: `Bearer ${token}`, accept: "text/event-stream",
                 "content-type": "application/json" },
    }, (res) => {
      s.status = res.statusCode;
      res.setEncoding("utf8");
      res.on("data", (d) => { s.text += d; });
      const done = () => { if (s.endedAt === null) s.endedAt = Date.now(); resolve(); };
      res.on("end", done);
      res.on("close", done);
      res.on("error", done);
    });
    req.on("error", () => { if (s.endedAt === null) s.endedAt = Date.now(); resolve(); });
    req.end("[]");
    s.req = req;
  });
  s.close = () => s.req.destroy();
  return s;
}

async function until(pred, ms, what) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function subscribed(s) {
  await until(() => /data: p?subscribe,/.test(s.text) || s.endedAt !== null, 5000, "subscribe");
  assert.equal(s.status, 200, s.text);
  assert.equal(s.endedAt, null, `stream ended early: ${s.text}`);
}

// The stream is still delivering: a PUBLISH on `channel` reaches it.
async function delivers(stack, s, channel) {
  const tag = `m${Math.random().toString(36).slice(2)}`;
  await stack.redis.call("PUBLISH", channel, tag);
  await until(() => s.text.includes(`,${tag}`) || s.endedAt !== null, 3000, `${tag} on ${channel}`);
  assert.ok(s.text.includes(`,${tag}`), `message not delivered on ${channel}: ${s.text.slice(-200)}`);
}

// The stream was closed by keyward with a final error event naming `why`.
function closedWith(s, why) {
  assert.notEqual(s.endedAt, null, "stream still open");
  assert.match(s.text, new RegExp(`event: error\\ndata: \\{"error":"${why}[^"]*"\\}\\n\\n$`), s.text);
}

async function reloadApi(stack) {
  const r = await adminCall(stack, stack.keyward, "POST", "/v1/reload");
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { reloaded: true });
}

for (const mode of MODES) {
  describe(`creds streams (${mode} mode)`, () => {
    let stack, keys;
    const mintAdmin = async (ttl = "10m", client = "session") => {
      const r = await adminCall(stack, stack.keyward, "POST", "/v1/tokens", { client, sub: "u1", ttl });
      assert.equal(r.status, 200, r.text);
      return r.json;
    };
    before(async () => {
      keys = keyDir();
      const ed = await edKey(keys.dir, "k1", { withPrivate: true });
      stack = await startModeStack(mode, {
        signing: signingSection([ed], keys.revokedFile, { leeway: "0s" }),
        extraClients: {
          session: { credentials: ["jwt"], commands: ["+subscribe", "+psubscribe"],
                     channels: ["room:*"] },
          doomed: { commands: ["+subscribe"], channels: ["doom:*"] },
        },
      });
    });
    after(async () => {
      await stack?.stop();
      keys?.cleanup();
    });

    test("revoke while streaming: final event and close within 1 s, others keep running", async () => {
      const a = await mintAdmin();
      const b = await mintAdmin();
      const victim = openStream(stack, "/subscribe/room:a", a.token);
      const pvictim = openStream(stack, "/psubscribe/room:*", a.token);
      const other = openStream(stack, "/subscribe/room:a", b.token);
      const keyed = openStream(stack, "/subscribe/chat:a", stack.keys.chat);
      for (const s of [victim, pvictim, other, keyed]) await subscribed(s);
      await delivers(stack, victim, "room:a");
      const r = await underAttack(stack, async () => {
        const t0 = Date.now();
        const rv = await adminCall(stack, stack.keyward, "POST", "/v1/tokens/revoke", { jti: a.jti });
        assert.equal(rv.status, 200, rv.text);
        await Promise.race([Promise.all([victim.ended, pvictim.ended]), sleep(1500)]);
        return { victim: victim.endedAt - t0, pvictim: pvictim.endedAt - t0 };
      }, { durationMs: 1500 });
      report(`creds_streams.revoke.${mode}`, { closeMs: r.attack, p99: r.probe.p99 });
      closedWith(victim, "WRONGPASS token revoked");
      closedWith(pvictim, "WRONGPASS token revoked");
      assert.ok(r.attack.victim >= 0 && r.attack.victim < 1000, `closed after ${r.attack.victim} ms`);
      assert.ok(r.attack.pvictim >= 0 && r.attack.pvictim < 1000, `closed after ${r.attack.pvictim} ms`);
      assert.equal(r.probe.failed, 0, JSON.stringify(r.probe.statuses));
      assert.ok(r.probe.p99 < 50, `probe p99 ${r.probe.p99} ms`);
      assert.ok(r.peakRssKiB - r.baseRssKiB < RSS_BOUND_KIB, `rss +${r.peakRssKiB - r.baseRssKiB} KiB`);
      // Controls: another token of the same client and a static-key stream keep delivering.
      await delivers(stack, other, "room:a");
      await delivers(stack, keyed, "chat:a");
      // The revoked token cannot open a new stream either.
      const again = openStream(stack, "/subscribe/room:a", a.token);
      await again.ended;
      assert.equal(again.status, 401);
      for (const s of [other, keyed]) s.close();
    });

    test("@upstash/redis subscriber: a revoked token's subscription ends cleanly", async () => {
      const t = await mintAdmin();
      const redis = new Redis({ url: stack.url, token: t.token, retry: false });
      const sub = redis.subscribe(["room:sdk"]);
      const got = [];
      const errors = [];
      let count = 0;
      sub.on("subscribe", (n) => { count = n; });
      sub.on("message", (m) => got.push(m.message));
      sub.on("error", (e) => errors.push(e));
      await until(() => count === 1, 5000, "sdk subscribe");
      await stack.redis.call("PUBLISH", "room:sdk", "before");
      await until(() => got.includes("before"), 3000, "sdk message");
      const numsub = async () => (await stack.redis.call("PUBSUB", "NUMSUB", "room:sdk"))[1];
      assert.equal(await numsub(), 1);
      const rv = await adminCall(stack, stack.keyward, "POST", "/v1/tokens/revoke", { jti: t.jti });
      assert.equal(rv.status, 200, rv.text);
      const t0 = Date.now();
      while (await numsub() !== 0 && Date.now() - t0 < 2000) await sleep(20);
      assert.equal(await numsub(), 0, "upstream subscription outlived the revoked token");
      assert.ok(Date.now() - t0 < 1000, `torn down after ${Date.now() - t0} ms`);
      await stack.redis.call("PUBLISH", "room:sdk", "after");
      await sleep(200);
      assert.ok(!got.includes("after"), "message delivered after revocation");
      // The final event is not a message: the SDK dispatches nothing for it and does not throw.
      assert.deepEqual(got, ["before"]);
      assert.equal(errors.length, 0, String(errors[0]));
      await sub.unsubscribe().catch(() => {});
    });

    test("exp passing while streaming closes the stream at exp", async () => {
      const t = await mintAdmin("3s");
      const s = openStream(stack, "/subscribe/room:exp", t.token);
      await subscribed(s);
      await delivers(stack, s, "room:exp");
      await Promise.race([s.ended, sleep(6000)]);
      closedWith(s, "WRONGPASS token expired");
      const lateMs = s.endedAt - t.expires_at * 1000;
      report(`creds_streams.exp.${mode}`, { lateMs });
      assert.ok(lateMs >= -1000 && lateMs < 1000, `closed ${lateMs} ms after exp`);
    });

    test("reload removing the channel grant, then the client, closes their streams", async () => {
      const t = await mintAdmin();
      const granted = openStream(stack, "/subscribe/room:g", t.token);
      const doomed = openStream(stack, "/subscribe/doom:x", stack.keys.doomed);
      const keyed = openStream(stack, "/subscribe/chat:r", stack.keys.chat);
      for (const s of [granted, doomed, keyed]) await subscribed(s);

      // An unrelated reload (a new client) changes nothing for any of them.
      rewriteConfig(stack.keyward, (c) => {
        c.clients.push({ name: "newcomer", commands: ["+get"], keys: ["n:*"] });
      });
      await reloadApi(stack);
      await sleep(100);
      for (const [s, ch] of [[granted, "room:g"], [doomed, "doom:x"], [keyed, "chat:r"]]) {
        await delivers(stack, s, ch);
      }

      let t0 = Date.now();
      rewriteConfig(stack.keyward, (c) => {
        c.clients.find((x) => x.name === "session").channels = ["hall:*"];
      });
      await reloadApi(stack);
      await Promise.race([granted.ended, sleep(1500)]);
      closedWith(granted, "NOPERM");
      assert.ok(granted.endedAt - t0 < 1000, `grant stream closed after ${granted.endedAt - t0} ms`);
      assert.equal(doomed.endedAt, null, "unrelated stream closed by a grant change");

      t0 = Date.now();
      rewriteConfig(stack.keyward, (c) => {
        c.clients = c.clients.filter((x) => x.name !== "doomed");
      });
      await reloadApi(stack);
      await Promise.race([doomed.ended, sleep(1500)]);
      closedWith(doomed, "WRONGPASS credential no longer valid");
      assert.ok(doomed.endedAt - t0 < 1000, `client stream closed after ${doomed.endedAt - t0} ms`);
      await delivers(stack, keyed, "chat:r");
      keyed.close();
    });
  });
}
