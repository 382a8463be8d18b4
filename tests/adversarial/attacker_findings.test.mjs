// min-assertions: 26
// Findings of an attacker briefed only with the contract and a release build, each kept as a
// row: a write whose reply is too large is never reported as "not executed"; RESTORE cannot
// create consumer groups outside a grant; in REST mode an upstream's 403 for one tenant's
// command is that tenant's answer, not an upstream authentication failure that would turn
// /readyz to 503 for everybody; RESTORE and LOLWUT are never forwarded, whatever the grant
// (attack round 18: a crafted 35-byte DUMP payload was accepted and crashed redis-server on the
// key's next read; LOLWUT VERSION 6 1000 1000 cost 237 ms of Redis per call).
import { after, before, describe, test } from "node:test";
import { assert } from "../e2e/counted_assert.mjs";
import { adminCall } from "../e2e/harness.mjs";
import { request } from "../e2e/http.mjs";
import { MODES, sleep, startModeStack } from "./lib.mjs";

// /readyz turns 200 once the first upstream check answered (every 2 s): wait for it.
async function waitReady(stack) {
  for (let i = 0; i < 60; i++) {
    const r = await adminCall(stack, stack.keyward, "GET", "/readyz");
    if (r.status === 200) return;
    await sleep(100);
  }
  throw new Error("keyward never became ready");
}

const CLIENTS = {
  // restore is @dangerous: named one by one. No consumer_groups grant at all.
  restorer: { commands: ["+@read", "+@write", "+restore", "+dump"], keys: ["r:*"] },
  // The widest grant there is, RESTORE and LOLWUT named one by one.
  root: { commands: ["+@all", "+restore", "+lolwut"], keys: ["*"], consumer_groups: ["*"] },
};

// Round 18's payload: a DUMP of a two-field listpack hash with one entry's length byte changed
// and the checksum recomputed. Redis 7.0 (sanitize-dump-payload no) accepts it and asserts on
// the first HGETALL of the key.
const CRAFTED_DUMP = Buffer.from("10171700000004008f663103827631038266320382763203ff0a004f35c130cc20d06a", "hex");

