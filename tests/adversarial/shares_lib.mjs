// Helpers of the shares_* suites: SSE streams held open, a load generator in a worker thread (so
// the probe's event loop is not the attacker's), and a client that asks and never reads.
import fs from "node:fs";
import https from "node:https";
import tls from "node:tls";
import { Worker } from "node:worker_threads";
import { certs } from "../e2e/harness.mjs";

const CA = () => fs.readFileSync(certs().ca);

// Opens POST /subscribe/<channel>; resolves on the response head to {status, json, close()}.
// A 200 stream stays open until close(); an error body is read whole first.
export function openStream(port, key, channel, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: "127.0.0.1", port, method: "POST", path: `/subscribe/${channel}`, agent: false, ca: CA(),
      headers: { authorization: `Bearer ${key}`, accept: "text/event-stream", "content-length": 2 },
      timeout: timeoutMs,
    }, (res) => {
      const close = () => { res.destroy(); req.destroy(); };
      if (res.statusCode === 200) return resolve({ status: 200, type: res.headers["content-type"], close });
      const chunks = [];
      res.on("data", (d) => chunks.push(d));
      res.on("end", () => {
        let json;
        try { json = JSON.parse(Buffer.concat(chunks).toString()); } catch { json = undefined; }
        resolve({ status: res.statusCode, json, close });
      });
    });
    req.on("timeout", () => req.destroy(new Error("subscribe timed out")));
    req.on("error", reject);
    req.end("[]");
  });
}

// `connections` keep-alive loops in a worker thread, each POSTing `body` to `path` with `key`
// until `durationMs` passes. Resolves to {count, statuses, errors, sample} (sample: one body per
// non-200 status).
export function flood(port, key, { path = "/pipeline", body, connections = 150, durationMs = 3000 }) {
  const code = `
    const { workerData, parentPort } = require("node:worker_threads");
    const https = require("node:https");
    const { port, key, path, body, connections, durationMs, ca } = workerData;
    const agent = new https.Agent({ keepAlive: true, maxSockets: connections, ca });
    const statuses = {}; const sample = {}; let count = 0, errors = 0;
    const end = Date.now() + durationMs;
    const one = () => new Promise((resolve) => {
      const req = https.request({ host: "127.0.0.1", port, method: "POST", path, agent,
        headers: { authorization: "Bearer " + key, "content-length": Buffer.byteLength(body) },
        timeout: 10000 }, (res) => {
        const chunks = [];
        res.on("data", (d) => { if (res.statusCode !== 200) chunks.push(d); });
        res.on("end", () => {
          count++; statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
          if (res.statusCode !== 200 && !sample[res.statusCode]) sample[res.statusCode] = Buffer.concat(chunks).toString().slice(0, 300);
          resolve();
        });
        res.on("error", () => { errors++; resolve(); });
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", () => { errors++; resolve(); });
      req.end(body);
    });
    const loop = async () => { while (Date.now() < end) await one(); };
    Promise.all(Array.from({ length: connections }, loop)).then(() => {
      agent.destroy();
      parentPort.postMessage({ count, statuses, errors, sample });
    });
  `;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { port, key, path, body, connections, durationMs, ca: CA() } });
    w.once("message", (m) => { resolve(m); w.terminate(); });
    w.once("error", reject);
  });
}

// Opens `n` TLS connections, and once all are up writes one POST `path` of `body` on each at
// once: `n` requests arrive together whatever the machine's load (a flood's connections may be
// busy with their handshakes). Resolves to {statuses, sample} as flood() does.
export async function burst(port, key, { path = "/pipeline", body, n = 20 }) {
  const sockets = await Promise.all(Array.from({ length: n }, () => new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, ca: CA(), servername: "localhost" }, () => resolve(s));
    s.on("error", reject);
  })));
  const request = `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
  const answers = sockets.map((s) => new Promise((resolve) => {
    const chunks = [];
    s.on("data", (d) => chunks.push(d));
    s.on("close", () => resolve(Buffer.concat(chunks).toString()));
  }));
  for (const s of sockets) s.write(request);
  const statuses = {};
  const sample = {};
  for (const text of await Promise.all(answers)) {
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
    statuses[status] = (statuses[status] || 0) + 1;
    if (status !== 200 && !sample[status]) {
      const body = text.indexOf("\r\n\r\n") + 4;
      sample[status] = text.slice(body, body + 300);  // the body's first 300 bytes, whatever the head's length
    }
  }
  return { statuses, sample };
}

// Sends GET `path` on a fresh TLS connection and never reads the answer. close() ends it.
export function neverRead(port, key, path) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, ca: CA(), servername: "localhost" }, () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n\r\n`);
      s.pause();
      resolve({ close: () => s.destroy() });
    });
    s.on("error", reject);
  });
}
