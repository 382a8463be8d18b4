// min-assertions: 50
// Pub/sub fan-out (attack round 21): every SSE stream had its own subscriber connection to Redis,
// and Redis copies a published message into each subscriber connection's output buffer. One
// client with 200 streams on its own channel made one 8 MB PUBLISH cost Redis 1.7 GB (its
// 2,048-stream default share: tens of GB), held for up to a minute by streams that stopped
// reading. Now a client's streams in a worker share one subscriber connection, each channel
// subscribed once on it, and keyward fans the message out: Redis holds one copy per client and
// worker. Redis mode only: on a REST upstream each stream is its own SSE request to the upstream.
import fs from "node:fs";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import { after, before, describe, test } from "node:test";
import { assert } from "../e2e/counted_assert.mjs";
import { certs } from "../e2e/harness.mjs";
import { request } from "../e2e/http.mjs";
import { metric, report, rssKiB, rssSampler, sleep, startModeStack, startProbe } from "./lib.mjs";

const STREAMS = 40;
const MESSAGE_BYTES = 1 << 20;
const CLIENTS = {
  fan: { commands: ["+subscribe", "+publish"], channels: ["fan:*"], limits: { max_subscriptions: 300 } },
  flood: { commands: ["+subscribe"], channels: ["flood:*"], limits: { max_subscriptions: 20 } },
};

// A stream that counts the bytes it receives; resolves once its head arrived.
function stream(port, key, channel) {
  return new Promise((resolve, reject) => {
    const s = { bytes: 0, text: "", status: 0 };
    const req = https.request({
      host: "127.0.0.1", port, method: "POST", path: `/subscribe/${channel}`, agent: false,
      ca: fs.readFileSync(certs().ca), headers: { authorization: `Bearer ${key}`, "content-length": 2 },
    }, (res) => {
      s.status = res.statusCode;
      res.on("data", (d) => {
        s.bytes += d.length;
        if (s.text.length < 200) s.text += d.toString().slice(0, 200);
      });
      s.close = () => { res.destroy(); req.destroy(); };
      resolve(s);
    });
    req.on("error", reject);
    req.end("[]");
  });
}

// A raw TLS stream that stops reading once its subscription is confirmed: `started` resolves then.
async function stalledStream(port, key, channel) {
  const s = tls.connect({ host: "127.0.0.1", port, ca: fs.readFileSync(certs().ca), servername: "localhost" });
  await new Promise((resolve, reject) => { s.once("secureConnect", resolve); s.once("error", reject); });
  s.on("error", () => {});
  let head = "";
  const started = new Promise((resolve) => s.on("data", (d) => {
    head += d.toString("latin1");
    if (head.includes(`subscribe,${channel},1`)) { s.pause(); resolve(); }  // reads no more
  }));
  s.write(`POST /subscribe/${channel} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\ncontent-length: 2\r\n\r\n[]`);
  return { s, started };
}

