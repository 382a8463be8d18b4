// Shared pieces of the adversarial suites: a stack in either upstream mode, keyward's RSS, and a
// probe client that keeps asking while an attack runs and reports what a victim tenant saw.
import fs from "node:fs";
import https from "node:https";
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
// {count, ok, failed, p50, p99, max, statuses}.
export function startProbe(url, key, { durationMs = 3000, concurrency = 2, timeoutMs = 5000 } = {}) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: concurrency, ca: fs.readFileSync(certs().ca) });
  const latencies = [];
  const statuses = {};
  let failed = 0;
  let stopped = false;
  const deadline = Date.now() + durationMs;
  const one = () => new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = https.request(`${url}/get/probe:k`, {
      method: "GET", agent, headers: { authorization: `Bearer ${key}` }, timeout: timeoutMs,
    }, (res) => {
      res.resume();
      res.on("end", () => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        if (res.statusCode === 200) latencies.push(ms);
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
      statuses,
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

// Runs `attack()` (resolves when the attack is in place or over) while a probe runs for
// `durationMs`; resolves to {probe, peakRssKiB, baseRssKiB, attack} where attack is what
// attack() resolved to.
export async function underAttack(stack, attack, { durationMs = 3000, probeKey } = {}) {
  const pid = stack.keyward.proc.pid;
  const baseRssKiB = rssKiB(pid);
  const sampler = rssSampler(pid);
  const probe = startProbe(stack.url, probeKey ?? stack.keys.probe, { durationMs });
  const attackResult = await attack();
  const probeResult = await probe.done;
  const peakRssKiB = sampler.stop();
  return { probe: probeResult, peakRssKiB, baseRssKiB, attack: attackResult };
}

// One line per measurement on stdout, so figures for the docs come straight from a CI log.
export function report(name, fields) {
  process.stdout.write(`# adversarial ${name} ${JSON.stringify(fields)}\n`);
}

export { sleep };