for (const mode of MODES) {
  describe(`attacker findings (${mode} mode)`, () => {
    let stack;
    before(async () => {
      stack = await startModeStack(mode, {
        extraClients: CLIENTS, upstream: { max_reply_elements: 1000 },
      });
      await waitReady(stack);
    });
    after(async () => {
      await stack?.stop();
    });

    test("a transaction whose reply is over a limit ran: the answer says so", async () => {
      await stack.redis.call("DEL", "app:cnt", "app:w", "app:big");
      // 5,000 values to read back: over max_reply_elements (1,000).
      await stack.redis.call("RPUSH", "app:big", ...Array.from({ length: 5000 }, (_, i) => `v${i}`));
      const res = await request(stack.port, {
        path: "/multi-exec", key: stack.keys.admin,
        body: [["INCR", "app:cnt"], ["SET", "app:w", "written"], ["LRANGE", "app:big", "0", "-1"]],
      });
      assert.equal(await stack.redis.call("GET", "app:cnt"), "1", "the transaction ran once");
      assert.equal(await stack.redis.call("GET", "app:w"), "written");
      if (mode === "redis") {
        assert.equal(res.status, 502, res.text);
        assert.match(res.json?.error ?? "", /the command ran; its reply was dropped/);
      } else {
        // The element limit is the Redis upstream's; the inner keyward's default lets it pass.
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json?.[2]?.result?.length, 5000);
      }
    });

    test("a pipeline's one forwarded command over a limit: its slot says so, the others answer", async () => {
      // Round-2 finding: a pipeline whose only forwarded command had an over-limit reply failed
      // whole (502), and its denied slots were lost.
      const res = await request(stack.port, {
        path: "/pipeline", key: stack.keys.admin,
        body: [["SELECT", "1"], ["LRANGE", "app:big", "0", "-1"], ["SELECT", "2"]],
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json?.length, 3, res.text);
      assert.match(res.json[0].error, /^NOPERM/);
      assert.match(res.json[2].error, /^NOPERM/);
      if (mode === "redis") {
        assert.match(res.json[1].error, /the command ran; its reply was dropped/);
      } else {
        assert.equal(res.json[1].result?.length, 5000);
      }
    });

    test("a single command's over-limit reply: the error says it ran", async () => {
      const res = await request(stack.port, { body: ["LRANGE", "app:big", "0", "-1"],
                                              key: stack.keys.admin });
      if (mode === "redis") {
        assert.equal(res.status, 502, res.text);
        assert.match(res.json?.error ?? "", /the command ran/);
      } else {
        assert.equal(res.status, 200, res.text);
      }
    });

    test("RESTORE of a stream payload cannot create a consumer group outside the grant", async () => {
      await stack.redis.call("DEL", "r:src", "r:dst");
      await stack.redis.call("XADD", "r:src", "*", "f", "v");
      await stack.redis.call("XGROUP", "CREATE", "r:src", "zzzforbidden", "0");
      const res = await request(stack.port, {
        method: "POST", path: "/restore/r:dst/0", key: stack.keys.restorer,
        body: "payload",
      });
      assert.equal(res.status, 403, res.text);
      assert.match(res.json?.error ?? "", /^NOPERM/);
      assert.equal(await stack.redis.call("EXISTS", "r:dst"), 0, "nothing was restored");
      const dumped = await request(stack.port, { body: ["DUMP", "r:src"], key: stack.keys.restorer });
      assert.equal(dumped.status, 403, "DUMP names the stream's groups");
    });

    test("RESTORE and LOLWUT never reach redis-server, whatever the grant", async () => {
      await stack.redis.call("CONFIG", "RESETSTAT");
      const restored = await request(stack.port, {
        method: "POST", path: "/restore/crash/0", key: stack.keys.root, body: CRAFTED_DUMP });
      assert.equal(restored.status, 403, restored.text);
      assert.match(restored.json?.error ?? "", /^NOPERM 'restore'/);
      const piped = await request(stack.port, { path: "/pipeline", key: stack.keys.root,
        body: [["RESTORE", "crash2", "0", "x"], ["LOLWUT", "VERSION", "6", "1000", "1000"], ["SET", "r:after", "1"]] });
      assert.equal(piped.status, 200, piped.text);
      assert.match(piped.json[0].error ?? "", /^NOPERM 'restore'/);
      assert.match(piped.json[1].error ?? "", /^NOPERM 'lolwut'/);
      assert.equal(piped.json[2].result, "OK");
      const stats = String(await stack.redis.call("INFO", "commandstats"));
      assert.doesNotMatch(stats, /cmdstat_(restore|lolwut):/, "RESTORE or LOLWUT reached redis-server");
      assert.equal(await stack.redis.call("EXISTS", "crash", "crash2"), 0);
      assert.equal(await stack.redis.call("PING"), "PONG");
    });

    test("control: an allowed command keeps working and /readyz stays 200", async () => {
      const set = await request(stack.port, { body: ["SET", "r:ok", "1"], key: stack.keys.restorer });
      assert.equal(set.status, 200, set.text);
      const ready = await adminCall(stack, stack.keyward, "GET", "/readyz");
      assert.equal(ready.status, 200, ready.text);
    });
  });
}

// REST mode only: the outer keyward grants a command the inner one refuses (as a read-only
// Upstash token would). The tenant gets the refusal; readiness is untouched.
describe("REST mode: an upstream 403 is the tenant's answer, not an upstream auth failure", () => {
  let stack;
  before(async () => {
    // KEYS is @dangerous: the outer grants it by name, the inner keyward (+@all) does not.
    stack = await startModeStack("rest", {
      extraClients: { lister: { commands: ["+@all", "+keys"], keys: ["*"] } },
    });
    await waitReady(stack);
  });
  after(async () => {
    await stack?.stop();
  });

  test("the refusal passes through as 403 NOPERM; /readyz stays 200", async () => {
    for (let i = 0; i < 20; i++) {
      const res = await request(stack.port, { body: ["KEYS", "*"], key: stack.keys.lister });
      assert.equal(res.status, 403, res.text);
      assert.match(res.json?.error ?? "", /^NOPERM/);
    }
    // Readiness is re-decided every 2 s: watch it across two checks.
    for (let i = 0; i < 5; i++) {
      await sleep(500);
      const ready = await adminCall(stack, stack.keyward, "GET", "/readyz");
      assert.equal(ready.status, 200, ready.text);
    }
    const ok = await request(stack.port, { body: ["SET", "app:after", "1"], key: stack.keys.lister });
    assert.equal(ok.status, 200, ok.text);
  });
});
