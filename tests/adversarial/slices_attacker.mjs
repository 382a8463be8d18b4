// Worker thread for replies_slices.test.mjs: the attacker's requests, TLS and hashing run here so
// that their CPU does not stall the probe's event loop (which would be measured as keyward's
// latency). workerData: {port, key, body, durationMs, concurrency}; posts {statuses, hashes}.
import crypto from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";
import { request } from "../e2e/http.mjs";

const { port, key, body, durationMs, concurrency } = workerData;
const statuses = [];
const hashes = [];
const until = Date.now() + durationMs;
async function attacker() {
  while (Date.now() < until) {
    const res = await request(port, { body, key, timeoutMs: 30000 });
    statuses.push(res.status);
    hashes.push(crypto.createHash("sha256").update(res.body).digest("hex"));
  }
}
await Promise.all(Array.from({ length: concurrency }, attacker));
parentPort.postMessage({ statuses, hashes });
