// min-assertions: 60
// Memory before and after authentication on the client listener (README, Credentials; Limits and shares):
// anonymous body pushers, Expect: 100-continue with a bad credential, clients that never read
// their pipelined responses, per-client connection shares, the shared body budget; each attack
// in both upstream modes while a probe client (another tenant) keeps getting answers.
import fs from "node:fs";
import tls from "node:tls";
import { after, before, describe, test } from "node:test";
import { assert } from "../e2e/counted_assert.mjs";
import { certs } from "../e2e/harness.mjs";
import { MODES, report, rssKiB, settled, sleep, startModeStack, underAttack } from "./lib.mjs";

const MiB = 1024 * 1024;
const BODY = 9 * MiB;
const ca = fs.readFileSync(certs().ca);

// A raw TLS connection: write() what you like, collect what keyward answers.
function connect(port) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost" });
    const c = { sock: s, data: "", closed: false, wrote: 0 };
    c.ended = new Promise((res) => s.on("close", () => { c.closed = true; res(); }));
    s.setEncoding("latin1");
    s.on("data", (d) => { c.data += d; });
    s.on("error", () => {});
    s.once("secureConnect", () => resolve(c));
    s.once("error", reject);
  });
}

// Resolves when `c.data` matches `re` (or after `ms`); the match or null.
async function waitFor(c, re, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const m = re.exec(c.data);
    if (m) return m;
    if (c.closed) return re.exec(c.data);
    await sleep(10);
  }
  return null;
}

// Keeps writing `total` body bytes (64 KiB pieces) as fast as the socket takes them, until done
// or the connection closes.
async function pushBody(c, total) {
  const piece = Buffer.alloc(64 * 1024, 0x61);
  while (c.wrote < total && !c.closed && !c.sock.destroyed) {
    const ok = c.sock.write(piece);
    c.wrote += piece.length;
    if (!ok) {
      await Promise.race([new Promise((r) => c.sock.once("drain", r)), c.ended, sleep(500)]);
    }
  }
}

function statusOf(c) {
  const m = /^HTTP\/1\.1 (\d{3})/m.exec(c.data.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, ""));
  return m ? Number(m[1]) : 0;
}

