// min-assertions: 40
// Connection slots before authentication (README, Limits and shares): one source address that opens
// connections and never finishes a TLS handshake or a head may hold at most
// listen.max_unauthenticated_per_address of listen.max_connections; other addresses keep getting
// served, and the address's own authenticated connections no longer count. Loopback has every
// 127.x.y.z address, so 127.0.0.2 and 127.0.0.3 are attackers and 127.0.0.1 the probe.
import fs from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { after, before, describe, test } from "node:test";
import { assert } from "../e2e/counted_assert.mjs";
import { certs } from "../e2e/harness.mjs";
import { MODES, metric, report, sleep, startModeStack, underAttack } from "./lib.mjs";

const MAX_CONNECTIONS = 60;
const DEFAULT_SHARE = MAX_CONNECTIONS / 2;  // listen.max_unauthenticated_per_address unset
const PER_ADDRESS = 10;                     // set on the second keyward
const ca = fs.readFileSync(certs().ca);

// A TCP connection from `from` that sends nothing: it sits in keyward's TLS handshake.
function idleTcp(port, from) {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port, localAddress: from });
    const c = { sock: s, closed: false };
    c.ended = new Promise((res) => s.on("close", () => { c.closed = true; res(); }));
    s.on("error", () => {});
    s.once("connect", () => resolve(c));
    s.once("error", () => resolve(c));
  });
}

// A kept-alive TLS connection from `from` that sends one authenticated GET; resolves to its
// status line's code (0 when the connection was refused or closed first).
function authenticatedGet(port, from, key) {
  return new Promise((resolve) => {
    const s = tls.connect({ host: "127.0.0.1", port, localAddress: from, ca, servername: "localhost" });
    let data = "";
    const c = { sock: s, status: 0 };
    s.setEncoding("latin1");
    s.on("error", () => resolve(c));
    s.on("close", () => resolve(c));
    s.on("data", (d) => {
      data += d;
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (m && data.includes("\r\n\r\n")) {
        c.status = Number(m[1]);
        resolve(c);
      }
    });
    s.once("secureConnect", () => {
      s.write(`GET /get/probe:k HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n\r\n`);
    });
  });
}

async function settle(conns, ms = 300) {
  await sleep(ms);
  return conns.filter((c) => !c.closed).length;
}

