// A recording HTTPS upstream that stands in for the Upstash REST API in the tests: it records
// every request byte for byte (method, raw path, raw header names and values, body) and answers
// with a scripted reply. Fault modes reproduce what a real upstream or network can do: hang,
// reset mid-reply, an HTML page with 200, 500, 401, an expired certificate, a certificate for
// another host name. Certificates are issued by the e2e test CA with the openssl CLI.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import https from "node:https";
import path from "node:path";
import { requireTool } from "./harness.mjs";

// Leaf certificates signed by the CA in `caDir` (ca.crt + ca.key, as makeCerts writes them):
// good (SAN localhost, 127.0.0.1), expired (notAfter in the past), otherHost (SAN for a name and
// address keyward never dials). Returns {good, expired, otherHost}, each {cert, key} PEM text.
export function makeUpstreamCerts(caDir, outDir) {
  requireTool("openssl");
  fs.mkdirSync(outDir, { recursive: true });
  const ca = path.join(caDir, "ca.crt");
  const caKey = path.join(caDir, "ca.key");
  const run = (args) => execFileSync("openssl", args, { cwd: outDir, stdio: "pipe" });
  const issue = (name, san, days) => {
    run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${san[0].replace(/^\w+:/, "")}`]);
    fs.writeFileSync(path.join(outDir, `${name}.ext`),
                     `subjectAltName=${san.join(",")}\nbasicConstraints=CA:FALSE\n` +
                     "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n");
    // -days -1 puts notAfter before now: verification fails with "certificate has expired".
    run(["x509", "-req", "-in", `${name}.csr`, "-CA", ca, "-CAkey", caKey, "-CAcreateserial",
         "-CAserial", path.join(outDir, "ca.srl"), "-out", `${name}.crt`, "-days", String(days),
         "-extfile", `${name}.ext`]);
    return {
      cert: fs.readFileSync(path.join(outDir, `${name}.crt`)),
      key: fs.readFileSync(path.join(outDir, `${name}.key`)),
    };
  };
  return {
    good: issue("good", ["DNS:localhost", "IP:127.0.0.1"], 2),
    expired: issue("expired", ["DNS:localhost", "IP:127.0.0.1"], -1),
    otherHost: issue("other", ["DNS:upstash.invalid", "IP:10.9.9.9"], 2),
  };
}

// Upstash-like default answers: every command's result is a string naming it, so a test can tell
// which upstream slot landed where in the client's reply.
export function resultOf(cmd) {
  return `r:${cmd.map(String).join(" ")}`;
}

function defaultReply(req) {
  let parsed;
  try {
    parsed = JSON.parse(req.body.toString("utf8") || "null");
  } catch {
    parsed = undefined;
  }
  const p = req.path.split("?")[0];
  if ((p === "/pipeline" || p === "/multi-exec") && Array.isArray(parsed) && parsed.every(Array.isArray)) {
    return { status: 200, json: parsed.map((c) => ({ result: resultOf(c) })) };
  }
  if (Array.isArray(parsed)) return { status: 200, json: { result: resultOf(parsed) } };
  // Path style: /cmd/arg/... (+ raw body as the last argument).
  const parts = p.split("/").filter(Boolean).map(decodeURIComponent);
  if (req.body.length) parts.push(req.body.toString("utf8"));
  return { status: 200, json: { result: resultOf(parts) } };
}

// Starts the upstream on 127.0.0.1:<port> (0 = any free port). `certs` from makeUpstreamCerts.
// Returns an object with:
//   requests        every recorded request {method, path, rawHeaders [[name, value]...], headers
//                   (lower-case names -> value), body (Buffer), at (ms)}
//   mode            "ok" | "hang" | "reset" | "resetLate" | "html" | "500" | "413" | "429" | "401" (applies to
//                   new requests; resetLate cuts a 1 MiB reply after 384 KiB)
//   reply(fn)       fn(req) -> {status, headers, json | body, chunked, delayMs} overrides the default answer;
//                   {sse: [data...]} opens an event stream (kept in `streams` until it closes)
//   syncToken       value sent in the upstash-sync-token response header (null = none)
//   useCert(name)   "good" | "expired" | "otherHost"; also closes every open connection so the
//                   next handshake presents it
//   sni             the server name of every TLS handshake (null when none was sent); each
//                   request also records its connection's `servername`
//   waitRequests(n) resolves when n requests have been recorded
//   close()/restart()  stop listening (refused) / listen again on the same port
export async function startRestUpstream({ certs, port = 0 }) {
  const up = {
    requests: [],
    mode: "ok",
    syncToken: null,
    replyFn: null,
    sockets: new Set(),
    hung: new Set(),
    streams: new Set(),
    sni: [],
    waiters: [],
    certName: "good",
  };
  const server = https.createServer({ cert: certs.good.cert, key: certs.good.key, keepAlive: true });
  server.keepAliveTimeout = 60000;
  server.on("connection", (s) => {
    up.sockets.add(s);
    s.once("close", () => up.sockets.delete(s));
  });
  server.on("secureConnection", (s) => {
    up.sni.push(s.servername || null);
    up.sockets.add(s);
    s.once("close", () => up.sockets.delete(s));
  });
  server.on("tlsClientError", () => { /* expected in the certificate fault tests */ });
  server.on("request", (req, res) => {
    const chunks = [];
    req.on("data", (d) => chunks.push(d));
    req.on("end", () => {
      const rawHeaders = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) rawHeaders.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
      const rec = { method: req.method, path: req.url, rawHeaders, headers: req.headers,
                    body: Buffer.concat(chunks), at: Date.now(), httpVersion: req.httpVersion,
                    servername: req.socket.servername || null };
      up.requests.push(rec);
      up.waiters = up.waiters.filter((w) => !(up.requests.length >= w.n && (w.resolve(), true)));
      answer(rec, req, res);
    });
  });

  function answer(rec, req, res) {
    switch (up.mode) {
      case "hang":
        up.hung.add(res);
        res.once("close", () => up.hung.delete(res));
        return;
      case "reset": {
        const body = JSON.stringify({ result: "x".repeat(4096) });
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
        res.write(body.slice(0, 100));
        setTimeout(() => req.socket.destroy(), 20);
        return;
      }
      case "resetLate": {
        // A reply larger than keyward holds back (256 KiB), cut off after 384 KiB.
        const body = JSON.stringify({ result: "y".repeat(1024 * 1024) });
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
        res.write(body.slice(0, 384 * 1024));
        setTimeout(() => req.socket.destroy(), 50);
        return;
      }
      case "html":
        res.writeHead(200, { "content-type": "text/html" });
        res.end("<html><body><h1>Welcome to nginx!</h1></body></html>\n");
        return;
      case "500":
        res.writeHead(500, { "content-type": "text/plain" });
        res.end("Internal Server Error\n");
        return;
      case "429":
        res.writeHead(429, { "content-type": "application/json", "retry-after": "7" });
        res.end(JSON.stringify({ error: "ERR max daily request limit exceeded" }));
        return;
      case "413":
        res.writeHead(413, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: "ERR max request size exceeded" }));
        return;
      case "401":
        res.writeHead(401, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: "Unauthorized" }));
        return;
      default: {
        const r = (up.replyFn && up.replyFn(rec)) || defaultReply(rec);
        if (r.sse) {
          // An open event stream: the listed events now, more via up.streams[i].write().
          res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
          for (const ev of r.sse) res.write(`data: ${ev}\n\n`);
          up.streams.add(res);
          res.once("close", () => up.streams.delete(res));
          return;
        }
        const body = r.json !== undefined ? Buffer.from(JSON.stringify(r.json)) : Buffer.from(r.body ?? "");
        // `chunked`: no Content-Length, the body sent in 64 KiB chunks (its size known only at the end).
        const headers = { "content-type": "application/json", ...(r.chunked ? {} : { "content-length": body.length }),
                          ...(r.headers || {}) };
        if (up.syncToken !== null) headers["upstash-sync-token"] = up.syncToken;
        const send = () => {
          res.writeHead(r.status ?? 200, headers);
          if (r.chunked) for (let at = 0; at < body.length; at += 65536) res.write(body.subarray(at, at + 65536));
          res.end(r.chunked ? undefined : body);
        };
        // `delayMs`: an upstream slow for this request (the connection stays busy meanwhile).
        if (r.delayMs) setTimeout(send, r.delayMs);
        else send();
      }
    }
  }

  const listen = (p) => new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(p, "127.0.0.1", () => {
      server.off("error", reject);
      resolve(server.address().port);
    });
  });
  up.port = await listen(port);
  up.url = `https://127.0.0.1:${up.port}`;
  up.reply = (fn) => { up.replyFn = fn; };
  up.dropConnections = () => {
    for (const res of up.hung) res.destroy();
    for (const res of up.streams) res.destroy();
    for (const s of up.sockets) s.destroy();
  };
  up.useCert = (name) => {
    up.certName = name;
    server.setSecureContext({ cert: certs[name].cert, key: certs[name].key });
    up.dropConnections();
  };
  up.waitRequests = (n, ms = 10000) => new Promise((resolve, reject) => {
    if (up.requests.length >= n) return resolve();
    const t = setTimeout(() => reject(new Error(`upstream saw ${up.requests.length} requests, waited for ${n}`)), ms);
    up.waiters.push({ n, resolve: () => { clearTimeout(t); resolve(); } });
  });
  up.reset = () => {
    up.requests.length = 0;
    up.sni.length = 0;
    up.mode = "ok";
    up.replyFn = null;
    up.syncToken = null;
  };
  up.close = () => new Promise((resolve) => {
    up.dropConnections();
    server.close(() => resolve());
  });
  up.restart = () => listen(up.port);
  return up;
}