for (const mode of MODES) {
  describe(`http memory (${mode} mode)`, () => {
    let stack;
    before(async () => {
      stack = await startModeStack(mode, {
        listen: { max_buffered_bytes: 24 * MiB, max_connections: 400 },
        extraClients: {
          capped: { commands: ["+get"], keys: ["cap:*"], limits: { max_connections: 3 } },
          big: { commands: ["+get", "+set"], keys: ["big:*"] },
        },
      });
    });
    after(async () => {
      await stack?.stop();
    });

    test("100 anonymous connections pushing 9 MiB bodies: each 401, body never buffered", async () => {
      const conns = [];
      const r = await underAttack(stack, async () => {
        const pushing = [];
        for (let i = 0; i < 100; i++) {
          const c = await connect(stack.port);
          // The head and, right behind it, the body: keyward must not wait for it nor keep it.
          c.sock.write(`POST /set/big:x HTTP/1.1\r\nHost: x\r\nContent-Length: ${BODY}\r\n` +
                       `Authorization: Bearer kw_nope${i}\r\n\r\n`);
          pushing.push(pushBody(c, BODY));
          conns.push(c);
        }
        await Promise.all(pushing);
        await Promise.all(conns.map((c) => Promise.race([c.ended, sleep(5000)])));
      }, { durationMs: 3000 });
      const statuses = conns.map(statusOf);
      const wrote = conns.map((c) => c.wrote).sort((a, b) => a - b);
      const grewMiB = (r.peakRssKiB - r.baseRssKiB) / 1024;
      report(`http.anon_bodies.${mode}`, { ...r.probe, grewMiB, medianWroteKiB: wrote[50] / 1024 });
      // A client still sending when keyward closes may get a reset before it reads the 401
      // (keyward discards at most 1 MiB after refusing, it never drains the whole body).
      const got401 = statuses.filter((s) => s === 401).length;
      report(`http.anon_bodies_statuses.${mode}`, { got401, reset: statuses.filter((s) => s === 0).length });
      assert.ok(statuses.every((s) => s === 401 || s === 0), JSON.stringify(statuses));
      assert.ok(got401 >= 90, `${got401} of 100 read their 401`);
      assert.ok(conns.every((c) => c.closed), "every refused connection is closed");
      assert.ok(conns.filter((c) => statusOf(c) === 401).every((c) => /WRONGPASS/.test(c.data)),
                "401 bodies are JSON WRONGPASS");
      // A refused connection is closed before its body is in: far less than 9 MiB got through.
      assert.ok(wrote[50] < 4 * MiB, `median bytes written before close: ${wrote[50]}`);
      // 100 x 9 MiB buffered would be 900 MiB.
      assert.ok(grewMiB < 64, `RSS grew ${grewMiB.toFixed(1)} MiB`);
      assert.equal(r.probe.failed, 0, JSON.stringify(r.probe.statuses));
      assert.ok(r.probe.p99 < 50, `probe p99 ${r.probe.p99} ms`);
    });

    test("Expect: 100-continue with a bad credential: 401 and no 100", async () => {
      const c = await connect(stack.port);
      c.sock.write(`POST /set/big:x HTTP/1.1\r\nHost: x\r\nContent-Length: ${BODY}\r\n` +
                   "Expect: 100-continue\r\nAuthorization: Bearer kw_wrong\r\n\r\n");
      await waitFor(c, /\r\n\r\n\{.*\}/s);
      assert.ok(!/100 Continue/.test(c.data), c.data.slice(0, 80));
      assert.equal(statusOf(c), 401);
      assert.match(c.data, /Connection: close/i);
      c.sock.destroy();
    });

    test("Expect: 100-continue for a command the client may not run: 403 and no 100", async () => {
      const c = await connect(stack.port);
      c.sock.write(`POST /flushall HTTP/1.1\r\nHost: x\r\nContent-Length: ${BODY}\r\n` +
                   `Expect: 100-continue\r\nAuthorization: Bearer ${stack.keys.big}\r\n\r\n`);
      await waitFor(c, /\r\n\r\n\{.*\}/s);
      assert.ok(!/100 Continue/.test(c.data));
      assert.equal(statusOf(c), 403);
      assert.match(c.data, /NOPERM/);
      c.sock.destroy();
    });

    test("Expect: 100-continue for never-forwarded commands, even under +@all: 403 and no 100", async () => {
      for (const path of ["/config/set/x", "/hello", "/client/list", "/wait/0", "/script/debug"]) {
        const c = await connect(stack.port);
        c.sock.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${BODY}\r\n` +
                     `Expect: 100-continue\r\nAuthorization: Bearer ${stack.keys.admin}\r\n\r\n`);
        await waitFor(c, /\r\n\r\n\{.*\}/s);
        assert.ok(!/100 Continue/.test(c.data), `${path}: ${c.data.slice(0, 80)}`);
        assert.equal(statusOf(c), 403, path);
        assert.match(c.data, /NOPERM/, path);
        c.sock.destroy();
      }
    });

    test("control: 100-continue with a good credential, then a 9 MiB SET works", async () => {
      const c = await connect(stack.port);
      c.sock.write(`POST /set/big:nine HTTP/1.1\r\nHost: x\r\nContent-Length: ${BODY}\r\n` +
                   `Expect: 100-continue\r\nAuthorization: Bearer ${stack.keys.big}\r\n\r\n`);
      assert.ok(await waitFor(c, /^HTTP\/1\.1 100 Continue\r\n\r\n/), "100 Continue first");
      await pushBody(c, BODY);
      const m = await waitFor(c, /HTTP\/1\.1 200 OK[\s\S]*\{"result":"OK"\}/, 15000);
      assert.ok(m, c.data.slice(0, 200));
      c.sock.destroy();
      const len = await stack.redis.call("STRLEN", "big:nine");
      assert.equal(Number(len), BODY);
    });

    test("listen.max_buffered_bytes: past a client's half 429, past the pool 503, each naming it", async () => {
      // 24 MiB in all, 12 MiB per client: big holds 10 MiB, then asks for 10 more (429); admin's
      // 10 MiB fits (20 of 24); the probe's 10 MiB does not fit the pool (503).
      const post = async (path, key) => {
        const c = await connect(stack.port);
        c.sock.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${10 * MiB}\r\n` +
                     `Authorization: Bearer ${key}\r\n\r\nabc`);
        return c;
      };
      const held = [await post("/set/big:h0", stack.keys.big)];
      await sleep(200);
      const second = await post("/set/big:h1", stack.keys.big);
      await waitFor(second, /\r\n\r\n\{.*\}/s);
      assert.equal(statusOf(second), 429);
      assert.match(second.data, /its share, half of listen\.max_buffered_bytes 25165824/);
      second.sock.destroy();
      held.push(await post("/set/app:h1", stack.keys.admin));
      await sleep(200);
      const c = await post("/set/probe:h3", stack.keys.probe);
      await waitFor(c, /\r\n\r\n\{.*\}/s);
      assert.equal(statusOf(c), 503);
      assert.match(c.data, /too many request bodies in flight \(listen\.max_buffered_bytes 25165824\)/);
      c.sock.destroy();
      for (const h of held) h.sock.destroy();
      await sleep(200);
      // Released with the connections: a body fits again.
      const d = await connect(stack.port);
      d.sock.write(`POST /set/big:h4 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n` +
                   `Authorization: Bearer ${stack.keys.big}\r\n\r\nhello`);
      await waitFor(d, /\r\n\r\n\{.*\}/s);
      assert.equal(statusOf(d), 200, d.data.slice(0, 200));
      d.sock.destroy();
    });

    test("clients[].limits.max_connections: the 4th connection of a capped client gets 429", async () => {
      const open = [];
      const ask = async (c) => {
        c.data = "";
        c.sock.write(`GET /get/cap:a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${stack.keys.capped}\r\n\r\n`);
        await waitFor(c, /\r\n\r\n(null|\{.*\})/s);
        return statusOf(c);
      };
      for (let i = 0; i < 3; i++) {
        const c = await connect(stack.port);
        assert.equal(await ask(c), 200);
        open.push(c);
      }
      const fourth = await connect(stack.port);
      assert.equal(await ask(fourth), 429);
      assert.match(fourth.data, /limits\.max_connections 3/);
      await Promise.race([fourth.ended, sleep(3000)]);
      assert.ok(fourth.closed, "the refused connection is closed");
      // Another client still connects meanwhile.
      const other = await connect(stack.port);
      other.sock.write(`GET /get/probe:k HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${stack.keys.probe}\r\n\r\n`);
      await waitFor(other, /\r\n\r\n(null|\{.*\})/s);
      assert.equal(statusOf(other), 200);
      other.sock.destroy();
      // Closing one makes room.
      open.pop().sock.destroy();
      await sleep(200);
      const fifth = await connect(stack.port);
      assert.equal(await ask(fifth), 200);
      fifth.sock.destroy();
      for (const c of open) c.sock.destroy();
    });

    test("duplicate Authorization or Origin lines are refused with 400 JSON", async () => {
      for (const dup of [
        `Authorization: Bearer ${stack.keys.big}\r\nAuthorization: Bearer ${stack.keys.admin}\r\n`,
        `Authorization: Bearer ${stack.keys.browser}\r\nOrigin: https://app.example.com\r\nOrigin: https://evil.example\r\n`,
      ]) {
        const c = await connect(stack.port);
        c.sock.write(`GET /get/app:a HTTP/1.1\r\nHost: x\r\n${dup}\r\n`);
        await waitFor(c, /\r\n\r\n\{.*\}/s);
        assert.equal(statusOf(c), 400, c.data.slice(0, 120));
        assert.match(c.data, /"error":"ERR bad request: duplicate/);
        c.sock.destroy();
      }
    });

    test("100 slow readers pipelining GETs of a 2 MiB value: output held stays bounded", async () => {
      await stack.redis.call("SET", "big:v", "v".repeat(2 * MiB));
      const conns = [];
      const before = rssKiB(stack.keyward.proc.pid);
      // Setting up: each connection is served until 1 MiB of its output is unsent.
      const setup = await underAttack(stack, async () => {
        const req = `GET /get/big:v HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${stack.keys.big}\r\n\r\n`;
        for (let i = 0; i < 100; i++) {
          const c = await connect(stack.port);
          c.sock.pause();  // never reads
          c.sock.write(req.repeat(100));
          conns.push(c);
        }
        await sleep(2500);
      }, { durationMs: 3000 });
      // Then the 100 stalled connections stay open while another tenant works.
      const quiet = await settled(stack.keyward.proc.pid, 15000);
      const held = await underAttack(stack, async () => null, { durationMs: 2000 });
      const grewMiB = (Math.max(setup.peakRssKiB, held.peakRssKiB) - before) / 1024;
      report(`http.slow_readers.${mode}`, { setup: setup.probe, held: held.probe, grewMiB });
      // Per connection: at most 1 MiB of unsent output plus the one response being written
      // (100 x 2 MiB x 100 requests would be 20 GiB): 100 x (1 + 2) MiB plus allocator slack.
      assert.ok(grewMiB < 400, `RSS grew ${grewMiB.toFixed(1)} MiB`);
      assert.ok(conns.every((c) => !c.closed), "stalled connections wait (idle_timeout)");
      // Both modes: in REST mode a stalled relay leaves the pool for a connection of its own.
      assert.ok(quiet, "keyward goes quiet once every reader is stalled");
      assert.equal(held.probe.failed, 0, JSON.stringify(held.probe.statuses));
      assert.ok(held.probe.p99 < 50, `probe p99 ${held.probe.p99} ms`);
      for (const c of conns) c.sock.destroy();
      await sleep(500);
    });
  });
}

