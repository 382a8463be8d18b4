// Quotas through the real binary (README, Configuration; Quotas): exact day
// budgets under 16 concurrent pipelining clients (per client and global), a restart that keeps
// the spent budget, three replicas sharing one store under a 400-command budget, a 50/s rate,
// and requests denied by policy costing nothing. Ground truth: the upstream redis-server's own
// counters (a counter key the commands INCR, and INFO commandstats).
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { assert } from "./counted_assert.mjs";
import { measure, sleep, startRedis, startStack } from "./harness.mjs";
import { request } from "./http.mjs";

const INCR = { commands: ["+incr", "+get"], keys: ["q:*"] };

let stack;
let rt;

before(async () => {
  stack = await startStack({
    extraClients: {
      day500: { ...INCR, limits: { per_day: 500 } },
      glob_a: INCR,
      glob_b: INCR,
      restart: { ...INCR, limits: { per_day: 500, per_month: 100000 } },
      rate50: { ...INCR, limits: { rate: "50/s", burst: 50 } },
      free: { commands: ["+get"], keys: ["app:*"], limits: { per_day: 5 } },
      // Its own per_day above the plan's, so the shared global budget is what binds.
      shared: { ...INCR, limits: { per_day: 1000000 } },
      share_a: INCR,
      share_b: INCR,
    },
  });
  rt = stack.redis;
});
after(async () => {
  await stack?.stop();
});

const pipeline = (key, n) => Array.from({ length: n }, () => ["INCR", key]);

// One worker: pipelines of 1-9 INCRs until a 429 for a single command. Returns commands accepted.
async function drain(port, clientKey, counter) {
  let accepted = 0;
  let size = 1 + Math.floor(Math.random() * 9);
  for (;;) {
    const r = await request(port, { path: "/pipeline", body: pipeline(counter, size), key: clientKey });
    if (r.status === 200) {
      assert.equal(r.json.length, size);
      accepted += size;
      size = 1 + Math.floor(Math.random() * 9);
    } else {
      assert.equal(r.status, 429, r.text);
      if (size === 1) return accepted;
      size = 1;  // a smaller request may still fit the rest of the budget
    }
  }
}

async function counterValue(key) {
  return Number((await rt.call("GET", key)) ?? 0);
}

describe("day budgets are exact under concurrency", () => {
  test("16 concurrent clients against a client's 500-command day: exactly 500 run upstream", async () => {
    const kw = await stack.startKeyward({ quota: { state_file: path.join(stack.dir, "day500.state") } });
    const [accepted, delta] = await measure(rt, () => Promise.all(
      Array.from({ length: 16 }, () => drain(kw.port, stack.keys.day500, "q:day500"))));
    const total = accepted.reduce((a, b) => a + b, 0);
    assert.equal(total, 500, `accepted ${total}`);
    assert.equal(await counterValue("q:day500"), 500);
    assert.equal(delta.incr, 500);
    const r = await request(kw.port, { body: ["INCR", "q:day500"], key: stack.keys.day500 });
    assert.equal(r.status, 429);
    assert.match(r.json.error, /^ERR daily command budget of this client exhausted \(per_day 500\)/);
    assert.equal(r.headers["ratelimit-policy"], '"day";q=500;w=86400');
    const retry = Number(r.headers["retry-after"]);
    assert.ok(retry >= 1 && retry <= 86400, `Retry-After ${retry}`);
    assert.equal(r.headers["ratelimit"], `"day";r=0;t=${retry}`);
  });

  test("the global budget.per_day of 500 holds across two clients with 8 workers each", async () => {
    const kw = await stack.startKeyward({
      quota: { state_file: path.join(stack.dir, "global.state") },
      budget: { per_second: 0, per_day: 500, per_month: 0 },
    });
    const [accepted, delta] = await measure(rt, () => Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        drain(kw.port, i % 2 ? stack.keys.glob_a : stack.keys.glob_b, `q:global${i % 2}`))));
    assert.equal(accepted.reduce((a, b) => a + b, 0), 500);
    assert.equal((await counterValue("q:global0")) + (await counterValue("q:global1")), 500);
    assert.equal(delta.incr, 500);
    const r = await request(kw.port, { body: ["GET", "q:global0"], key: stack.keys.glob_a });
    assert.equal(r.status, 429);
    assert.match(r.json.error, /daily command budget of the upstream plan exhausted \(budget\.per_day 500\)/);
    assert.equal(r.headers["ratelimit-policy"], '"global-day";q=500;w=86400');
  });
});

