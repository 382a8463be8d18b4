// min-assertions: 24
// listen.max_output_bytes: the total of unsent response bytes across all client connections.
// 40 clients pipeline GETs of a 2 MiB value and never read; past the total keyward closes the
// biggest holders (stalled readers first) instead of growing, while a client reading a 20 MiB
// value normally gets it whole and another tenant (the probe) keeps its latency. Both modes.
import fs from "node:fs";
import https from "node:https";
import tls from "node:tls";
import { after, before, describe, test } from "node:test";
import { assert } from "../e2e/counted_assert.mjs";
import { certs } from "../e2e/harness.mjs";
import { MODES, metric, report, rssKiB, settled, sleep, startModeStack, underAttack } from "./lib.mjs";

const MiB = 1024 * 1024;
const LIMIT = 32 * MiB;
// RSS over the bound while the attack sets up: the replies in flight (one per connection, each
// read from the upstream and encoded before it reaches an output buffer), those built in one loop
// turn before the shedding pass runs, and allocator pages freed by shedding but not yet returned.
const SLACK_MIB = 48;
// Raw replies the stalled client may hold besides: its half of upstream.max_reply_bytes_total
// (set to 128 MiB below; a reply is counted until its body is out or its client is gone).
const RAW_SHARE_MIB = 64;
// A legitimate reply of V bytes costs up to about 4 V while it is built (redis mode: the RESP
// reply read, its value, the JSON body, the output buffer's copy).
const REPLY_COPIES = 4;
const ca = fs.readFileSync(certs().ca);

function connect(port) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost" });
    const c = { sock: s, closed: false };
    c.ended = new Promise((res) => s.on("close", () => { c.closed = true; res(); }));
    s.on("error", () => {});
    s.once("secureConnect", () => resolve(c));
    s.once("error", reject);
  });
}

// A normal reader: GET /get/<key>, reading as fast as it can; resolves {status, bytes}.
function readValue(stack, key, token) {
  return new Promise((resolve) => {
    const req = https.request(`${stack.url}/get/${key}`, {
      method: "GET", ca, agent: false, headers: { authorization: `Bearer ${token}` }, timeout: 20000,
    }, (res) => {
      let bytes = 0;
      res.on("data", (d) => { bytes += d.length; });
      res.on("end", () => resolve({ status: res.statusCode, bytes }));
      res.on("error", () => resolve({ status: 0, bytes }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve({ status: 0, bytes: 0 }));
    req.end();
  });
}

for (const mode of MODES) {
  describe(`output total (${mode} mode)`, () => {
    let stack;
    before(async () => {
      stack = await startModeStack(mode, {
        listen: { max_output_bytes: LIMIT, max_connections: 400 },
        upstream: { max_reply_bytes: 32 * MiB, max_reply_bytes_total: 128 * MiB },
        extraClients: {
          slow: { commands: ["+get", "+set"], keys: ["big:*"] },
          fast: { commands: ["+get"], keys: ["big:*"] },
        },
      });
      await stack.redis.call("SET", "big:v", "v".repeat(2 * MiB));
      await stack.redis.call("SET", "big:huge", "h".repeat(20 * MiB));
    });
    after(async () => {
      await stack?.stop();
    });

    test("control: a 20 MiB value read normally comes whole, nothing shed", async () => {
      const shed0 = await metric(stack.keyward, "keyward_output_shed_total");
      const got = await readValue(stack, "big:huge", stack.keys.fast);
      assert.equal(got.status, 200);
      assert.ok(got.bytes > 20 * MiB, `got ${got.bytes} bytes`);
      assert.equal(await metric(stack.keyward, "keyward_output_shed_total"), shed0);
    });

    test("40 stalled readers of 2 MiB replies: total held bounded, fast reader served", async () => {
      const pid = stack.keyward.proc.pid;
      const before = rssKiB(pid);
      const shed0 = await metric(stack.keyward, "keyward_output_shed_total");
      const conns = [];
      // Setting up: each connection is served until 1 MiB of its output is unsent; past the
      // total the biggest stalled holders are closed.
      const setup = await underAttack(stack, async () => {
        const req = `GET /get/big:v HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${stack.keys.slow}\r\n\r\n`;
        for (let i = 0; i < 40; i++) {
          const c = await connect(stack.port);
          c.sock.pause();  // never reads
          c.sock.write(req.repeat(50));
          conns.push(c);
        }
        await sleep(1500);
      }, { durationMs: 2000 });
      const quiet = await settled(pid, 10000);
      const shedSetup = (await metric(stack.keyward, "keyward_output_shed_total")) - shed0;
      const heldSetup = await metric(stack.keyward, "keyward_client_output_bytes");
      // While the survivors hold their output: a reader that keeps up, 2 MiB at a time and then
      // the 20 MiB value (which pushes the total over again: stalled readers go, it does not).
      const fast = [];
      const held = await underAttack(stack, async () => {
        for (let i = 0; i < 5; i++) fast.push(await readValue(stack, "big:v", stack.keys.fast));
        fast.push(await readValue(stack, "big:huge", stack.keys.fast));
      }, { durationMs: 3000 });
      const grewMiB = (Math.max(setup.peakRssKiB, held.peakRssKiB) - before) / 1024;
      const setupGrewMiB = (setup.peakRssKiB - before) / 1024;
      const heldBytes = await metric(stack.keyward, "keyward_client_output_bytes");
      const shed = (await metric(stack.keyward, "keyward_output_shed_total")) - shed0;
      const open = await metric(stack.keyward, "keyward_client_connections");
      report(`output.stalled_readers.${mode}`, {
        setup: setup.probe, held: held.probe, grewMiB, setupGrewMiB,
        heldSetupMiB: heldSetup / MiB, heldMiB: heldBytes / MiB, shedSetup, shed, open,
        fast: fast.map((f) => f.bytes),
      });
      assert.ok(setupGrewMiB < LIMIT / MiB + RAW_SHARE_MIB + SLACK_MIB,
                `RSS grew ${setupGrewMiB.toFixed(1)} MiB`);
      assert.ok(grewMiB < LIMIT / MiB + RAW_SHARE_MIB + SLACK_MIB + REPLY_COPIES * 20,
                `RSS grew ${grewMiB.toFixed(1)} MiB with the 20 MiB read`);
      assert.ok(quiet, "keyward goes quiet once every survivor is stalled");
      assert.ok(heldSetup <= LIMIT && heldBytes <= LIMIT, `held ${heldSetup} then ${heldBytes}`);
      assert.ok(shedSetup > 0, "stalled readers were shed");
      assert.ok(shed < 40, `only as many as needed are shed (${shed})`);
      // (REST mode may also end a stalled relay on its own, e.g. at upstream.timeout.)
      assert.ok(open > 0 && open <= 40 - shed, `the other stalled readers wait (${open} open)`);
      assert.ok(fast.slice(0, 5).every((f) => f.status === 200 && f.bytes > 2 * MiB), JSON.stringify(fast));
      assert.equal(fast[5].status, 200);
      assert.ok(fast[5].bytes > 20 * MiB, `20 MiB read got ${fast[5].bytes} bytes`);
      assert.equal(held.probe.failed, 0, JSON.stringify(held.probe.statuses));
      assert.ok(held.probe.p99 < 50, `probe p99 ${held.probe.p99} ms`);
      for (const c of conns) c.sock.destroy();
      await sleep(300);
      assert.equal(await metric(stack.keyward, "keyward_client_output_bytes"), 0);
    });
  });
}