describe("X-Forwarded-For across lines", () => {
  let stack;
  before(async () => {
    stack = await startModeStack("redis", { listen: { trusted_proxies: ["127.0.0.1/32"] } });
  });
  after(async () => {
    await stack?.stop();
  });
  const get = async (xffLines) => {
    const c = await connect(stack.port);
    const xff = xffLines.map((v) => `X-Forwarded-For: ${v}\r\n`).join("");
    c.sock.write(`GET /get/app:a HTTP/1.1\r\nHost: x\r\n${xff}Authorization: Bearer ${stack.keys.iplocked}\r\n\r\n`);
    await waitFor(c, /\r\n\r\n(null|\{.*\})/s);
    c.sock.destroy();
    return statusOf(c);
  };
  test("a forged first line does not pass allow_ips when the proxy appended another", async () => {
    // The client sent 10.1.2.3 itself; the trusted proxy appended the real 203.0.113.9.
    assert.equal(await get(["10.1.2.3", "203.0.113.9"]), 403);
    assert.equal(await get(["10.1.2.3, 203.0.113.9"]), 403);
    assert.equal(await get(["10.1.2.3", "203.0.113.9, 127.0.0.1"]), 403);
    // Controls: the proxy vouches for an allowed address.
    assert.equal(await get(["10.1.2.3"]), 200);
    assert.equal(await get(["203.0.113.9", "10.1.2.3"]), 200);
  });
});