describe("default shares of the plan's budget (README, Limits and shares)", () => {
  test("a client without its own per_day gets half of budget.per_day; the others keep theirs", async () => {
    const kw = await stack.startKeyward({
      quota: { state_file: path.join(stack.dir, "share.state") },
      budget: { per_second: 0, per_day: 100, per_month: 0 },
    });
    const [first, delta] = await measure(rt, () => Promise.all(
      Array.from({ length: 4 }, () => drain(kw.port, stack.keys.share_a, "q:share_a"))));
    assert.equal(first.reduce((a, b) => a + b, 0), 50);
    assert.equal(delta.incr, 50);
    const r = await request(kw.port, { body: ["INCR", "q:share_a"], key: stack.keys.share_a });
    assert.equal(r.status, 429);
    assert.match(r.json.error,
                 /^ERR daily command budget of this client exhausted \(per_day 50: unset, the default share is half of budget\.per_day\)/);
    // The other half is still there for everyone else.
    const other = await Promise.all(
      Array.from({ length: 4 }, () => drain(kw.port, stack.keys.share_b, "q:share_b")));
    assert.equal(other.reduce((a, b) => a + b, 0), 50);
    await kw.stop();
  });

  test("a client without its own rate gets half of budget.per_second", async () => {
    const kw = await stack.startKeyward({ budget: { per_second: 20, per_day: 0, per_month: 0 } });
    const big = await request(kw.port, { path: "/pipeline", body: pipeline("q:share_rate", 11),
                                         key: stack.keys.share_a });
    assert.equal(big.status, 429, big.text);
    assert.match(big.json.error, /exceeds the burst of 10 of the rate limit of this client \(its default share: half of budget\.per_second/);
    const fits = await request(kw.port, { path: "/pipeline", body: pipeline("q:share_rate", 10),
                                          key: stack.keys.share_a });
    assert.equal(fits.status, 200, fits.text);
    await kw.stop();
  });
});

describe("restart", () => {
  test("SIGTERM then restart with the same state_file: the spent budget stays spent", async () => {
    const stateFile = path.join(stack.dir, "restart.state");
    const quota = { state_file: stateFile };
    let kw = await stack.startKeyward({ quota });
    const first = await request(kw.port, { path: "/pipeline", body: pipeline("q:restart", 300),
                                            key: stack.keys.restart });
    assert.equal(first.status, 200);
    await kw.stop("SIGTERM");
    assert.equal(kw.exitCode, 0);
    const text = fs.readFileSync(stateFile, "utf8");
    assert.match(text, /^keyward-quota-state 1\n/);
    assert.match(text, /\nc \d+ 300 \d+ 300 restart\n/);
    kw = await stack.startKeyward({ quota });
    const over = await request(kw.port, { path: "/pipeline", body: pipeline("q:restart", 201),
                                           key: stack.keys.restart });
    assert.equal(over.status, 429, "201 more fit a 500 day of which 300 were spent before");
    const rest = await request(kw.port, { path: "/pipeline", body: pipeline("q:restart", 200),
                                           key: stack.keys.restart });
    assert.equal(rest.status, 200);
    assert.equal(await counterValue("q:restart"), 500);
    // The periodic save (every 1 s) writes the 500 without a shutdown; a crash (SIGKILL) after
    // it loses nothing.
    const t0 = Date.now();
    while (!/\nc \d+ 500 \d+ 500 restart\n/.test(fs.readFileSync(stateFile, "utf8"))) {
      assert.ok(Date.now() - t0 < 5000, "state file not saved within 5 s");
      await sleep(50);
    }
    const savedAfter = Date.now() - t0;
    assert.ok(savedAfter < 2500, `saved after ${savedAfter} ms`);
    await kw.stop("SIGKILL");
    kw = await stack.startKeyward({ quota });
    const after = await request(kw.port, { body: ["INCR", "q:restart"], key: stack.keys.restart });
    assert.equal(after.status, 429);
    assert.equal(await counterValue("q:restart"), 500);
    await kw.stop();
    // A damaged state file is refused (fail closed), not taken as a fresh day.
    fs.writeFileSync(stateFile, "keyward-quota-state 1\ng 1 2 3\n");
    await assert.rejects(stack.startKeyward({ quota }), /quota state file .*line 2/);
  });
});

describe("rate limit", () => {
  test("50/s with burst 50 never lets more than burst + rate x elapsed through", async () => {
    const kw = await stack.startKeyward();
    await request(kw.port, { body: ["GET", "q:rate"], key: stack.keys.reader });  // warm up TLS
    const t0 = Date.now();
    const deadline = t0 + 3000;
    let refused = 0;
    const [accepted, delta] = await measure(rt, () => Promise.all(Array.from({ length: 8 }, async () => {
      let ok = 0;
      while (Date.now() < deadline) {
        const n = 1 + Math.floor(Math.random() * 3);
        const r = await request(kw.port, { path: "/pipeline", body: pipeline("q:rate", n), key: stack.keys.rate50 });
        if (r.status === 200) ok += n;
        else {
          assert.equal(r.status, 429);
          refused++;
        }
      }
      return ok;
    })), 0);
    const elapsedS = (Date.now() - t0) / 1000;
    const total = accepted.reduce((a, b) => a + b, 0);
    const bound = 50 + 50 * elapsedS;
    assert.equal(delta.incr, total);
    assert.ok(total <= bound, `${total} commands in ${elapsedS} s > ${bound}`);
    // ...and the limit is a rate, not a wall: most of what it allows is used.
    assert.ok(total >= 50 + 25 * (elapsedS - 1), `only ${total} in ${elapsedS} s`);
    assert.ok(refused > 0);
    console.log(`rate 50/s burst 50: ${total} commands in ${elapsedS.toFixed(2)} s ` +
                `(bound ${bound.toFixed(0)}), ${refused} requests refused`);
  });
});

describe("requests denied by policy cost nothing", () => {
  test("denied commands, transactions and pipeline slots take nothing from a 5-command day", async () => {
    const kw = await stack.startKeyward({ quota: { state_file: path.join(stack.dir, "free.state") } });
    const key = stack.keys.free;
    for (let i = 0; i < 10; i++) {
      const r = await request(kw.port, { body: ["SET", "app:x", "1"], key });
      assert.equal(r.status, 403);
    }
    const tx = await request(kw.port, { path: "/multi-exec", body: [["GET", "app:x"], ["DEL", "app:x"]], key });
    assert.equal(tx.status, 403);
    // 4 denied slots, 2 allowed: 2 billed.
    const [p, delta] = await measure(rt, () => request(kw.port, { path: "/pipeline", key, body: [
      ["GET", "app:a"], ["SET", "app:a", "1"], ["GET", "other:b"], ["GET", "app:b"], ["DEL", "app:a"],
      ["FLUSHALL"]] }));
    assert.equal(p.status, 200);
    assert.equal(delta.get, 2);
    assert.deepEqual(p.json.map((x) => "error" in x), [false, true, true, false, true, true]);
    const allDenied = await request(kw.port, { path: "/pipeline", key, body: [["SET", "app:a", "1"]] });
    assert.equal(allDenied.status, 200);
    for (let i = 0; i < 3; i++) {
      assert.equal((await request(kw.port, { body: ["GET", "app:a"], key })).status, 200, `GET ${i}`);
    }
    const r = await request(kw.port, { body: ["GET", "app:a"], key });
    assert.equal(r.status, 429, "5 = 2 + 3 commands were billed; the next is over");
  });
});

describe("three replicas sharing one store", () => {
  let store;
  before(async () => {
    store = await startRedis(stack.dir);
    process.env.KW_E2E_QUOTA_STORE = `redis://:${store.password}@127.0.0.1:${store.port}`;
  });
  after(() => {
    store?.client.close();
    store?.proc.kill("SIGKILL");
  });

  test("never exceed a shared 400-command budget together; leases returned at shutdown", async () => {
    const quota = { store_url_env: "KW_E2E_QUOTA_STORE" };
    const budget = { per_second: 0, per_day: 400, per_month: 0 };
    const replicas = [];
    for (let i = 0; i < 3; i++) replicas.push(await stack.startKeyward({ quota, budget }));
    const storeBefore = await store.client.commandStats();
    const [accepted, delta] = await measure(rt, () => Promise.all(Array.from({ length: 16 }, (_, i) =>
      drain(replicas[i % 3].port, stack.keys.shared, "q:shared"))));
    const total = accepted.reduce((a, b) => a + b, 0);
    const storeAfter = await store.client.commandStats();
    const evals = (storeAfter.eval ?? 0) - (storeBefore.eval ?? 0);
    const executed = await counterValue("q:shared");
    assert.equal(executed, total);
    assert.equal(delta.incr, total);
    assert.ok(executed <= 400, `${executed} > 400 executed`);
    const unspent = 400 - executed;
    // Each replica strands less than one refused request (at most 9 commands) of lease.
    assert.ok(unspent <= 3 * 8, `${unspent} of 400 left unspent`);
    const day = Math.floor(Date.now() / 86400000);
    const keyName = `keyward:quota:global:day:${day}`;
    const leasedBefore = Number(await store.client.call("GET", keyName));
    for (const kw of replicas) await kw.stop("SIGTERM");
    const leasedAfter = Number(await store.client.call("GET", keyName));
    assert.equal(leasedAfter, executed, "unused leases were returned to the store");
    assert.ok(evals < total / 3, `${evals} store calls for ${total} commands`);
    console.log(`shared 400 budget, 3 replicas, 16 clients: executed ${executed}, unspent ${unspent}, ` +
                `store calls ${evals}, store counter ${leasedBefore} -> ${leasedAfter} after shutdown`);
  });

  test("a replica's unused lease goes back to the store at SIGTERM", async () => {
    const day = Math.floor(Date.now() / 86400000);
    const keyName = `keyward:quota:global:day:${day}`;
    const before = Number(await store.client.call("GET", keyName));
    const kw = await stack.startKeyward({ quota: { store_url_env: "KW_E2E_QUOTA_STORE" },
                                          budget: { per_second: 0, per_day: 100000, per_month: 0 } });
    const r = await request(kw.port, { body: ["INCR", "q:lease"], key: stack.keys.shared });
    assert.equal(r.status, 200);
    const leased = Number(await store.client.call("GET", keyName)) - before;
    assert.ok(leased > 1 && leased <= 1000, `leased ${leased}`);  // a batch, not one command
    await kw.stop("SIGTERM");
    assert.equal(kw.exitCode, 0);
    assert.equal(Number(await store.client.call("GET", keyName)) - before, 1, "1 spent, rest returned");
  });

  test("store unreachable: budgets fail closed with 429, what is already leased still serves", async () => {
    const quota = { store_url_env: "KW_E2E_QUOTA_STORE" };
    const kw = await stack.startKeyward({ quota, budget: { per_second: 0, per_day: 100000, per_month: 0 } });
    const ok = await request(kw.port, { body: ["INCR", "q:storedown"], key: stack.keys.shared });
    assert.equal(ok.status, 200);
    store.proc.kill("SIGKILL");
    await new Promise((r) => store.proc.once("exit", r));
    const big = await request(kw.port, { path: "/pipeline", body: pipeline("q:storedown", 5000),
                                          key: stack.keys.shared });
    assert.equal(big.status, 429, big.text);
    assert.match(big.json.error, /^ERR quota store unreachable/);
    assert.ok(Number(big.headers["retry-after"]) >= 1);
    const small = await request(kw.port, { body: ["INCR", "q:storedown"], key: stack.keys.shared });
    assert.equal(small.status, 200, "the lease held before the store went away is still spent");
    await kw.stop();
  });
});
