// listen.workers (README, Workers) through the real binary with 2 workers, each accepting on its
// own SO_REUSEPORT socket: connections land on both and /metrics sums them; a day budget, a rate,
// listen.max_connections and a client's max_connections hold exactly across workers; a reload
// and a revocation are in force on every worker (requests and open streams) by the time the
// admin call answers; SIGTERM lets requests in flight on every worker finish, then exits 0.
import fs from "node:fs";
import https from "node:https";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { assert } from "./counted_assert.mjs";
import { adminCall, certs, measure, rewriteConfig, sleep, startStack } from "./harness.mjs";
import { request } from "./http.mjs";
import { keyDir, hsKey, signingSection } from "./jwt_support.mjs";

const WORKERS = { workers: 2 };
const INCR = { commands: ["+incr", "+get"], keys: ["w:*"] };

let stack;
let keys;

before(async () => {
  keys = keyDir();
  stack = await startStack({
    listen: WORKERS,
    signing: signingSection([hsKey(keys.dir, "hs-1")], keys.revokedFile),
    extraClients: {
      day300: { ...INCR, limits: { per_day: 300 } },
      rate40: { ...INCR, limits: { rate: "40/h", burst: 40 } },
      conns4: { ...INCR, limits: { max_connections: 4 } },
      reloadable: { commands: ["+get"], keys: ["w:*"] },
      rate_reload: { ...INCR, limits: { rate: "1/h", burst: 20 } },
      session: { credentials: ["jwt"], commands: ["+get", "+subscribe"], keys: ["w:*"],
                 channels: ["w:*"] },
    },
  });
});
after(async () => {
  await stack?.stop();
  keys?.cleanup();
});