describe("header timeouts", () => {
  let stack;
  before(async () => {
    stack = await startModeStack("redis", { listen: { header_timeout: "2s" } });
  });
  after(async () => {
    await stack?.stop();
  });

  test("client listener: a head dripped a line every 400 ms is closed at header_timeout", async () => {
    const c = await connect(stack.port);
    const t0 = Date.now();
    c.sock.write("GET /get/app:a HTTP/1.1\r\n");
    for (let i = 0; i < 20 && !c.closed; i++) {
      await sleep(400);
      if (!c.closed) c.sock.write(`X-Drip-${i}: 1\r\n`);
    }
    await Promise.race([c.ended, sleep(3000)]);
    const took = Date.now() - t0;
    assert.ok(c.closed, "closed");
    assert.ok(took < 3500, `closed after ${took} ms`);
  });

  test("admin listener: 70 dripping connections never lock out /healthz", async () => {
    const net = await import("node:net");
    const adminPort = Number(/:(\d+)$/.exec(stack.keyward.config.admin.address)[1]);
    const drips = [];
    const stopAt = Date.now() + 4000;
    for (let i = 0; i < 70; i++) {
      const s = net.connect(adminPort, "127.0.0.1");
      s.on("error", () => {});
      const d = { s, closed: false };
      s.on("close", () => { d.closed = true; });
      s.write("GET /healthz HTTP/1.1\r\n");
      drips.push(d);
    }
    const dripper = (async () => {
      while (Date.now() < stopAt) {
        await sleep(500);
        for (const d of drips) if (!d.closed) d.s.write("X-Drip: 1\r\n");
      }
    })();
    await sleep(300);
    const health = async () => {
      const t0 = Date.now();
      const res = await fetch(`http://127.0.0.1:${adminPort}/healthz`,
                              { signal: AbortSignal.timeout(2000) });
      return { status: res.status, ms: Date.now() - t0 };
    };
    for (let i = 0; i < 5; i++) {
      const h = await health();
      assert.equal(h.status, 200);
      assert.ok(h.ms < 500, `/healthz took ${h.ms} ms`);
      await sleep(500);
    }
    await dripper;
    for (const d of drips) d.s.destroy();
  });
});