for (const mode of MODES) {
  describe(`pre-auth slots (${mode} mode)`, () => {
    let stack;
    let capped;  // a second keyward with max_unauthenticated_per_address: PER_ADDRESS
    before(async () => {
      stack = await startModeStack(mode, {
        listen: { max_connections: MAX_CONNECTIONS, header_timeout: "30s" },
      });
      capped = await stack.startKeyward({ listen: { max_unauthenticated_per_address: PER_ADDRESS } });
    });
    after(async () => {
      await stack?.stop();
    });

    test("default: one address opening 3x its share of idle connections holds half the slots", async () => {
      const refused0 = await metric(stack.keyward, "keyward_unauthenticated_refused_total");
      const conns = [];
      const r = await underAttack(stack, async () => {
        for (let i = 0; i < 3 * DEFAULT_SHARE; i++) conns.push(await idleTcp(stack.port, "127.0.0.2"));
        return settle(conns);
      });
      const open = r.attack;
      const refused = (await metric(stack.keyward, "keyward_unauthenticated_refused_total")) - refused0;
      report(`preauth_one_address ${mode}`, { open, refused, probe: r.probe });
      assert.equal(open, DEFAULT_SHARE, `${open} of ${conns.length} idle connections kept`);
      assert.equal(refused, 2 * DEFAULT_SHARE);
      assert.equal(r.probe.failed, 0, JSON.stringify(r.probe.statuses));
      assert.ok(r.probe.ok > 20, `probe answered ${r.probe.ok} times`);
      assert.ok(r.probe.p99 < 50, `probe p99 ${r.probe.p99} ms`);
      // The address's places free as its connections go.
      for (const c of conns) c.sock.destroy();
      await sleep(300);
      const again = [];
      for (let i = 0; i < DEFAULT_SHARE; i++) again.push(await idleTcp(stack.port, "127.0.0.2"));
      assert.equal(await settle(again), DEFAULT_SHARE, "the freed places are taken again");
      for (const c of again) c.sock.destroy();
      await sleep(300);
    });

    test("two addresses each hold their share; a third address is still served", async () => {
      const conns = [];
      for (const from of ["127.0.0.2", "127.0.0.3"]) {
        for (let i = 0; i < 2 * PER_ADDRESS; i++) conns.push(await idleTcp(capped.port, from));
      }
      assert.equal(await settle(conns), 2 * PER_ADDRESS);
      const got = await authenticatedGet(capped.port, "127.0.0.4", stack.keys.probe);
      assert.equal(got.status, 200, "a request from a third address is answered");
      const own = await authenticatedGet(capped.port, "127.0.0.1", stack.keys.probe);
      assert.equal(own.status, 200, "and from the probe's address");
      for (const c of [got, own, ...conns]) c.sock.destroy();
      await sleep(300);
    });

    // Attack round 14: six addresses, each within its share, held all 60 slots with idle TCP
    // connections and every client was refused. At the bound a new connection now closes the one
    // that has gone longest without authenticating, on whichever worker holds it.
    test("idle connections from many addresses fill every slot; new clients are still served", async () => {
      const evicted0 = await metric(capped, "keyward_unauthenticated_evicted_total");
      const idle = [];
      for (let a = 2; a <= 7; a++) {
        for (let i = 0; i < PER_ADDRESS; i++) idle.push(await idleTcp(capped.port, `127.0.0.${a}`));
      }
      assert.equal(await settle(idle), MAX_CONNECTIONS, "the idle connections hold every slot");
      const served = [];
      for (let i = 0; i < 5; i++) served.push(await authenticatedGet(capped.port, "127.0.0.9", stack.keys.probe));
      assert.deepEqual(served.map((c) => c.status), [200, 200, 200, 200, 200]);
      await sleep(200);
      const closed = idle.map((c, i) => (c.closed ? i : -1)).filter((i) => i >= 0);
      const evicted = (await metric(capped, "keyward_unauthenticated_evicted_total")) - evicted0;
      report(`preauth_evict ${mode}`, { closed, evicted });
      assert.equal(evicted, 5, "one idle connection closed per newcomer");
      assert.equal(closed.length, 5, `closed: ${closed}`);
      // The process's oldest, on either worker: the first address's and the second's (a worker
      // stamps a connection when its loop takes it, so the order is the kernel's within a few).
      assert.ok(closed.every((i) => i < 2 * PER_ADDRESS), `closed: ${closed}`);
      // Newcomers that never authenticate replace the oldest idle ones, never the clients.
      const more = [];
      for (let i = 0; i < PER_ADDRESS; i++) more.push(await idleTcp(capped.port, "127.0.0.8"));
      assert.equal(await settle(more), PER_ADDRESS, "the newest idle connections are kept");
      assert.equal(idle.filter((c) => !c.closed).length, MAX_CONNECTIONS - served.length - PER_ADDRESS);
      assert.ok(served.every((c) => !c.sock.destroyed && c.sock.readyState === "open"),
                "the authenticated connections stay open");
      const again = await authenticatedGet(capped.port, "127.0.0.9", stack.keys.probe);
      assert.equal(again.status, 200);
      for (const c of [...idle, ...more, ...served, again]) c.sock.destroy();
      await sleep(300);
    });

    test("an address over its share closes no one else's connection", async () => {
      const evicted0 = await metric(capped, "keyward_unauthenticated_evicted_total");
      const idle = [];
      for (let a = 2; a <= 7; a++) {
        for (let i = 0; i < PER_ADDRESS; i++) idle.push(await idleTcp(capped.port, `127.0.0.${a}`));
      }
      assert.equal(await settle(idle), MAX_CONNECTIONS);
      const over = [];
      for (let i = 0; i < 5; i++) over.push(await idleTcp(capped.port, "127.0.0.2"));
      assert.equal(await settle(over), 0, "refused at accept: its address holds its share");
      assert.equal(idle.filter((c) => !c.closed).length, MAX_CONNECTIONS, "nobody was closed for it");
      assert.equal((await metric(capped, "keyward_unauthenticated_evicted_total")) - evicted0, 0);
      for (const c of [...idle, ...over]) c.sock.destroy();
      await sleep(300);
    });

    test("an address's authenticated connections do not count against its anonymous share", async () => {
      const authed = [];
      for (let i = 0; i < PER_ADDRESS + 5; i++) {
        authed.push(await authenticatedGet(capped.port, "127.0.0.2", stack.keys.probe));
      }
      assert.ok(authed.every((c) => c.status === 200), JSON.stringify(authed.map((c) => c.status)));
      const idle = [];
      for (let i = 0; i < PER_ADDRESS + 5; i++) idle.push(await idleTcp(capped.port, "127.0.0.2"));
      assert.equal(await settle(idle), PER_ADDRESS, "a full anonymous share beside them");
      assert.equal(authed.filter((c) => !c.sock.destroyed).length, PER_ADDRESS + 5,
                   "the authenticated connections stay open");
      for (const c of [...authed, ...idle]) c.sock.destroy();
      await sleep(300);
    });

    test("a refused credential leaves the connection anonymous", async () => {
      const bad = [];
      for (let i = 0; i < PER_ADDRESS; i++) {
        bad.push(await authenticatedGet(capped.port, "127.0.0.2", "kw_" + "A".repeat(43)));
      }
      assert.ok(bad.every((c) => c.status === 401), JSON.stringify(bad.map((c) => c.status)));
      await sleep(100);
      const open = bad.filter((c) => !c.sock.destroyed && c.sock.readyState === "open").length;
      const more = [];
      for (let i = 0; i < PER_ADDRESS; i++) more.push(await idleTcp(capped.port, "127.0.0.2"));
      const kept = await settle(more);
      report(`preauth_refused_credential ${mode}`, { open, kept });
      assert.equal(open + kept, PER_ADDRESS, `${open} refused connections open, ${kept} more kept`);
      for (const c of [...bad, ...more]) c.sock.destroy();
      await sleep(300);
    });
  });
}
