// min-assertions: 60
// upstash-sync-token as a side channel (README, Policy semantics: nothing outside a grant is revealed). A
// client's token is the time of keyward's response in microseconds, in both modes: no other
// tenant's traffic, nor another user of the same client (attack round 29b: a per-client counter
// showed one JWT user how many requests the others made), moves it, and in REST mode it never
// equals (or follows) the upstream's token, which moves with every tenant's traffic. The
// @upstash/redis SDK still works through keyward (it echoes the last token it got; keyward
// forwards that client's own newest upstream token instead).
import { after, before, describe, test } from "node:test";
import { Redis } from "../e2e/node_modules/@upstash/redis/nodejs.mjs";
import { assert } from "../e2e/counted_assert.mjs";
import { request } from "../e2e/http.mjs";
import { MODES, report, startModeStack, underAttack } from "./lib.mjs";

const WRITES = 50;
// Tenant A, the victim whose token is watched; tenant B is the default admin client.
const VICTIM = { victim: { commands: ["+get", "+set", "+incr"], keys: ["victim:*"] } };

// The victim's token from one request (its own key space), as a BigInt: the response's time in
// microseconds, between the request's start and its answer.
async function tokenOf(port, key, body, sent = "") {
  const before = BigInt(Date.now()) * 1000n;
  const res = await request(port, { body, key, headers: { "upstash-sync-token": sent } });
  const after = (BigInt(Date.now()) + 1n) * 1000n;
  assert.equal(res.status, 200, res.text);
  const t = res.headers["upstash-sync-token"];
  assert.match(String(t), /^[0-9]+$/, `token ${t} is not a number`);
  const v = BigInt(t);
  assert.ok(v >= before && v <= after, `token ${v} is not the response time (${before}..${after})`);
  return v;
}

for (const mode of MODES) {
  describe(`sync token (${mode} mode)`, () => {
    let stack;
    // REST mode: the upstream (inner keyward) answered directly with the outer's own upstream
    // credential, i.e. the token keyward receives for all its tenants' traffic.
    const upstreamToken = () =>
      tokenOf(stack.inner.port, stack.secrets().at(-1), ["GET", "upstream:probe"]);
    before(async () => {
      stack = await startModeStack(mode, { extraClients: VICTIM });
    });
    after(async () => {
      await stack?.stop();
    });

    test("another tenant's writes do not move a client's token; no upstream token shows", async () => {
      const a = stack.keys.victim;
      const b = stack.keys.admin;
      const mine = [];
      const seenUp = [];
      let t = await tokenOf(stack.port, a, ["SET", "victim:a", "0"]);
      mine.push(t);
      for (let round = 0; round < 3; ++round) {
        if (mode === "rest") seenUp.push(await upstreamToken());
        for (let i = 0; i < WRITES; ++i) {
          const res = await request(stack.port, { body: ["SET", `b:${i}`, "x"], key: b });
          assert.equal(res.status, 200, res.text);
        }
        if (mode === "rest") {
          seenUp.push(await upstreamToken());
          // The upstream's token did follow B's traffic: relaying it would have shown it to A.
          assert.ok(seenUp.at(-1) - seenUp.at(-2) >= BigInt(WRITES), `upstream moved ${seenUp.at(-1) - seenUp.at(-2)}`);
        }
        const next = await tokenOf(stack.port, a, ["SET", "victim:a", String(round)], String(t));
        // The response time (tokenOf), which no count of B's writes can move.
        assert.ok(next > t, `A's token went from ${t} to ${next}`);
        mine.push(next);
        t = next;
      }
      for (const u of seenUp) assert.ok(!mine.includes(u), `A got the upstream's token ${u}`);
      // Nor is A's a fixed offset of the upstream's (it would then follow B's traffic).
      if (mode === "rest") assert.ok(mine.at(-1) - mine[0] !== seenUp.at(-1) - seenUp[0]);
      report(`sync_token.isolation.${mode}`, { a: mine.map(String), upstream: seenUp.map(String) });
    });

    test("under a write flood by another tenant: A's tokens stay the response time, the probe unharmed", async () => {
      const a = stack.keys.victim;
      const b = stack.keys.admin;
      let stop = false;
      let flooded = 0;
      const flood = async (n) => {
        while (!stop) {
          const res = await request(stack.port, { body: ["SET", `flood:${n}`, String(flooded)], key: b });
          if (res.status === 200) ++flooded;
        }
      };
      const r = await underAttack(stack, async () => {
        const loops = [0, 1, 2].map(flood);
        let t = await tokenOf(stack.port, a, ["GET", "victim:a"]);
        let steps = 0;
        for (let i = 0; i < 20; ++i) {
          const next = await tokenOf(stack.port, a, ["INCR", "victim:n"], String(t));
          if (next > t) ++steps;  // tokenOf: within the request's own time
          t = next;
        }
        stop = true;
        await Promise.all(loops);
        return { steps };
      }, { durationMs: 2500 });
      report(`sync_token.flood.${mode}`, { ...r.probe, peakRssKiB: r.peakRssKiB, flooded });
      assert.equal(r.attack.steps, 20, "A's token went back while B wrote");
      assert.ok(flooded > 20, `flood made only ${flooded} writes`);
      assert.equal(r.probe.failed, 0, JSON.stringify(r.probe.statuses));
      assert.ok(r.probe.p99 < 50, `p99 ${r.probe.p99} ms`);
      // No per-client state: nothing a request can grow.
      assert.ok(r.peakRssKiB - r.baseRssKiB < 64 * 1024, `RSS grew ${r.peakRssKiB - r.baseRssKiB} KiB`);
    });

    test("control: the @upstash/redis SDK works through keyward, its token is keyward's own", async () => {
      const sdk = new Redis({ url: stack.url, token: stack.keys.victim, retry: false });
      assert.equal(await sdk.set("victim:sdk", "v1"), "OK");
      const t1 = sdk.readYourWritesSyncToken;
      assert.match(String(t1), /^[0-9]+$/);
      assert.equal(await sdk.get("victim:sdk"), "v1");
      assert.equal(await sdk.incr("victim:sdk:n"), 1);
      const t2 = sdk.readYourWritesSyncToken;
      assert.match(String(t2), /^[0-9]+$/);
      assert.ok(BigInt(t2) > BigInt(t1), `token did not advance: ${t1} -> ${t2}`);
      const [x, y] = await Promise.all([sdk.get("victim:sdk"), sdk.get("victim:sdk:n")]);
      assert.equal(x, "v1");
      assert.equal(y, 1);
      if (mode === "rest") {
        const u = await upstreamToken();
        assert.notEqual(BigInt(sdk.readYourWritesSyncToken), u, "the SDK holds the upstream's token");
      }
    });
  });
}
