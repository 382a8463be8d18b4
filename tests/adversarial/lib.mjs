// Shared pieces of the adversarial suites: a stack in either upstream mode, keyward's RSS, and a
// probe client that keeps asking while an attack runs and reports what a victim tenant saw.
import fs from "node:fs";
import https from "node:https";
import { Worker } from "node:worker_threads";
import { certs, sleep, startStack } from "../e2e/harness.mjs";

// Both upstream modes: "redis" (keyward -> redis-server) and "rest" (keyward -> Upstash REST
// protocol -> inner keyward -> redis-server; the keyward under test is the outer one).
export const MODES = ["redis", "rest"];

// A victim client the probe uses, added to every adversarial stack beside the defaults.
export const PROBE_CLIENT = { probe: { commands: ["+get", "+set"], keys: ["probe:*"] } };

export async function startModeStack(mode, opts = {}) {
  const extraClients = { ...PROBE_CLIENT, ...(opts.extraClients ?? {}) };
  return startStack({ ...opts, extraClients, chain: mode === "rest" });
}

// Resident set size of a process in KiB (Linux /proc).
export function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

// Samples RSS every `everyMs` until stop() is called; stop() returns the peak in KiB.
export function rssSampler(pid, everyMs = 20) {
  let peak = rssKiB(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssKiB(pid));
    } catch {
      // the process is gone; keep the last peak
    }
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      try {
        peak = Math.max(peak, rssKiB(pid));
      } catch {
        // gone
      }
      return peak;
    },
  };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return Infinity;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))];
}

// A probe: `concurrency` keep-alive loops of GET probe:k against `url` with `key`, for
// `durationMs` (or until stop()). Every request has a deadline (`timeoutMs`); a failure is any
// status other than 200 or a transport error. Resolves to
// {count, ok, failed, p50, p99, max, statuses, windows}.
export function startProbe(url, key, { durationMs = 3000, concurrency = 2, timeoutMs = 5000 } = {}) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: concurrency, ca: fs.readFileSync(certs().ca) });
  const latencies = [];
  const statuses = {};
  let failed = 0;
  let stopped = false;
  const deadline = Date.now() + durationMs;
  const windows = [];  // [start, end] in ms of every answered request (200s)
  const one = () => new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = https.request(`${url}/get/probe:k`, {
      method: "GET", agent, headers: { authorization: `Bearer ${key}` }, timeout: timeoutMs,
    }, (res) => {
      res.resume();
      res.on("end", () => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        if (res.statusCode === 200) {
          latencies.push(ms);
          windows.push([Number(t0) / 1e6, Number(t0) / 1e6 + ms]);
        }
        else failed++;
        resolve();
      });
      res.on("error", () => { failed++; resolve(); });
    });
    req.on("timeout", () => req.destroy(new Error("probe timeout")));
    req.on("error", () => { failed++; statuses.error = (statuses.error ?? 0) + 1; resolve(); });
    req.end();
  });
  const loop = async () => {
    while (!stopped && Date.now() < deadline) {
      await one();
      await sleep(5);
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, loop)).then(() => {
    agent.destroy();
    const sorted = latencies.slice().sort((a, b) => a - b);
    return {
      count: latencies.length + failed, ok: latencies.length, failed,
      p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? Infinity,
      statuses, windows,
    };
  });
  return {
    done,
    stop() {
      stopped = true;
      return done;
    },
  };
}

// A probe of redis-server itself, beside keyward: PING on a connection of its own every 5 ms
// until stop(). Resolves to the windows [start, end] (ms) of the PINGs slower than `slowMs`:
// the times redis-server itself did not answer (a command that costs it hundreds of ms stalls
// every client of that server, keyward or not).
// A PING loop on a connection of its own straight to redis-server, recording each answer slower
// than slowMs as [start, end] (ms, process.hrtime). It runs on a worker thread: on the test's own
// loop, parsing a large reply there (tens of MB of JSON) showed up as a Redis stall. Resolves
// once the loop is asking (a worker takes tens of ms to start: an attack sent before would be
// over unseen).
export async function startRedisProbe(stack, { slowMs = 20 } = {}) {
  const worker = new Worker(new URL("./redis_probe_worker.mjs", import.meta.url),
                            { workerData: { port: stack.redisPort, password: stack.redisPassword, slowMs } });
  const messages = [];
  let wake = null;
  worker.on("message", (m) => { messages.push(m); wake?.(); });
  const failed = new Promise((_, reject) => worker.once("error", reject));
  const next = () => Promise.race([failed, new Promise((resolve) => {
    wake = () => { wake = null; resolve(messages.shift()); };
    if (messages.length) wake();
  })]);
  const ready = await next();
  if (ready !== "ready") throw new Error(`redis probe: ${ready}`);
  return { stop() { worker.postMessage("stop"); return next(); } };
}

// The probe's p99 over the requests that did not overlap a stall of redis-server itself: what
// keyward added. `explained` counts the requests left out.
export function keywardP99(probe, stalls) {
  const overlaps = ([s, e]) => stalls.some(([a, b]) => s < b && a < e);
  const kept = [];
  let explained = 0;
  for (const w of probe.windows) {
    if (overlaps(w)) explained++;
    else kept.push(w[1] - w[0]);
  }
  kept.sort((a, b) => a - b);
  return { p99: percentile(kept, 0.99), explained };
}

// Runs `attack()` (resolves when the attack is in place or over) while a probe runs for
// `durationMs`; resolves to {probe, peakRssKiB, baseRssKiB, attack} where attack is what
// attack() resolved to.
export async function underAttack(stack, attack, { durationMs = 3000, probeKey } = {}) {
  const pid = stack.keyward.proc.pid;
  const baseRssKiB = rssKiB(pid);
  const sampler = rssSampler(pid);
  const redisProbe = await startRedisProbe(stack);
  const probe = startProbe(stack.url, probeKey ?? stack.keys.probe, { durationMs });
  const attackResult = await attack();
  const probeResult = await probe.done;
  const redisStalls = await redisProbe.stop();
  const peakRssKiB = sampler.stop();
  const own = keywardP99(probeResult, redisStalls);
  const { windows, ...summary } = probeResult;
  return { probe: { ...summary, keywardP99: own.p99, redisExplained: own.explained,
                    redisStalls: redisStalls.length },
           peakRssKiB, baseRssKiB, attack: attackResult };
}

// CPU ticks (user + system) a process has used so far.
export function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]);
}

// True once the process used under 2 ticks (20 ms) of CPU in a 300 ms window, false after `ms`:
// an attack has reached its steady state and keyward does nothing more for it.
export async function settled(pid, ms) {
  const end = Date.now() + ms;
  let last = cpuTicks(pid);
  while (Date.now() < end) {
    await sleep(300);
    const now = cpuTicks(pid);
    if (now - last < 2) return true;
    last = now;
  }
  return false;
}

// One sample or counter of a keyward's /metrics (NaN when absent).
export async function metric(kw, name) {
  const res = await fetch(`http://127.0.0.1:${kw.adminPort}/metrics`);
  const m = new RegExp(`^${name} (\\d+)$`, "m").exec(await res.text());
  return m ? Number(m[1]) : NaN;
}

// One line per measurement on stdout, so figures for the docs come straight from a CI log.
export function report(name, fields) {
  process.stdout.write(`# adversarial ${name} ${JSON.stringify(fields)}\n`);
}

export { sleep };
