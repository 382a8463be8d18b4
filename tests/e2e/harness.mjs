// Test harness: real certificates (openssl CLI), a real redis-server with requirepass on a free
// 127.0.0.1 port, and the real keyward binary ($KEYWARD_BIN) with a generated config and API keys.
import { spawn, execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { RespClient } from "./resp.mjs";

export const SCRIPT_ALLOWED = "return redis.call('GET', KEYS[1])";
export const SCRIPT_ALLOWED_SHA = sha1(SCRIPT_ALLOWED);

export function sha1(s) {
  return crypto.createHash("sha1").update(s).digest("hex");
}
export function sha256hex(s) {
  return crypto.createHash("sha256").update(s).digest("hex");
}
// A static API key as README, Credentials defines it: kw_ + 43 base64url chars (256 random bits).
export function newApiKey() {
  return "kw_" + crypto.randomBytes(32).toString("base64url");
}

export function requireTool(name) {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "pipe" });
  } catch {
    throw new Error(`required tool not found on PATH: ${name}`);
  }
}

// CA + server certificate (SAN localhost, 127.0.0.1) made with the openssl CLI.
export function makeCerts(dir) {
  requireTool("openssl");
  fs.mkdirSync(dir, { recursive: true });
  const run = (args) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  run(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
       "-subj", "/CN=keyward e2e CA", "-addext", "basicConstraints=critical,CA:TRUE",
       "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  run(["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
  fs.writeFileSync(path.join(dir, "server.ext"),
                   "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n" +
                   "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n");
  run(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
       "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext"]);
  return {
    ca: path.join(dir, "ca.crt"),
    cert: path.join(dir, "server.crt"),
    key: path.join(dir, "server.key"),
  };
}

// Certificates made by run.mjs before node --test started (so NODE_EXTRA_CA_CERTS is in effect).
export function certs() {
  const dir = process.env.KW_E2E_CERT_DIR;
  if (!dir || !fs.existsSync(path.join(dir, "ca.crt"))) {
    throw new Error("KW_E2E_CERT_DIR is not set: run the suites through tests/e2e/run.mjs");
  }
  return {
    ca: path.join(dir, "ca.crt"),
    cert: path.join(dir, "server.crt"),
    key: path.join(dir, "server.key"),
  };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every child this process started dies with it (also when a test run is killed).
const children = new Set();
function track(proc) {
  children.add(proc);
  proc.once("exit", () => children.delete(proc));
  return proc;
}
process.on("exit", () => {
  for (const p of children) {
    try { p.kill("SIGKILL"); } catch { /* already gone */ }
  }
});
for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) {
  process.once(sig, () => process.exit(1));
}

export async function startRedis(dir) {
  requireTool("redis-server");
  const password = crypto.randomBytes(18).toString("hex");
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const proc = track(spawn("redis-server", [
      "--port", String(port), "--bind", "127.0.0.1", "--requirepass", password,
      "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no",
      "--logfile", path.join(dir, `redis-${port}.log`),
    ], { stdio: "ignore" }));
    let exited = false;
    proc.once("exit", () => { exited = true; });
    for (let i = 0; i < 100 && !exited; i++) {
      await sleep(50);
      try {
        const client = await RespClient.connect(port, password);
        await client.call("PING");
        return { proc, port, password, client };
      } catch {
        // not up yet
      }
    }
    proc.kill("SIGKILL");
  }
  throw new Error("redis-server did not start");
}