for (const mode of MODES) {
  describe(`clients that stop reading are closed after idle_timeout (${mode} mode)`, () => {
    let stack;
    before(async () => {
      stack = await startModeStack(mode, {
        listen: { idle_timeout: "2s" },
        extraClients: { big: { commands: ["+get", "+set"], keys: ["big:*"] } },
      });
    });
    after(async () => {
      await stack?.stop();
    });

    // Fewer readers than upstream.connections (8): in REST mode a request queued for a pooled
    // connection has not started its relay, so its idle_timeout would start later.
    test("6 stalled readers of a 2 MiB value are closed and free what they held", async () => {
      await stack.redis.call("SET", "big:v", "v".repeat(2 * MiB));
      const req = `GET /get/big:v HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${stack.keys.big}\r\n\r\n`;
      const conns = [];
      for (let i = 0; i < 6; i++) {
        const c = await connect(stack.port);
        c.sock.pause();
        c.sock.write(req.repeat(20));
        conns.push(c);
      }
      // A paused socket does not notice a close until it reads again: wait past idle_timeout,
      // then read what keyward had sent before closing.
      await sleep(4000);
      for (const c of conns) c.sock.resume();
      await Promise.race([Promise.all(conns.map((c) => c.ended)), sleep(3000)]);
      const received = conns.map((c) => c.data.length).sort((a, b) => a - b);
      assert.ok(conns.every((c) => c.closed), "every stalled reader is closed");
      // Closed while stalled, not after being served: far fewer than 20 responses arrived.
      assert.ok(received.at(-1) < 10 * 2 * MiB, `most bytes received: ${received.at(-1)}`);
      const took = 4000;
      // What they held (REST mode: paused upstream connections) is free again.
      const r = await underAttack(stack, async () => null, { durationMs: 1000 });
      report(`http.stalled_closed.${mode}`, { tookMs: took, ...r.probe });
      assert.equal(r.probe.failed, 0, JSON.stringify(r.probe.statuses));
      assert.ok(r.probe.p99 < 50, `probe p99 ${r.probe.p99} ms`);
    });
  });
}
