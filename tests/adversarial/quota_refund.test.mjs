// min-assertions: 14
// Billed for nothing (README, Quotas): a request charged against a client's budget but never
// written upstream (here the upstream cannot be reached: its port refuses connections) gets its
// charge back, so a client is never refused for commands that never ran; a request that was
// written keeps its charge. A TCP relay in front of the real upstream (redis-server, or the inner
// keyward in REST mode) is switched off and on.
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { assert } from "../e2e/counted_assert.mjs";
import { freePort } from "../e2e/harness.mjs";
import { request } from "../e2e/http.mjs";
import { MODES, metric, report, startModeStack } from "./lib.mjs";

const PER_DAY = 3;
const CAPPED = { capped: { commands: ["+get"], keys: ["cap:*"], limits: { per_day: PER_DAY } } };

// A TCP relay on `port` to 127.0.0.1:`target` that can be switched off (refusing connections,
// dropping those it carries) and on again.
function relay(port, target) {
  const socks = new Set();
  let server = null;
  return {
    async on() {
      server = net.createServer((c) => {
        const u = net.connect(target, "127.0.0.1");
        for (const s of [c, u]) {
          socks.add(s);
          s.on("error", () => {});
          s.on("close", () => socks.delete(s));
        }
        c.pipe(u);
        u.pipe(c);
      });
      await new Promise((r) => server.listen(port, "127.0.0.1", r));
    },
    async off() {
      if (server === null) return;
      await new Promise((r) => { server.close(r); for (const s of socks) s.destroy(); });
      server = null;
    },
  };
}

for (const mode of MODES) {
  describe(`quota refunds (${mode} mode)`, () => {
    let stack;
    let kw;
    let up;
    before(async () => {
      stack = await startModeStack(mode, { extraClients: CAPPED });
      const port = await freePort();
      up = relay(port, mode === "rest" ? stack.inner.port : stack.redisPort);
      kw = await stack.startKeyward(mode === "rest"
        ? { upstreamUrl: `https://localhost:${port}`, upstreamToken: stack.innerKey,
            upstream: { ca_file: stack.certs.ca, timeout: "2s" } }
        : { upstreamUrl: `redis://127.0.0.1:${port}`, upstream: { timeout: "2s" } });
    });
    after(async () => {
      await up?.off();
      await stack?.stop();
    });

    test("requests that never reached the upstream cost nothing; the budget stays exact", async () => {
      const refunded0 = await metric(kw, "keyward_quota_refunded_total");
      const failed = [];
      for (let i = 0; i < 2 * PER_DAY; i++) {
        failed.push((await request(kw.port, { body: ["GET", "cap:k"], key: stack.keys.capped })).status);
      }
      // Unreachable: 502 every time, never a 429 for a budget spent on nothing.
      assert.deepEqual(failed, Array(2 * PER_DAY).fill(502), JSON.stringify(failed));
      assert.equal((await metric(kw, "keyward_quota_refunded_total")) - refunded0, 2 * PER_DAY);
      await up.on();
      const served = [];
      for (let i = 0; i < PER_DAY + 2; i++) {
        served.push((await request(kw.port, { body: ["GET", "cap:k"], key: stack.keys.capped })).status);
      }
      report(`quota_refund ${mode}`, { failed, served });
      // The whole budget is still there, and no more than it.
      assert.deepEqual(served, [...Array(PER_DAY).fill(200), 429, 429], JSON.stringify(served));
      assert.equal((await metric(kw, "keyward_quota_refunded_total")) - refunded0, 2 * PER_DAY);
    });

    test("a request written before the upstream went away keeps its charge", async () => {
      // The budget is spent (above). Another client, uncapped, sees an upstream that drops the
      // connection after the request was written: outcome unknown, so its charge stays.
      const refunded0 = await metric(kw, "keyward_quota_refunded_total");
      const busy = "local s = redis.call('TIME') repeat local n = redis.call('TIME') " +
        "until (n[1] - s[1]) * 1000000 + (n[2] - s[2]) >= 1000000 return 1";  // 1 s of Redis time
      const slow = request(kw.port, { body: ["EVAL", busy, "0"], key: stack.keys.admin });
      await new Promise((r) => setTimeout(r, 300));
      await up.off();
      const res = await slow;
      assert.ok(res.status === 502 || res.status === 504, `${res.status} ${res.text}`);
      assert.match(res.text, /outcome unknown/);
      assert.equal((await metric(kw, "keyward_quota_refunded_total")) - refunded0, 0);
    });
  });
}