// The clients every stack gets (README, Configuration). Keys are generated per stack.
export function defaultClients() {
  return {
    admin: {
      commands: ["+@all"], keys: ["*"], channels: ["*"], consumer_groups: ["*"],
      scripts: ["*"], functions: ["*"],
    },
    reader: { commands: ["+@read"], keys: ["app:*"] },
    writer: { commands: ["+set", "+get", "+del", "+lpush", "+incr"], write_keys: ["inbox:*"] },
    chat: {
      commands: ["+publish", "+subscribe", "+psubscribe", "+get"], channels: ["chat:*"],
      keys: ["chat:*"],
    },
    scanner: { commands: ["+scan", "+get", "+set"], keys: ["tenant1:*"] },
    scripter: {
      commands: ["+@scripting", "+@read", "+set"], keys: ["app:*"], scripts: [SCRIPT_ALLOWED_SHA],
    },
    streamer: { commands: ["+@stream"], keys: ["events:*"], consumer_groups: ["workers"] },
    suffix: { commands: ["+get", "+set"], keys: ["*:pub"] },
    iplocked: { commands: ["+get"], keys: ["app:*"], allow_ips: ["10.0.0.0/8", "2001:db8::/32"] },
    browser: { commands: ["+get", "+set"], keys: ["app:*"], allow_origins: ["https://app.example.com"] },
    limited: { commands: ["+get"], keys: ["app:*"], limits: { rate: "1/s", burst: 2 } },
  };
}

// YAML emitter for plain data: JSON scalars are valid YAML double-quoted scalars.
function yaml(value, indent = "") {
  if (Array.isArray(value)) {
    if (value.length === 0) return " []";
    return value.map((v) => `\n${indent}- ` + yaml(v, indent + "  ").replace(/^\n\s*/, "").replace(/^ /, "")).join("");
  }
  if (value && typeof value === "object") {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return " {}";
    return entries.map(([k, v]) => {
      const inner = yaml(v, indent + "  ");
      return `\n${indent}${k}:` + inner;
    }).join("");
  }
  return " " + JSON.stringify(value);
}
export function toYaml(obj) {
  return yaml(obj).replace(/^\n/, "") + "\n";
}

let instanceSeq = 0;

// Spawns keyward with `config`; resolves when the listening line shows up on stdout.
export async function spawnKeyward(dir, config, env) {
  const bin = process.env.KEYWARD_BIN;
  if (!bin || !fs.existsSync(bin)) {
    throw new Error(`KEYWARD_BIN does not name an existing file: ${JSON.stringify(bin)}`);
  }
  const id = ++instanceSeq;
  const cfgPath = path.join(dir, `keyward-${id}.yaml`);
  fs.writeFileSync(cfgPath, toYaml(config));
  const proc = track(spawn(bin, ["serve", "--config", cfgPath], {
    cwd: dir, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"],
  }));
  const kw = { proc, cfgPath, config, stdout: "", stderr: "", events: [], exitCode: undefined };
  proc.stderr.on("data", (d) => { kw.stderr += d; });
  const exited = new Promise((resolve) => {
    proc.once("exit", (code, signal) => {
      kw.exitCode = code;
      kw.exitSignal = signal;
      resolve();
    });
  });
  kw.exited = exited;
  let pending = "";
  const listening = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(
        `keyward printed no listening line within 20 s\nstdout:\n${kw.stdout}\nstderr:\n${kw.stderr}`)),
        20000);
    proc.stdout.on("data", (d) => {
      kw.stdout += d;
      pending += d;
      let nl;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        let ev;
        try { ev = JSON.parse(line); } catch { continue; }
        kw.events.push(ev);
        const isAdmin = ev.listener === "admin" || ev.admin === true || ev.name === "admin";
        if (ev.event === "listening" && !isAdmin && (config.listen.tls ? ev.tls === true : true)) {
          clearTimeout(timer);
          resolve(ev);
        }
      }
    });
    exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`keyward exited (code ${kw.exitCode}, signal ${kw.exitSignal}) before listening\n` +
                       `stdout:\n${kw.stdout}\nstderr:\n${kw.stderr}`));
    });
  });
  const ev = await listening;
  const m = /^(.*):(\d+)$/.exec(ev.address);
  if (!m) throw new Error(`unexpected listening address ${JSON.stringify(ev.address)}`);
  kw.port = Number(m[2]);
  kw.url = `${config.listen.tls ? "https" : "http"}://127.0.0.1:${kw.port}`;
  kw.adminPort = Number(/:(\d+)$/.exec(config.admin.address)[1]);
  kw.stop = async (signal = "SIGTERM", graceMs = 8000) => {
    if (kw.exitCode !== undefined || kw.exitSignal) return;
    proc.kill(signal);
    const t = setTimeout(() => proc.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(t);
  };
  return kw;
}

