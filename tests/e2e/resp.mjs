// A minimal RESP2 client over node:net, used as ground truth: it talks to redis-server directly,
// never through keyward, so tests can check what Redis really holds and really executed.
import net from "node:net";

class RespParser {
  constructor() {
    this.buf = Buffer.alloc(0);
  }
  push(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
  }
  // Returns {value} when a whole reply is buffered, otherwise undefined.
  next() {
    const r = this.parseAt(0);
    if (!r) return undefined;
    this.buf = this.buf.subarray(r.end);
    return { value: r.value };
  }
  parseAt(pos) {
    if (pos >= this.buf.length) return null;
    const eol = this.buf.indexOf("\r\n", pos);
    if (eol < 0) return null;
    const type = String.fromCharCode(this.buf[pos]);
    const line = this.buf.toString("utf8", pos + 1, eol);
    const after = eol + 2;
    switch (type) {
      case "+":
        return { value: line, end: after };
      case "-":
        return { value: new RedisError(line), end: after };
      case ":":
        return { value: Number(line), end: after };
      case "$": {
        const len = Number(line);
        if (len < 0) return { value: null, end: after };
        if (this.buf.length < after + len + 2) return null;
        return { value: Buffer.from(this.buf.subarray(after, after + len)), end: after + len + 2 };
      }
      case "*": {
        const n = Number(line);
        if (n < 0) return { value: null, end: after };
        const out = [];
        let p = after;
        for (let i = 0; i < n; i++) {
          const r = this.parseAt(p);
          if (!r) return null;
          out.push(r.value);
          p = r.end;
        }
        return { value: out, end: p };
      }
      default:
        throw new Error(`RESP protocol error: type byte ${JSON.stringify(type)}`);
    }
  }
}

export class RedisError extends Error {}

function encode(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n"));
  }
  return Buffer.concat(parts);
}

// Converts Buffers to strings recursively (binary-unsafe view for convenience).
export function toStr(v) {
  if (Buffer.isBuffer(v)) return v.toString("utf8");
  if (Array.isArray(v)) return v.map(toStr);
  return v;
}

export class RespClient {
  static async connect(port, password) {
    const c = new RespClient();
    await c.open(port);
    if (password) await c.call("AUTH", password);
    return c;
  }
  open(port) {
    this.parser = new RespParser();
    this.waiters = [];
    return new Promise((resolve, reject) => {
      this.sock = net.connect({ host: "127.0.0.1", port }, resolve);
      this.sock.once("error", reject);
      this.sock.on("data", (chunk) => {
        this.parser.push(chunk);
        for (;;) {
          const r = this.parser.next();
          if (!r) break;
          const w = this.waiters.shift();
          if (w) w(r.value);
        }
      });
    });
  }
  // Raw reply (Buffers for bulk strings; RedisError for errors, not thrown).
  callRaw(...args) {
    return new Promise((resolve, reject) => {
      // A dead redis-server must fail the test, not hang it.
      const timer = setTimeout(() => reject(new Error(`redis-server did not answer ${args[0]} in 15 s`)), 15000);
      this.waiters.push((v) => {
        clearTimeout(timer);
        resolve(v);
      });
      this.sock.write(encode(args));
    });
  }
  // Reply with bulk strings as utf8 strings; throws on a Redis error.
  async call(...args) {
    const v = await this.callRaw(...args);
    if (v instanceof RedisError) throw v;
    return toStr(v);
  }
  // INFO commandstats as {name: calls + rejected_calls}.
  async commandStats() {
    const text = await this.call("INFO", "commandstats");
    const out = {};
    for (const line of text.split("\r\n")) {
      const m = /^cmdstat_([^:]+):(.*)$/.exec(line);
      if (!m) continue;
      const f = Object.fromEntries(m[2].split(",").map((kv) => kv.split("=")));
      // failed_calls are already part of calls; rejected_calls (ACL, arity, OOM) are not.
      out[m[1]] = Number(f.calls || 0) + Number(f.rejected_calls || 0);
    }
    return out;
  }
  async allKeys() {
    const keys = [];
    let cursor = "0";
    do {
      const [next, batch] = await this.call("SCAN", cursor, "COUNT", "1000");
      cursor = next;
      keys.push(...batch);
    } while (cursor !== "0");
    return keys.sort();
  }
  close() {
    this.sock?.destroy();
  }
}
