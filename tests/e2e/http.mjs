// Raw HTTP/1.1 over TLS helpers for the HTTP-level suite: node:https requests with the test CA, and
// a byte-level exchange (tls.connect) for malformed input that no HTTP client library would send.
import fs from "node:fs";
import https from "node:https";
import tls from "node:tls";
import { certs } from "./harness.mjs";

let caCache;
function ca() {
  caCache ??= fs.readFileSync(certs().ca);
  return caCache;
}

// One request on a fresh connection. Returns {status, headers, body (Buffer), text, json}.
export function request(port, { method = "POST", path = "/", headers = {}, body, key, timeoutMs = 20000 } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (key) h.authorization = `Bearer ${key}`;
    let payload = body;
    if (payload !== undefined && !Buffer.isBuffer(payload) && typeof payload !== "string") {
      payload = JSON.stringify(payload);
    }
    if (payload !== undefined && h["content-length"] === undefined && h["transfer-encoding"] === undefined) {
      h["content-length"] = Buffer.byteLength(payload);
    }
    const req = https.request({ host: "127.0.0.1", port, method, path, headers: h, ca: ca(), agent: false,
                                timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on("data", (d) => chunks.push(d));
      res.on("end", () => resolve(finish(res.statusCode, res.headers, Buffer.concat(chunks))));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`request timed out after ${timeoutMs} ms`)));
    req.on("error", reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

function finish(status, headers, body) {
  const text = body.toString("utf8");
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status, headers, body, text, json };
}

// Writes `parts` (Buffers/strings; a number = pause that many ms) on a fresh TLS connection and
// collects everything the server sends until it closes or `timeoutMs` passes.
// Returns {data (Buffer), closed (server closed), closedAtMs, sentAll, error}.
export function rawExchange(port, parts, { timeoutMs = 10000, endAfterSend = false } = {}) {
  return new Promise((resolve) => {
    const start = Date.now();
    const chunks = [];
    let done = false;
    let sentAll = false;
    const sock = tls.connect({ host: "127.0.0.1", port, ca: ca(), servername: "localhost" });
    const result = (extra) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(chunks), sentAll, closedAtMs: Date.now() - start, ...extra });
    };
    const timer = setTimeout(() => result({ closed: false }), timeoutMs);
    sock.on("data", (d) => chunks.push(d));
    sock.on("end", () => result({ closed: true }));
    sock.on("close", () => result({ closed: true }));
    sock.on("error", (e) => result({ closed: true, error: e }));
    sock.once("secureConnect", async () => {
      for (const p of parts) {
        if (done) return;
        if (typeof p === "number") {
          await new Promise((r) => setTimeout(r, p));
        } else {
          sock.write(p);
        }
      }
      sentAll = true;
      if (endAfterSend) sock.end();
    });
  });
}

// Parses the first HTTP/1.1 response in `buf` (Content-Length or chunked or until close).
export function parseResponse(buf) {
  const sep = buf.indexOf("\r\n\r\n");
  if (sep < 0) return null;
  const head = buf.toString("latin1", 0, sep).split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0]);
  if (!m) return null;
  const headers = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = buf.subarray(sep + 4);
  let rest = Buffer.alloc(0);
  if (headers["content-length"] !== undefined) {
    const n = Number(headers["content-length"]);
    rest = body.subarray(n);
    body = body.subarray(0, n);
  } else if (/chunked/i.test(headers["transfer-encoding"] || "")) {
    const out = [];
    let p = 0;
    for (;;) {
      const eol = body.indexOf("\r\n", p);
      if (eol < 0) break;
      const size = parseInt(body.toString("latin1", p, eol), 16);
      if (!(size > 0)) { p = body.indexOf("\r\n\r\n", eol - 2) + 4; break; }
      out.push(body.subarray(eol + 2, eol + 2 + size));
      p = eol + 2 + size + 2;
    }
    rest = body.subarray(p);
    body = Buffer.concat(out);
  }
  const r = finish(Number(m[1]), headers, body);
  r.rest = rest;
  return r;
}

// Every parsed response in order (for pipelined raw requests).
export function parseAll(buf) {
  const out = [];
  let b = buf;
  for (;;) {
    const r = parseResponse(b);
    if (!r) break;
    out.push(r);
    if (!r.rest || r.rest.length === 0) break;
    b = r.rest;
  }
  return out;
}

export function rawRequest(method, path, { key, headers = [], body, close = true } = {}) {
  const lines = [`${method} ${path} HTTP/1.1`, "host: 127.0.0.1"];
  if (close) lines.push("connection: close");
  if (key) lines.push(`authorization: Bearer ${key}`);
  lines.push(...headers);
  if (body !== undefined) lines.push(`content-length: ${Buffer.byteLength(body)}`);
  const head = Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1");
  return body === undefined ? head : Buffer.concat([head, Buffer.isBuffer(body) ? body : Buffer.from(body)]);
}