// Base keyward config for a stack; `over` merges into listen/upstream (shallow).
// `signing` (optional) is the `signing` section (README, Credentials), paths absolute.
// The plan `budget` defaults to none (0 = unlimited): the suites send far more than the default
// default 16,000 commands a day. `quota` (state_file / store_url) is passed through.
export const NO_BUDGET = { per_second: 0, per_day: 0, per_month: 0 };
// KW_E2E_WORKERS=N sets listen.workers (default: auto, the machine's CPUs) for a whole suite,
// except where the suite sets it or uses quota.store_url (one worker).
export function baseConfig({ certs: c, clients, listen = {}, upstream = {}, adminPort, signing,
                             budget = NO_BUDGET, quota, audit, encryption }) {
  const workers = process.env.KW_E2E_WORKERS && !quota?.store_url && !quota?.store_url_env
    ? { workers: Number(process.env.KW_E2E_WORKERS) } : {};
  return {
    listen: {
      address: "127.0.0.1:0",
      tls: { cert_file: c.cert, key_file: c.key, min_version: "1.2" },
      ...workers,
      ...listen,
    },
    admin: { address: `127.0.0.1:${adminPort}`, token_env: "KW_E2E_ADMIN_TOKEN" },
    upstream: { url_env: "KW_E2E_UPSTREAM_URL", token_env: "KW_E2E_UPSTREAM_TOKEN", timeout: "5s",
                ...upstream },
    signing,
    quota,
    budget,
    audit,
    encryption,
    clients,
  };
}

// Chain mode (KW_E2E_CHAIN=1): the keyward under test forwards over the Upstash REST protocol
// (HTTPS, verified against the test CA) to an inner keyward that forwards to redis-server. The
// outer keyward holds every client's policy; the inner one holds a single all-powerful client
// whose key is the outer's upstream token, as a real Upstash database token is. So every check the
// suites assert is made by the REST-mode keyward, and every byte the SDK sees has crossed its
// HTTPS client, response parser and pipeline splicing.
export function chainMode() {
  return process.env.KW_E2E_CHAIN === "1";
}

// (+info: Upstash answers INFO; the outer keyward decides which sections pass.)
const INNER_CLIENT = {
  commands: ["+@all", "+info"], keys: ["*"], channels: ["*"], consumer_groups: ["*"], scripts: ["*"],
  functions: ["*"],
};

async function startInnerKeyward(dir, c, redis, adminToken) {
  const key = newApiKey();
  // One worker: the inner keyward stands in for Upstash, where every outer tenant is the one
  // client "outer"; its per-worker reply share (README, Workers) is not what the suites test.
  const cfg = baseConfig({
    certs: c, adminPort: await freePort(), listen: { workers: 1 },
    clients: [{ name: "outer", api_keys: [`sha256:${sha256hex(key)}`], ...INNER_CLIENT }],
  });
  const kw = await spawnKeyward(dir, cfg, {
    KW_E2E_UPSTREAM_URL: `redis://127.0.0.1:${redis.port}`,
    KW_E2E_UPSTREAM_TOKEN: redis.password,
    KW_E2E_ADMIN_TOKEN: adminToken,
  });
  return { kw, key };
}

