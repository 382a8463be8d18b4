// min-assertions: 40
// One user of a client against another user of the same client (attack round 19): browsers of
// one app share its client, each with its own JWT `sub`. One `sub` sending twenty slow requests
// at once took the client's whole max_in_flight (the other `sub`'s plain GET got 429 for 3 s)
// and queued ahead of the other `sub` in the client's FIFO (its SINTERCARD waited 3.6-4.9 s,
// 504 with forty). Now an identity holds at most half of its client's share, and a client's
// identities take turns in the upstream wait queues.
import fs from "node:fs";
import tls from "node:tls";
import { after, before, describe, test } from "node:test";
import { assert } from "../e2e/counted_assert.mjs";
import { adminCall, certs } from "../e2e/harness.mjs";
import { request } from "../e2e/http.mjs";
import { edKey, keyDir, signingSection } from "../e2e/jwt_support.mjs";
import { MODES, report, startModeStack } from "./lib.mjs";

const ca = fs.readFileSync(certs().ca);
const MAX_IN_FLIGHT = 20;
const BURST = 2 * MAX_IN_FLIGHT;

// `n` TLS connections opened first, then one POST / of `body` written on each at once; resolves
// to [{status, text, ms}] in the order sent (ms: from the write to the end of the answer).
async function burst(port, token, body, n) {
  const sockets = await Promise.all(Array.from({ length: n }, () => new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => resolve(s));
    s.on("error", reject);
  })));
  const payload = JSON.stringify(body);
  const req = `POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
    `Content-Length: ${Buffer.byteLength(payload)}\r\nConnection: close\r\n\r\n${payload}`;
  const t0 = Date.now();
  const answers = sockets.map((s) => new Promise((resolve) => {
    const chunks = [];
    s.on("data", (d) => chunks.push(d));
    s.on("close", () => {
      const text = Buffer.concat(chunks).toString();
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0),
                retryAfter: /\r\nretry-after: *([^\r]*)\r\n/i.exec(text)?.[1],
                text: text.slice(text.indexOf("\r\n\r\n") + 4), ms: Date.now() - t0 });
    });
  }));
  for (const s of sockets) s.write(req);
  return answers;  // promises, so the caller can send more while these run
}

for (const mode of MODES) {
  describe(`identity shares within a client (${mode} mode)`, () => {
    let stack, keys, alice, bob;
    before(async () => {
      keys = keyDir();
      const ed = await edKey(keys.dir, "k1", { withPrivate: true });
      stack = await startModeStack(mode, {
        signing: signingSection([ed], keys.revokedFile),
        extraClients: {
          app: { credentials: ["jwt"], commands: ["+get", "+sunionstore", "+sintercard"], keys: ["u:*"],
                 limits: { max_in_flight: MAX_IN_FLIGHT } },
        },
      });
      // SUNIONSTORE of a 100,000-member set: tens of milliseconds of Redis each.
      await stack.redis.call("EVAL", "for i = 1, 100000 do redis.call('SADD', KEYS[1], i) end return 1", "1", "u:big");
      await stack.redis.call("SADD", "u:small", "a", "b");
      for (const [name, sub] of [["alice", "alice"], ["bob", "bob"]]) {
        const t = await adminCall(stack, stack.keyward, "POST", "/v1/tokens", { client: "app", sub, ttl: "10m" });
        assert.equal(t.status, 200, t.text);
        if (name === "alice") alice = t.json.token;
        else bob = t.json.token;
      }
    });
    after(async () => {
      await stack?.stop();
      keys?.cleanup();
    });

    test("one identity's burst takes half of the client's max_in_flight; another's GET gets in", async () => {
      const pending = await burst(stack.port, alice, ["SUNIONSTORE", "u:copy", "u:big"], BURST);
      // Alice's admitted requests are at (or queued for) Redis now: Bob's plain GET is not refused.
      const t0 = Date.now();
      const get = await request(stack.port, { key: bob, body: ["GET", "u:small-none"] });
      const getMs = Date.now() - t0;
      const bobSized = request(stack.port, { key: bob, body: ["SINTERCARD", "1", "u:small"] });
      const answers = await Promise.all(pending);
      const sized = await bobSized;
      const statuses = answers.map((a) => a.status);
      const ok = answers.filter((a) => a.status === 200);
      const refused = answers.filter((a) => a.status === 429);
      const aliceLast = Math.max(...ok.map((a) => a.ms));
      report(`identity_shares ${mode}`, { statuses, getStatus: get.status, getMs, aliceLast });
      assert.equal(get.status, 200, `Bob's GET: ${get.status} ${get.text}`);
      assert.equal(ok.length, MAX_IN_FLIGHT / 2, `Alice got ${ok.length} of ${BURST} in (statuses ${statuses})`);
      assert.equal(refused.length, BURST - MAX_IN_FLIGHT / 2);
      for (const r of refused) {
        assert.match(r.text, /this identity has \d+ requests at the upstream, half of its client's share/);
        assert.equal(r.retryAfter, "1", "a share refusal says when to retry (attack round 21)");
      }
      assert.equal(sized.status, 200, sized.text);
      assert.deepEqual(sized.json, { result: 2 });
    });

    // Redis mode only: the Redis pool is where data-sized requests wait their turn (in the REST
    // stack here the inner keyward sees one client, the outer one, and Upstash queues nothing).
    if (mode === "redis") test("a client's identities take turns in the wait queue", async () => {
      // Alice's ten data-sized requests run one at a time (per worker); Bob's, sent after them,
      // takes the next turn instead of waiting behind all of Alice's.
      const pending = await burst(stack.port, alice, ["SUNIONSTORE", "u:copy", "u:big"], MAX_IN_FLIGHT / 2);
      await new Promise((r) => setTimeout(r, 5));
      const t0 = Date.now();
      const sized = await request(stack.port, { key: bob, body: ["SINTERCARD", "1", "u:small"] });
      const bobMs = Date.now() - t0;
      const answers = await Promise.all(pending);
      const aliceLast = Math.max(...answers.map((a) => a.ms));
      report(`identity_shares turns ${mode}`, { bobMs, aliceLast, alice: answers.map((a) => a.ms) });
      assert.equal(sized.status, 200, sized.text);
      for (const a of answers) assert.equal(a.status, 200, a.text);
      // Bob waits for at most the one running on his worker and the next on the other (Redis runs
      // one command at a time): well under Alice's ten (half of them, with room for load).
      assert.ok(bobMs < aliceLast * 0.75, `Bob's request (${bobMs} ms) waited for most of Alice's (${aliceLast} ms)`);
    });
  });
}