async function metricsOf(kw) {
  return (await adminCall(stack, kw, "GET", "/metrics")).text;
}
function sample(text, name, labels = "") {
  const escaped = (name + (labels ? `{${labels}}` : "")).replace(/[{}"]/g, (c) => `\\${c}`);
  const m = new RegExp(`^${escaped} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

// Connections accepted by worker 0 and worker 1.
function acceptedByWorker(text) {
  return [0, 1].map((w) => sample(text, "keyward_worker_connections_accepted_total", `worker="${w}"`));
}

// `n` keep-alive connections, each its own agent (one socket), so each stays on one worker.
function connections(n) {
  const ca = fs.readFileSync(certs().ca);
  return Array.from({ length: n }, () => new https.Agent({ keepAlive: true, maxSockets: 1, ca }));
}
function send(agent, port, key, body) {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = https.request({ host: "127.0.0.1", port, method: "POST", path: "/", agent,
                                headers: { authorization: `Bearer ${key}`,
                                           "content-length": Buffer.byteLength(payload) } },
    (res) => {
      const chunks = [];
      res.on("data", (d) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

describe("connections spread over the workers", () => {
  test("24 fresh connections land on both workers; the per-worker counters sum to the totals", async () => {
    const kw = stack.keyward;
    const before = await metricsOf(kw);
    assert.equal(sample(before, "keyward_workers"), 2);
    assert.equal(sample(before, "keyward_workers_answering"), 2);
    assert.ok(kw.events.some((e) => e.event === "started" && e.workers === "2"), "started line says 2 workers");
    const rs = await Promise.all(Array.from({ length: 24 }, () =>
      request(stack.port, { body: ["GET", "w:spread"], key: stack.keys.reloadable })));
    for (const r of rs) assert.equal(r.status, 200, r.text);
    const text = await metricsOf(kw);
    const acc = acceptedByWorker(text);
    const req = [0, 1].map((w) => sample(text, "keyward_worker_requests_total", `worker="${w}"`));
    assert.ok(acc[0] > 0 && acc[1] > 0, `accepted by worker: ${acc}`);
    assert.ok(req[0] > 0 && req[1] > 0, `requests by worker: ${req}`);
    assert.equal(acc[0] + acc[1], sample(text, "keyward_client_connections_accepted_total"));
    assert.equal(req[0] + req[1], sample(text, "keyward_requests_total"));
  });
});

describe("limits are exact across workers", () => {
  test("a 300-command day budget: 16 clients on fresh connections run exactly 300 upstream", async () => {
    const drain = async () => {
      let accepted = 0;
      for (;;) {
        const r = await request(stack.port, { body: ["INCR", "w:day300"], key: stack.keys.day300 });
        if (r.status !== 200) {
          assert.equal(r.status, 429, r.text);
          return accepted;
        }
        accepted++;
      }
    };
    const [got, delta] = await measure(stack.redis, () => Promise.all(Array.from({ length: 16 }, drain)));
    assert.equal(got.reduce((a, b) => a + b, 0), 300);
    assert.equal(delta.incr, 300);
    assert.equal(Number(await stack.redis.call("GET", "w:day300")), 300);
  });

  test("a 40/h rate: 120 requests on 12 connections, exactly 40 allowed", async () => {
    const agents = connections(12);
    const rs = await Promise.all(agents.flatMap((a) => Array.from({ length: 10 }, () =>
      send(a, stack.port, stack.keys.rate40, ["INCR", "w:rate40"]))));
    agents.forEach((a) => a.destroy());
    assert.equal(rs.filter((r) => r.status === 200).length, 40);
    assert.equal(rs.filter((r) => r.status === 429).length, 80);
    assert.equal(Number(await stack.redis.call("GET", "w:rate40")), 40);
  });

  test("a client's max_connections of 4 counts its connections on both workers", async () => {
    const agents = connections(10);
    const rs = [];
    for (const a of agents) rs.push(await send(a, stack.port, stack.keys.conns4, ["GET", "w:x"]));
    assert.equal(rs.filter((r) => r.status === 200).length, 4, JSON.stringify(rs.map((r) => r.status)));
    assert.equal(rs.filter((r) => r.status === 429).length, 6);
    agents.forEach((a) => a.destroy());
  });

  test("listen.max_connections: 10 holds for the process, not per worker", async () => {
    const kw = await stack.startKeyward({
      listen: { ...WORKERS, max_connections: 10, max_unauthenticated_per_address: 100 } });
    const socks = [];
    let closedByServer = 0;
    for (let i = 0; i < 24; i++) {
      const s = net.connect(kw.port, "127.0.0.1");
      s.on("error", () => {});
      s.on("close", () => { closedByServer++; });
      socks.push(s);
      await new Promise((r) => s.once("connect", r));
    }
    await sleep(400);
    const text = await metricsOf(kw);
    assert.equal(sample(text, "keyward_client_connections"), 10);
    assert.equal(closedByServer, 14);
    // Past the bound each newcomer closes the process's oldest connection that never
    // authenticated (these never do), on whichever worker holds it. The test's connects finish
    // in the kernel before keyward takes them, so two newcomers can reach both workers at once
    // and one find the place it made taken (a clean-clone run saw 13 of 14): nearly all get in,
    // and none without a place made for it.
    const acc = acceptedByWorker(text);
    const evicted = sample(text, "keyward_unauthenticated_evicted_total");
    assert.ok(evicted >= 12 && evicted <= 14, `evicted ${evicted}`);
    assert.ok(acc[0] + acc[1] >= 10 + 12 && acc[0] + acc[1] <= 10 + evicted,
              `accepted by worker: ${acc}, evicted ${evicted}`);
    socks.forEach((s) => s.destroy());
    await kw.stop();
    assert.equal(kw.exitCode, 0);
  });
});

describe("connections that never authenticate lock out no one (attack round 15)", () => {
  // An attacker that learns which worker each connection landed on (here from the per-worker
  // accepted counters) keeps only those on worker 0 and fills listen.max_connections with them.
  // Clients landing on worker 1 used to be refused at accept (worker 1 held nothing to close);
  // now worker 0 closes its oldest idle connection and serves them.
  test("idle connections pinned to one worker: every new client is served, on either worker", async () => {
    const MAX = 20;
    const CLIENTS = 12;  // all on worker 0 by chance: 1 in 4096
    const kw = await stack.startKeyward({
      listen: { ...WORKERS, max_connections: MAX, max_unauthenticated_per_address: 100 } });
    const pinned = [];
    while (pinned.length < MAX) {
      const before = acceptedByWorker(await metricsOf(kw));
      const s = net.connect(kw.port, "127.0.0.1");
      s.on("error", () => {});
      await new Promise((r) => s.once("connect", r));
      let now = before;
      for (let i = 0; i < 100 && now[0] + now[1] === before[0] + before[1]; i++) {
        await sleep(5);
        now = acceptedByWorker(await metricsOf(kw));
      }
      if (now[0] > before[0]) pinned.push(s);
      else s.destroy();
    }
    await sleep(300);
    let text = await metricsOf(kw);
    assert.equal(sample(text, "keyward_client_connections"), MAX);
    const evicted0 = sample(text, "keyward_unauthenticated_evicted_total");
    const agents = connections(CLIENTS);
    const statuses = [];
    // Two clients: each may hold half of max_connections.
    for (const [i, a] of agents.entries()) {
      const key = i % 2 === 0 ? stack.keys.reader : stack.keys.scripter;
      statuses.push(await send(a, kw.port, key, ["GET", "app:x"]).then((r) => r.status, (e) => e.code));
    }
    assert.deepEqual(statuses, Array(CLIENTS).fill(200));
    text = await metricsOf(kw);
    assert.equal(sample(text, "keyward_unauthenticated_evicted_total") - evicted0, CLIENTS);
    assert.equal(sample(text, "keyward_client_connections"), MAX);
    assert.equal(pinned.filter((s) => s.destroyed || s.readyState !== "open").length, CLIENTS,
                 "the oldest idle connections made room");
    agents.forEach((a) => a.destroy());
    pinned.forEach((s) => s.destroy());
    await kw.stop();
    assert.equal(kw.exitCode, 0);
  });
});

describe("a reload and a revocation reach every worker at once", () => {
  test("POST /v1/reload: once it answers, no connection on any worker runs the old policy", async () => {
    const kw = await stack.startKeyward({ listen: WORKERS });
    const agents = connections(20);
    for (const a of agents) assert.equal((await send(a, kw.port, stack.keys.reloadable, ["GET", "w:r"])).status, 200);
    const text = await metricsOf(kw);
    const acc = acceptedByWorker(text);
    assert.ok(acc[0] > 0 && acc[1] > 0, `the 20 connections are on both workers: ${acc}`);
    // A copy of the clients: the stack's own list stays as it is for later keywards.
    rewriteConfig(kw, (c) => {
      c.clients = c.clients.map((x) => (x.name === "reloadable" ? { ...x, keys: ["other:*"] } : x));
    });
    const r = await adminCall(stack, kw, "POST", "/v1/reload");
    assert.equal(r.status, 200, r.text);
    const after = await Promise.all(agents.map((a) => send(a, kw.port, stack.keys.reloadable, ["GET", "w:r"])));
    for (const x of after) assert.equal(x.status, 403, x.text);
    agents.forEach((a) => a.destroy());
    await kw.stop();
  });

  test("a reload that raises a spent client's burst hands out no fresh burst (attack round 11)", async () => {
    const kw = await stack.startKeyward({ listen: WORKERS });
    const agents = connections(10);
    const burst = (n) => Promise.all(Array.from({ length: n }, (_, i) =>
      send(agents[i % agents.length], kw.port, stack.keys.rate_reload, ["INCR", "w:rate_reload"])));
    assert.equal((await burst(30)).filter((r) => r.status === 200).length, 20);
    rewriteConfig(kw, (c) => {
      c.clients = c.clients.map((x) => (x.name === "rate_reload"
        ? { ...x, limits: { rate: "1/h", burst: 21 } } : x));
    });
    const r = await adminCall(stack, kw, "POST", "/v1/reload");
    assert.equal(r.status, 200, r.text);
    const after = await burst(40);
    assert.equal(after.filter((x) => x.status === 200).length, 0);
    assert.equal(after.filter((x) => x.status === 429).length, 40);
    assert.equal(Number(await stack.redis.call("GET", "w:rate_reload")), 20);
    agents.forEach((a) => a.destroy());
    await kw.stop();
  });

  test("POST /v1/tokens/revoke: once it answers, the token is refused on every worker and its streams close", async () => {
    const kw = stack.keyward;
    const minted = await adminCall(stack, kw, "POST", "/v1/tokens", { client: "session", sub: "u1", ttl: "10m" });
    assert.equal(minted.status, 200, minted.text);
    const { token, jti } = minted.json;
    const agents = connections(20);
    // Twice on each connection: the second is answered from each worker's verified-token cache.
    for (let i = 0; i < 2; i++) {
      for (const a of agents) assert.equal((await send(a, stack.port, token, ["GET", "w:t"])).status, 200);
    }
    const ca = fs.readFileSync(certs().ca);
    const streams = Array.from({ length: 8 }, () => {
      const s = { text: "", endedAt: null };
      s.ended = new Promise((resolve) => {
        const req = https.request(`${stack.url}/subscribe/w:chan`, {
          method: "POST", ca, agent: false,
          headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" },
        }, (res) => {
          s.status = res.statusCode;
          res.setEncoding("utf8");
          res.on("data", (d) => { s.text += d; });
          res.on("close", () => { s.endedAt ??= Date.now(); resolve(); });
        });
        req.on("error", () => { s.endedAt ??= Date.now(); resolve(); });
        req.end();
        s.req = req;
      });
      return s;
    });
    const end = Date.now() + 5000;
    while (streams.some((s) => !/subscribe/.test(s.text)) && Date.now() < end) await sleep(10);
    for (const s of streams) assert.equal(s.status, 200, s.text);
    const revoked = await adminCall(stack, kw, "POST", "/v1/tokens/revoke", { jti });
    assert.equal(revoked.status, 200, revoked.text);
    const t0 = Date.now();
    const after = await Promise.all(agents.map((a) => send(a, stack.port, token, ["GET", "w:t"])));
    for (const x of after) assert.equal(x.status, 401, x.text);
    await Promise.race([Promise.all(streams.map((s) => s.ended)), sleep(2000)]);
    for (const s of streams) {
      assert.ok(s.endedAt !== null && s.endedAt - t0 < 1000, "stream still open 1 s after the revocation");
      assert.match(s.text, /event: error\ndata: \{"error":"WRONGPASS token revoked"\}/);
    }
    agents.forEach((a) => a.destroy());
  });
});

describe("SIGTERM drains every worker", () => {
  test("requests in flight on both workers are answered, then the process exits 0", async () => {
    const kw = await stack.startKeyward({ listen: WORKERS });
    const agents = connections(16);
    for (const a of agents) assert.equal((await send(a, kw.port, stack.keys.reader, ["GET", "app:d"])).status, 200);
    const text = await metricsOf(kw);
    const acc = acceptedByWorker(text);
    assert.ok(acc[0] > 0 && acc[1] > 0, `connections on both workers: ${acc}`);
    // redis-server holds every command for 1.2 s: the requests below are in flight at SIGTERM.
    await stack.redis.call("CLIENT", "PAUSE", "1200", "ALL");
    const inflight = agents.map((a) => send(a, kw.port, stack.keys.reader, ["GET", "app:d"]));
    await sleep(300);
    kw.proc.kill("SIGTERM");
    const rs = await Promise.all(inflight);
    for (const r of rs) assert.equal(r.status, 200, r.text);
    await kw.exited;
    assert.equal(kw.exitCode, 0, kw.stderr);
    assert.ok(kw.events.some((e) => e.event === "stopped"), "stopped event");
    assert.ok(!kw.events.some((e) => e.event === "drain_timeout"), "no drain timeout");
    agents.forEach((a) => a.destroy());
  });
});