// A whole stack: redis + keyward with the default clients. Call stop() when done.
// `chain` (default: KW_E2E_CHAIN) puts the keyward under test in REST mode in front of an inner
// keyward (see chainMode()).
export async function startStack({ listen = {}, upstream = {}, extraClients = {}, signing,
                                    budget, audit, encryption, chain = chainMode() } = {}) {
  const c = certs();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kw-e2e-"));
  const redis = await startRedis(dir);
  const keys = {};
  const clients = [];
  for (const [name, rules] of Object.entries({ ...defaultClients(), ...extraClients })) {
    keys[name] = newApiKey();
    clients.push({ name, api_keys: [`sha256:${sha256hex(keys[name])}`], ...rules });
  }
  const adminToken = crypto.randomBytes(24).toString("hex");
  const instances = [];
  let inner;
  const stack = {
    dir, keys, clients, certs: c, adminToken,
    redis: redis.client, redisPort: redis.port, redisPassword: redis.password,
    // Starts one more keyward with the same clients; upstreamUrl overrides the redis URL (and
    // upstreamToken its password). In chain mode the default upstream is the inner keyward.
    async startKeyward({ upstreamUrl, upstreamToken, listen: l = {}, upstream: u = {}, quota,
                         budget: b = budget, audit, encryption: e = encryption } = {}) {
      const chained = inner && upstreamUrl === undefined;
      const up = chained ? { ca_file: c.ca, ...upstream, ...u } : { ...upstream, ...u };
      // A free admin port can be taken by a test running beside this one before keyward binds
      // it (seen once in CI): a fresh port then, at most three times.
      for (let attempt = 0; ; ++attempt) {
        const cfg = baseConfig({ certs: c, clients, listen: { ...listen, ...l },
                                 upstream: up, adminPort: await freePort(), signing, quota,
                                 budget: b, audit, encryption: e });
        try {
          const kw = await spawnKeyward(dir, cfg, {
            KW_E2E_UPSTREAM_URL: chained ? inner.kw.url : upstreamUrl ?? `redis://127.0.0.1:${redis.port}`,
            KW_E2E_UPSTREAM_TOKEN: chained ? inner.key : upstreamToken ?? redis.password,
            KW_E2E_ADMIN_TOKEN: adminToken,
          });
          instances.push(kw);
          return kw;
        } catch (err) {
          if (attempt >= 2 || !/cannot listen on admin address .*Address already in use/.test(err.message)) {
            throw err;
          }
        }
      }
    },
    async stop() {
      for (const kw of instances) await kw.stop();
      if (inner) await inner.kw.stop();
      redis.client.close();
      redis.proc.kill("SIGKILL");
      if (!process.env.KW_E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    },
    // Every secret this stack knows (for checking that logs never contain one).
    secrets() {
      return [...Object.values(keys), redis.password, adminToken, ...(inner ? [inner.key] : [])];
    },
  };
  try {
    if (chain) {
      inner = await startInnerKeyward(dir, c, redis, adminToken);
      stack.inner = inner.kw;
      stack.innerKey = inner.key;
    }
    stack.keyward = await stack.startKeyward({ audit });
  } catch (e) {
    await stack.stop();
    throw e;
  }
  stack.url = stack.keyward.url;
  stack.port = stack.keyward.port;
  return stack;
}

// Rewrites a running keyward's config file (`mutate` edits kw.config in place).
export function rewriteConfig(kw, mutate) {
  mutate(kw.config);
  fs.writeFileSync(kw.cfgPath + ".tmp", toYaml(kw.config));
  fs.renameSync(kw.cfgPath + ".tmp", kw.cfgPath);
}

// One request to keyward's admin listener (plain HTTP on 127.0.0.1) with the stack's admin token.
export async function adminCall(stack, kw, method, urlPath, body) {
  const res = await fetch(`http://127.0.0.1:${kw.adminPort}${urlPath}`, {
    method, headers: { authorization: `Bearer ${stack.adminToken}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, text, json };
}

// Housekeeping commands a gateway may send on its own (connection setup, health checks) and the
// ground-truth client's own INFO; everything else counts as "executed".
const HOUSEKEEPING = /^(info|ping|auth|hello|select|echo|quit|reset|client\|.*|command\|.*|command|readonly)$/;

export function executedDelta(before, after) {
  const delta = {};
  for (const [name, n] of Object.entries(after)) {
    if (HOUSEKEEPING.test(name)) continue;
    const d = n - (before[name] || 0);
    if (d !== 0) delta[name] = d;
  }
  return delta;
}

// Runs fn and returns [result, delta of commands redis-server executed meanwhile].
export async function measure(redis, fn, settleMs = 150) {
  const before = await redis.commandStats();
  const result = await fn();
  await sleep(settleMs);
  const after = await redis.commandStats();
  return [result, executedDelta(before, after)];
}

export { sleep };