describe("pub/sub fan-out (redis mode)", () => {
  let stack;
  const open = [];
  before(async () => {
    stack = await startModeStack("redis", { extraClients: CLIENTS });
  });
  after(async () => {
    for (const s of open) s.close?.();
    await stack?.stop();
  });

  test("one client's streams on a channel cost Redis one subscriber per worker", async () => {
    // Redis's subscriber connections (CLIENT LIST flag P), whoever opened them.
    const subscribers = async () => String(await stack.redis.call("CLIENT", "LIST"))
      .split("\n").filter((l) => /\bflags=\S*P/.test(l)).length;
    assert.equal(await subscribers(), 0);
    for (let i = 0; i < STREAMS; i++) open.push(await stream(stack.port, stack.keys.fan, "fan:room"));
    for (const s of open) assert.equal(s.status, 200, s.text);
    const deadline = Date.now() + 5000;
    while (open.some((s) => !s.text.includes("subscribe,fan:room,1")) && Date.now() < deadline) await sleep(20);
    for (const s of open) assert.match(s.text, /data: subscribe,fan:room,1/);
    const workers = await metric(stack.keyward, "keyward_workers");
    const numsub = await stack.redis.call("PUBSUB", "NUMSUB", "fan:room");
    const connections = await subscribers();
    const before = open.map((s) => s.bytes);
    const res = await request(stack.port, { path: "/publish/fan:room", key: stack.keys.fan,
      body: "m".repeat(MESSAGE_BYTES), timeoutMs: 20000 });
    assert.equal(res.status, 200, res.text);
    const until = Date.now() + 10000;
    while (open.some((s, i) => s.bytes - before[i] < MESSAGE_BYTES) && Date.now() < until) await sleep(20);
    const got = open.map((s, i) => s.bytes - before[i]);
    report("pubsub_fanout", { streams: STREAMS, workers, numsub: Number(numsub[1]), publishedTo: res.json.result,
      subscriberConnections: connections, minReceived: Math.min(...got) });
    // Before: NUMSUB 40, PUBLISH reached 40 connections (40 MiB in Redis for a 1 MiB message).
    assert.ok(Number(numsub[1]) <= workers, `Redis has ${numsub[1]} subscribers of the channel for ${STREAMS} streams`);
    assert.ok(res.json.result <= workers, `the PUBLISH reached ${res.json.result} Redis connections`);
    assert.ok(connections >= 1 && connections <= workers, `${connections} subscriber connections at Redis for ${STREAMS} streams`);
    // Every stream still got the whole message.
    for (const n of got) assert.ok(n >= MESSAGE_BYTES, `a stream got ${n} of ${MESSAGE_BYTES} bytes`);
  });

  // Attack round 24: every stream got its own copy of a message in its output buffer (encoded
  // again for each), all in one pass of the loop. One 7 MB PUBLISH to 400 of a client's streams
  // that did not read held 1.17 GB (peak 1.69 GB) and another tenant's GET waited 6.1-6.7 s; the
  // shedding that followed closed streams that did read. Now the event is encoded once and every
  // stream queues a reference to it.
  test("a large message to many streams that do not read is one copy in keyward", async () => {
    const STALLED = 120;
    const BIG = 8 << 20;
    const stalled = [];
    let reader;
    try {
      await fanOutToStalled();
    } finally {
      for (const x of stalled) x.s.destroy();
      reader?.close();
    }
    async function fanOutToStalled() {
    for (let i = 0; i < STALLED; i++) stalled.push(await stalledStream(stack.port, stack.keys.fan, "fan:big"));
    await Promise.all(stalled.map((x) => x.started));
    reader = await stream(stack.port, stack.keys.fan, "fan:big");
    while (!reader.text.includes("subscribe,fan:big,1")) await sleep(20);
    const streamsBefore = await metric(stack.keyward, "keyward_upstream_subscriptions");
    const before = rssKiB(stack.keyward.proc.pid);
    const sampler = rssSampler(stack.keyward.proc.pid);
    const probe = startProbe(stack.url, stack.keys.probe, { durationMs: 60000, concurrency: 1 });
    await sleep(200);
    const res = await request(stack.port, { path: "/publish/fan:big", key: stack.keys.fan, body: "b".repeat(BIG), timeoutMs: 30000 });
    assert.equal(res.status, 200, res.text.slice(0, 200));
    const until = Date.now() + 20000;
    while (reader.bytes < BIG && Date.now() < until) await sleep(20);
    await sleep(300);
    const victim = await probe.stop();
    const peak = sampler.stop();
    const grewMiB = (peak - before) / 1024;
    const subscriptions = await metric(stack.keyward, "keyward_upstream_subscriptions");
    report("pubsub_fanout stalled", { streams: STALLED, messageMiB: BIG >> 20, grewMiB: Math.round(grewMiB),
      victimMax: Math.round(victim.max), victimP99: Math.round(victim.p99), subscriptions });
    assert.ok(reader.bytes >= BIG, `the reading stream got ${reader.bytes} bytes of an ${BIG}-byte message`);
    // A copy per stream: about (8 MiB less what the kernel took) x 120, hundreds of MiB.
    assert.ok(grewMiB < 200, `keyward grew ${Math.round(grewMiB)} MiB fanning one ${BIG >> 20} MiB message out to ${STALLED} streams`);
    assert.equal(subscriptions, streamsBefore, "streams were closed (shed) for output they share");
    assert.equal(victim.failed, 0, JSON.stringify(victim.statuses));
    // A loose bound: at 120 streams the victim's worst wait was 1.2-1.5 s before and 0.2-1.0 s
    // after (the RSS and the shedding above are what tell the two apart).
    assert.ok(victim.max < 3000, `another tenant's GET waited ${Math.round(victim.max)} ms`);
    }
  });

  // Attack round 31b: 20 streams that stopped reading and a flood of 1-byte messages published
  // straight to Redis grew keyward by about 60 MB a second (past 700 MB in 15 s): its subscriber
  // connection read the socket again each time its handler had paused after a few thousand
  // deliveries, faster than they went out. And the streams whose subscription Redis then dropped
  // kept their client's slots while their connections lingered. Now the socket is read again
  // only once what was buffered went out (Redis buffers the rest and drops the connection past
  // its own limit), and an ended stream lets go of its slot at once.
  test("a flood of small messages to streams that do not read: keyward stays bounded, slots come back", async () => {
    const STALLED = 20;
    const stalled = [];
    let publisher;
    let flooding = true;
    try {
      for (let i = 0; i < STALLED; i++) stalled.push(await stalledStream(stack.port, stack.keys.flood, "flood:x"));
      await Promise.all(stalled.map((x) => x.started));
      const full = await stream(stack.port, stack.keys.flood, "flood:y");
      assert.equal(full.status, 429, "the client's 21st stream was not refused");
      full.close?.();
      publisher = net.connect(stack.redisPort, "127.0.0.1");
      await new Promise((resolve, reject) => { publisher.once("connect", resolve); publisher.once("error", reject); });
      publisher.on("data", () => {});
      publisher.on("error", () => {});
      if (stack.redisPassword) publisher.write(`AUTH ${stack.redisPassword}\r\n`);
      const burst = "*3\r\n$7\r\nPUBLISH\r\n$7\r\nflood:x\r\n$1\r\nx\r\n".repeat(1600);
      const before = rssKiB(stack.keyward.proc.pid);
      const sampler = rssSampler(stack.keyward.proc.pid);
      const pump = (async () => {
        while (flooding) if (!publisher.write(burst)) await new Promise((r) => publisher.once("drain", r));
      })();
      await sleep(6000);
      flooding = false;
      await pump;
      const grewMiB = (sampler.stop() - before) / 1024;
      // The streams ended (Redis dropped the client's subscriber connection, or their bound was
      // reached) and their slots are free, though their connections linger unread.
      let again;
      for (let i = 0; i < 100; i++) {
        again = await stream(stack.port, stack.keys.flood, "flood:z");
        if (again.status === 200) break;
        again.close?.();
        await sleep(50);
      }
      report("pubsub_fanout small flood", { streams: STALLED, grewMiB: Math.round(grewMiB), reopened: again.status });
      assert.ok(grewMiB < 200, `keyward grew ${Math.round(grewMiB)} MiB in 6 s of 1-byte messages to ${STALLED} stalled streams`);
      assert.equal(again.status, 200, "the ended streams still hold their client's slots");
      again.close?.();
    } finally {
      flooding = false;
      publisher?.destroy();
      for (const x of stalled) x.s.destroy();
    }
  });

  test("closing the streams unsubscribes and closes the shared connection", async () => {
    for (const s of open.splice(0)) s.close();
    let numsub;
    for (let i = 0; i < 100; i++) {
      numsub = await stack.redis.call("PUBSUB", "NUMSUB", "fan:room");
      if (Number(numsub[1]) === 0) break;
      await sleep(20);
    }
    assert.equal(Number(numsub[1]), 0);
    let left;
    for (let i = 0; i < 100; i++) {
      left = String(await stack.redis.call("CLIENT", "LIST")).split("\n").filter((l) => /\bflags=\S*P/.test(l)).length;
      if (left === 0) break;
      await sleep(20);
    }
    assert.equal(left, 0, "a subscriber connection outlived its client's last stream");
    assert.equal(await metric(stack.keyward, "keyward_upstream_subscriptions"), 0);
  });
});
