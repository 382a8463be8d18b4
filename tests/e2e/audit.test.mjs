// The audit log (README, Audit log) end to end: the real keyward, redis-server, TLS and
// @upstash/redis. Records tell exactly what redis-server did (allowed, denied, partial pipeline,
// refused transaction, 401, 429, JWT and Origin), hold no secret and no value, chain so that
// `keyward audit verify` passes on the real file and fails on each kind of tampering, survive
// SIGHUP rotation under load without a loss, and `on_failure: refuse` refuses while the file
// cannot be written and recovers (no record of a request that ran is lost).
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { Redis } from "@upstash/redis";
import { assert } from "./counted_assert.mjs";
import { adminCall, executedDelta, sleep, startStack } from "./harness.mjs";
import tls from "node:tls";
import { request } from "./http.mjs";
import { edKey, keyDir, mint, signingSection } from "./jwt_support.mjs";

let stack;
let keys;
let jwtKey;

before(async () => {
  keys = keyDir();
  jwtKey = await edKey(keys.dir, "audit-key-1");
  stack = await startStack({
    chain: false,
    signing: signingSection([jwtKey], keys.revokedFile),
    extraClients: {
      session: { credentials: ["jwt"], commands: ["+get", "+set"], keys: ["sess:{sub}:*"] },
    },
  });
});
after(async () => {
  await stack?.stop();
  keys?.cleanup();
});

function verify(...files) {
  const r = spawnSync(process.env.KEYWARD_BIN, ["audit", "verify", ...files], { encoding: "utf8" });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

function readRecords(file) {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

// Waits until `file` holds at least `n` records (the writer thread is not the request path).
async function waitForRecords(files, n, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const all = [].concat(...[files].flat().map(readRecords));
    if (all.length >= n || Date.now() > deadline) return all;
    await sleep(20);
  }
}

// /readyz's status once it settles on `want` (the upstream's first PING may still be on its
// way on a loaded machine), or the last status seen after 5 s.
async function readyz(kw, want) {
  let status = 0;
  for (let i = 0; i < 100 && status !== want; i++) {
    if (i > 0) await sleep(50);
    status = (await fetch(`http://127.0.0.1:${kw.adminPort}/readyz`)).status;
  }
  return status;
}

async function auditedKeyward(dir, audit) {
  return stack.startKeyward({ audit });
}

test("records match what redis-server executed, name the credential, and hold no secret", async () => {
  const dir = fs.mkdtempSync(path.join(stack.dir, "audit-"));
  const file = path.join(dir, "audit.jsonl");
  const kw = await auditedKeyward(dir, { file, log_keys: true, on_failure: "refuse" });
  const send = (key, body, p = "/", headers = {}) => request(kw.port, { path: p, body, key, headers });
  const value = "VALUE-" + crypto.randomBytes(8).toString("hex");  // must never reach the log
  const before = await stack.redis.commandStats();
  const answered = [];  // [x-request-id, status]
  const note = (r) => {
    answered.push([r.headers["x-request-id"], r.status]);
    return r;
  };

  // Allowed, through the real SDK (its X-Request-Id comes back on the response).
  const writer = new Redis({ url: kw.url, token: stack.keys.writer, enableAutoPipelining: false });
  assert.equal(await writer.set("inbox:1", value), "OK");
  // Denied command; partial pipeline; refused transaction; 401; a client's own request id.
  assert.equal(note(await send(stack.keys.reader, ["SET", "app:1", value])).status, 403);
  const partial = note(await send(stack.keys.writer,
      [["SET", "inbox:2", value], ["FLUSHALL"], ["GET", "inbox:2"]], "/pipeline"));
  assert.equal(partial.status, 200);
  assert.equal(partial.json[1].error.startsWith("NOPERM"), true);
  const tx = note(await send(stack.keys.writer, [["SET", "inbox:3", value], ["FLUSHALL"]], "/multi-exec"));
  assert.equal(tx.status, 403);
  const bad = note(await send("kw_" + "B".repeat(43), ["GET", "app:1"]));
  assert.equal(bad.status, 401);
  const own = note(await send(stack.keys.reader, ["GET", "app:1"], "/", { "x-request-id": "client-req.7" }));
  assert.equal(own.status, 200);
  // Rate limited (limits: 1/s, burst 2): at least one 429, its command never sent.
  const limited = [];
  for (let i = 0; i < 4; i++) limited.push(note(await send(stack.keys.limited, ["GET", "app:1"])).status);
  assert.ok(limited.includes(429), limited.join(","));
  // A JWT: credential jwt:<kid>:<jti>, sub from the token; an Origin the client allows.
  const jti = "jti-" + crypto.randomBytes(6).toString("hex");
  const token = await mint(jwtKey, { sub: "42", claims: { jti } });
  assert.equal(note(await send(token, ["SET", "sess:42:a", value])).status, 200);
  const origin = "https://app.example.com";
  assert.equal(note(await send(stack.keys.browser, ["GET", "app:1"], "/", { origin })).status, 200);
  // A JWT without a jti: told apart by a digest prefix of the token (attack-run finding).
  const bare = await mint(jwtKey, { sub: "42" });
  assert.equal(note(await send(bare, ["GET", "sess:42:a"])).status, 200);

  const records = await waitForRecords(file, answered.length + 1);
  assert.equal(records.length, answered.length + 1, JSON.stringify(records.map((r) => r.status)));
  const byId = new Map(records.map((r) => [r.request_id, r]));
  assert.equal(byId.size, records.length, "request ids are unique");
  for (const [id, status] of answered) {
    assert.ok(byId.has(id), `no record for ${id}`);
    assert.equal(byId.get(id).status, status, id);
  }
  const rec = (i) => byId.get(answered[i][0]);
  // The SDK's SET: the first record, allowed, its key logged (log_keys), the value never.
  const sdkSet = records.find((r) => r.client === "writer" && r.route === "command");
  assert.deepEqual(sdkSet.commands, [{ name: "set", decision: "allow", reason: null, keys: ["inbox:1"] }]);
  assert.equal(sdkSet.status, 200);
  assert.match(sdkSet.credential, /^key:[0-9a-f]{12}$/);
  const digest = crypto.createHash("sha256").update(stack.keys.writer).digest("hex");
  assert.equal(sdkSet.credential, "key:" + digest.slice(0, 12));
  assert.ok(sdkSet.upstream_ms >= 0);
  // Denied.
  assert.deepEqual(rec(0).commands, [{ name: "set", decision: "deny", reason: "command_denied", keys: ["app:1"] }]);
  assert.equal(rec(0).upstream_ms, null);
  // Partial pipeline: FLUSHALL denied, GET denied (writer holds write_keys only), SET sent.
  assert.deepEqual(rec(1).commands.map((c) => [c.name, c.decision, c.reason]),
                   [["set", "allow", null], ["flushall", "deny", "command_denied"], ["get", "deny", "key_denied"]]);
  assert.equal(rec(1).decision, "partial");
  // Refused transaction: nothing sent; the allowed SET is "skipped".
  assert.deepEqual(rec(2).commands.map((c) => [c.name, c.decision, c.reason]),
                   [["set", "skipped", "transaction"], ["flushall", "deny", "command_denied"]]);
  // 401: no client, no credential, nothing decided.
  assert.equal(rec(3).client, null);
  assert.equal(rec(3).credential, null);
  assert.deepEqual(rec(3).commands, []);
  assert.equal(rec(3).reason, "auth");
  // The client's own id kept beside keyward's.
  assert.equal(rec(4).client_request_id, "client-req.7");
  assert.match(rec(4).request_id, /^[0-9a-f]{16,}/);
  // 429s: the command the policy allowed was skipped for the quota.
  for (let i = 5; i < 9; i++) {
    const r = rec(i);
    if (r.status === 429) {
      assert.equal(r.commands[0].decision, "skipped");
      assert.match(r.commands[0].reason, /^quota|rate/);
    } else {
      assert.equal(r.commands[0].decision, "allow");
    }
  }
  // The JWT and the Origin.
  assert.equal(rec(9).credential, `jwt:${jwtKey.id}:${jti}`);
  assert.equal(rec(9).sub, "42");
  assert.equal(rec(9).client, "session");
  assert.equal(rec(10).origin, origin);
  assert.equal(rec(10).source_ip, "127.0.0.1");
  const bareDigest = crypto.createHash("sha256").update(bare).digest("hex").slice(0, 12);
  assert.equal(rec(11).credential, `jwt:${jwtKey.id}:#${bareDigest}`);

  // What redis-server executed is exactly what the records allowed.
  await sleep(100);
  const delta = executedDelta(before, await stack.redis.commandStats());
  const allowed = {};
  for (const r of records) for (const c of r.commands) if (c.decision === "allow") allowed[c.name] = (allowed[c.name] ?? 0) + 1;
  assert.deepEqual(delta, allowed);
  assert.equal(await stack.redis.call("GET", "inbox:1"), value);
  assert.equal(await stack.redis.call("EXISTS", "app:1"), 0);
  assert.equal(await stack.redis.call("EXISTS", "inbox:3"), 0);

  // No token, value, upstream token or admin token anywhere in the file.
  const text = fs.readFileSync(file, "utf8");
  for (const secret of [...stack.secrets(), token, bare, value, "B".repeat(43)]) {
    assert.ok(!text.includes(secret), "a secret or value in the audit log");
  }
  // The chain verifies on the real file.
  const v = verify(file);
  assert.equal(v.status, 0, v.out + v.err);
  assert.equal(v.out, `ok: ${records.length} records\n`);
  assert.equal(records[0].prev, crypto.createHash("sha256").update("keyward-audit-v1").digest("hex"));
  // /metrics counts them.
  const metrics = (await adminCall(stack, kw, "GET", "/metrics")).text;
  assert.match(metrics, new RegExp(`^keyward_audit_records_total ${records.length}$`, "m"));
  assert.match(metrics, /^keyward_audit_failing 0$/m);
  await kw.stop();
  // At exit the chain's head goes to stdout too: an anchor kept apart from the file.
  await sleep(100);
  const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => l);
  const checkpoint = kw.events.filter((e) => e.event === "audit_checkpoint").at(-1);
  assert.ok(checkpoint, "an audit_checkpoint event at exit");
  assert.equal(checkpoint.records, String(lines.length));
  assert.equal(checkpoint.sha256, crypto.createHash("sha256").update(lines.at(-1)).digest("hex"));
});

// Sends a whole request on a fresh TLS connection and closes at once, never reading the answer.
function sendAndVanish(port, key, body, path = "/") {
  return new Promise((resolve) => {
    const payload = JSON.stringify(body);
    const sock = tls.connect({ host: "127.0.0.1", port, ca: fs.readFileSync(stack.certs.ca),
                               servername: "localhost" });
    sock.on("error", () => resolve());
    sock.on("close", () => resolve());
    sock.once("secureConnect", () => {
      // Written out (with TLS close_notify), then the socket is dropped unread.
      sock.on("finish", () => sock.destroy());
      sock.end(`POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n` +
               `Content-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n${payload}`);
    });
  });
}

test("a client that closes before its answer cannot run a command unaudited (attack-run finding)", async () => {
  const dir = fs.mkdtempSync(path.join(stack.dir, "audit-"));
  const file = path.join(dir, "audit.jsonl");
  const kw = await auditedKeyward(dir, { file });
  await stack.redis.call("DEL", "vanish:n");
  for (let i = 0; i < 20; i++) await sendAndVanish(kw.port, stack.keys.admin, ["INCR", "vanish:n"]);
  for (let i = 0; i < 10; i++) {
    await sendAndVanish(kw.port, stack.keys.admin, [["INCR", "vanish:n"], ["INCR", "vanish:n"]], "/pipeline");
    await sendAndVanish(kw.port, stack.keys.admin, [["INCR", "vanish:n"]], "/multi-exec");
  }
  await sleep(300);
  const executed = Number(await stack.redis.call("GET", "vanish:n") ?? 0);
  const records = await waitForRecords(file, 1);
  let sent = 0;
  for (const r of records) {
    for (const c of r.commands) if (c.name === "incr" && c.decision === "allow") sent++;
    if (r.status === 499) assert.equal(r.reason, "client_closed");
  }
  assert.ok(executed > 0, "some requests ran");
  // Every INCR redis-server ran has an allowing record (a 499 may also name one the client's
  // close stopped before it was sent).
  assert.ok(sent >= executed, `redis ran ${executed} INCRs, records allow ${sent}`);
  assert.equal(records.length, 40, "one record per request");
  assert.equal(verify(file).status, 0);
  await kw.stop();
});

test("audit verify fails on a changed, removed, reordered or inserted record and names it", async () => {
  const dir = fs.mkdtempSync(path.join(stack.dir, "audit-"));
  const file = path.join(dir, "audit.jsonl");
  const kw = await auditedKeyward(dir, { file });
  for (let i = 0; i < 6; i++) assert.equal((await request(kw.port, { body: ["GET", `app:${i}`], key: stack.keys.reader })).status, 200);
  await waitForRecords(file, 6);
  await kw.stop();
  const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => l);
  assert.equal(lines.length, 6);
  assert.equal(verify(file).status, 0);
  const tampered = (name, ls, trailer = "\n") => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, ls.join("\n") + trailer);
    return verify(f);
  };
  const changed = lines.slice();
  changed[2] = changed[2].replace('"status":200', '"status":403');
  let v = tampered("changed", changed);
  assert.equal(v.status, 1);
  assert.match(v.out, /^broken: .*changed:4: its prev does not match .*changed:3 /);
  v = tampered("removed", [...lines.slice(0, 2), ...lines.slice(3)]);
  assert.equal(v.status, 1);
  assert.match(v.out, /removed:3: its prev does not match .*removed:2 .*removed/);
  v = tampered("reordered", [lines[0], lines[2], lines[1], ...lines.slice(3)]);
  assert.equal(v.status, 1);
  assert.match(v.out, /reordered:2: out of order: it belongs after .*reordered:3/);
  // Inserted: a copy of a record put back later, and a forged record with a well-formed prev.
  v = tampered("inserted", [...lines.slice(0, 4), lines[1], ...lines.slice(4)]);
  assert.equal(v.status, 1);
  assert.match(v.out, /inserted:5: inserted \(a copy of .*inserted:2\)/);
  const forged = JSON.parse(lines[3]);
  forged.client = "admin";
  forged.prev = JSON.parse(lines[4]).prev;  // claims to follow record 4
  v = tampered("forged", [...lines.slice(0, 4), JSON.stringify(forged), ...lines.slice(4)]);
  assert.equal(v.status, 1);
  assert.match(v.out, /forged:5: inserted \(.*forged:6 follows .*forged:4\)/);
  v = tampered("cut", lines.slice(0, 5).concat(lines[5].slice(0, 40)), "");
  assert.equal(v.status, 1);
  assert.match(v.out, /cut:6: the file ends inside a record/);
  v = tampered("garbage", [...lines.slice(0, 3), "not json", ...lines.slice(3)]);
  assert.equal(v.status, 1);
  assert.match(v.out, /garbage:4: not an audit record/);
  // A changed prev field breaks the chain at that record.
  const edited = lines.slice();
  edited[3] = edited[3].replace(/"prev":"[0-9a-f]{4}/, '"prev":"0000');
  v = tampered("edited", edited);
  assert.equal(v.status, 1);
  assert.match(v.out, /edited:4: /);
  // Missing file: exit 2.
  assert.equal(verify(path.join(dir, "nope")).status, 2);
});

test("SIGHUP rotation under load loses no record and keeps the chain across files", async () => {
  const dir = fs.mkdtempSync(path.join(stack.dir, "audit-"));
  const file = path.join(dir, "audit.jsonl");
  const kw = await auditedKeyward(dir, { file });
  const ids = [];
  let stop = false;
  const worker = async (w) => {
    let i = 0;
    while (!stop) {
      const r = await request(kw.port, { body: ["GET", `app:${w}:${i++}`], key: stack.keys.reader });
      assert.equal(r.status, 200);
      ids.push(r.headers["x-request-id"]);
    }
  };
  const workers = [0, 1, 2, 3].map(worker);
  const rotated = [];
  try {
    // A rotation after every 25 answered requests (whatever the machine's speed), with 4
    // requests always in flight.
    const until = async (count) => {
      for (let waited = 0; ids.length < count && waited < 60000; waited += 10) await sleep(10);
    };
    for (let n = 1; n <= 8; n++) {
      await until(25 * n);
      // As logrotate does: rename the file keyward has (re)created, then SIGHUP.
      for (let waited = 0; !fs.existsSync(file) && waited < 5000; waited += 10) await sleep(10);
      const to = `${file}.${n}`;
      fs.renameSync(file, to);
      rotated.push(to);
      kw.proc.kill("SIGHUP");
    }
    await until(25 * 9);
  } finally {
    stop = true;
    await Promise.all(workers);
  }
  const files = [...rotated, file];
  const records = await waitForRecords(files, ids.length);
  assert.ok(ids.length >= 225, `only ${ids.length} requests`);
  assert.equal(records.length, ids.length);
  assert.deepEqual(new Set(records.map((r) => r.request_id)), new Set(ids));
  // Records landed in several files (the rotations took effect), each file's chain continuing.
  const nonEmpty = files.filter((f) => readRecords(f).length > 0);
  assert.ok(nonEmpty.length >= 5, `records in ${nonEmpty.length} files`);
  const v = verify(...files);
  assert.equal(v.status, 0, v.out + v.err);
  assert.equal(v.out, `ok: ${ids.length} records\n`);
  assert.equal(v.err, "");
  // Out of order, the files do not verify.
  assert.equal(verify(...[nonEmpty[1], nonEmpty[0], ...nonEmpty.slice(2)]).status, 1);
  // A restart continues the chain from the file's last record.
  await kw.stop();
  const again = await auditedKeyward(dir, { file });
  assert.equal((await request(again.port, { body: ["GET", "app:x"], key: stack.keys.reader })).status, 200);
  await waitForRecords(files, ids.length + 1);
  const v2 = verify(...files);
  assert.equal(v2.out, `ok: ${ids.length + 1} records\n`);
  await again.stop();
});

test("on_failure refuse: 503 while the file cannot be written, then recovery; no record lost", async () => {
  const dir = fs.mkdtempSync(path.join(stack.dir, "audit-"));
  const missing = path.join(dir, "not-yet");
  const file = path.join(missing, "audit.jsonl");
  const kw = await auditedKeyward(dir, { file, on_failure: "refuse" });
  const get = () => request(kw.port, { body: ["SET", "inbox:refuse", "x"], key: stack.keys.writer });
  const before = await stack.redis.commandStats();
  for (let i = 0; i < 3; i++) {
    const r = await get();
    assert.equal(r.status, 503);
    assert.match(r.json.error, /audit log/);
    assert.equal(r.headers["retry-after"], "1");
  }
  assert.deepEqual(executedDelta(before, await stack.redis.commandStats()), {}, "nothing ran unaudited");
  assert.equal(await readyz(kw, 503), 503);
  const metrics = (await adminCall(stack, kw, "GET", "/metrics")).text;
  assert.match(metrics, /^keyward_audit_failing 1$/m);
  fs.mkdirSync(missing);
  let status = 0;
  const deadline = Date.now() + 5000;
  while (status !== 200 && Date.now() < deadline) {
    await sleep(100);
    status = (await get()).status;
  }
  assert.equal(status, 200, "recovered within 5 s of the directory appearing");
  assert.equal(await readyz(kw, 200), 200);
  // The 503s' records come first; the one that ran follows (the writer batches).
  let records = [];
  for (let i = 0; i < 100 && !records.some((r) => r.status === 200); i++) {
    await sleep(50);
    records = readRecords(file);
  }
  assert.ok(records.some((r) => r.status === 200 && r.commands[0]?.decision === "allow"));
  assert.ok(kw.events.some((e) => e.event === "audit_write_failed"));
  assert.equal(verify(file).status, 0);
  await kw.stop();

  // A file that fails on write (a symlink to /dev/full): the request that ran before the failure
  // was known keeps its record, which reaches the file once it can be written.
  const full = path.join(dir, "full.jsonl");
  fs.symlinkSync("/dev/full", full);
  const kw2 = await auditedKeyward(dir, { file: full, on_failure: "refuse" });
  const first = await request(kw2.port, { body: ["GET", "app:first"], key: stack.keys.reader });
  assert.equal(first.status, 200);
  let refused;
  for (let i = 0; i < 50 && refused?.status !== 503; i++) {
    await sleep(20);
    refused = await request(kw2.port, { body: ["GET", "app:later"], key: stack.keys.reader });
  }
  assert.equal(refused.status, 503);
  fs.unlinkSync(full);
  fs.writeFileSync(full, "");
  const recovered = await waitForRecords(full, 1);
  assert.ok(recovered.some((r) => r.request_id === first.headers["x-request-id"]),
            "the record of the request that ran reached the new file");
  assert.equal(verify(full).status, 0);
  await kw2.stop();
});

// Attack round 30b: a /pipeline of 10,000 denied commands (60 KB, billed nothing) made a 580 KB
// record: 8 connections wrote 1,097 MiB in 10 s, and with a slow disk the full buffer answered
// every tenant 503. Commands that did not run are listed up to 32, then counted.
test("refused commands past the 32nd are counted, not listed: a record stays small", async () => {
  const dir = fs.mkdtempSync(path.join(stack.dir, "audit-"));
  const file = path.join(dir, "audit.jsonl");
  const kw = await auditedKeyward(dir, { file, log_keys: true, on_failure: "refuse" });
  const body = [["SET", "inbox:ok", "1"], ...Array.from({ length: 9999 }, () => ["x"])];
  const denied = await request(kw.port, { path: "/pipeline", body, key: stack.keys.writer });
  assert.equal(denied.status, 200, denied.text.slice(0, 200));
  assert.deepEqual(denied.json[0], { result: "OK" });
  // Rate limited (1/s, burst 2): every command allowed but skipped.
  const many = Array.from({ length: 500 }, () => ["GET", "app:1"]);
  let limited;
  for (let i = 0; i < 5 && limited?.status !== 429; i++) {
    limited = await request(kw.port, { path: "/pipeline", body: many, key: stack.keys.limited });
  }
  assert.equal(limited.status, 429, limited.text);
  const records = await waitForRecords(file, 2);
  const big = records.find((r) => r.request_id === denied.headers["x-request-id"]);
  assert.ok(big, "no record for the denied pipeline");
  const line = fs.readFileSync(file, "utf8").split("\n").find((l) => l.includes(big.request_id));
  assert.ok(line.length < 8192, `the record is ${line.length} bytes`);
  assert.deepEqual(big.commands[0], { name: "set", decision: "allow", reason: null, keys: ["inbox:ok"] });
  assert.equal(big.commands.length, 33);
  assert.ok(big.commands.slice(1).every((c) => c.name === "?" && c.decision === "deny"), JSON.stringify(big.commands[1]));
  assert.deepEqual(big.commands_omitted, [{ decision: "deny", reason: big.commands[1].reason, count: 9999 - 32 }]);
  const skipped = records.find((r) => r.request_id === limited.headers["x-request-id"]);
  assert.ok(skipped, "no record for the 429");
  assert.equal(skipped.commands.length, 32);
  assert.equal(skipped.commands_omitted.length, 1);
  assert.equal(skipped.commands_omitted[0].decision, "skipped");
  assert.equal(skipped.commands_omitted[0].count, 500 - 32);
  assert.equal(verify(file).status, 0);
  await kw.stop();
});

test("on_failure continue: requests go on while the file cannot be written; records follow", async () => {
  const dir = fs.mkdtempSync(path.join(stack.dir, "audit-"));
  const missing = path.join(dir, "later");
  const file = path.join(missing, "audit.jsonl");
  const kw = await auditedKeyward(dir, { file, on_failure: "continue" });
  const ids = [];
  for (let i = 0; i < 5; i++) {
    const r = await request(kw.port, { body: ["GET", "app:c"], key: stack.keys.reader });
    assert.equal(r.status, 200);
    ids.push(r.headers["x-request-id"]);
  }
  assert.equal(await readyz(kw, 200), 200);
  fs.mkdirSync(missing);
  const records = await waitForRecords(file, 5);
  assert.deepEqual(records.map((r) => r.request_id), ids, "buffered records written in order");
  assert.equal(verify(file).status, 0);
  await kw.stop();
});

test("attack-run findings: a FIFO, a deleted file and a torn last line", async () => {
  const dir = fs.mkdtempSync(path.join(stack.dir, "audit-"));
  // A FIFO nobody reads: the open fails at once (no hang), requests get 503, and SIGTERM exits.
  const fifo = path.join(dir, "audit.fifo");
  assert.equal(spawnSync("mkfifo", [fifo]).status, 0);
  const kw = await auditedKeyward(dir, { file: fifo, on_failure: "refuse" });
  const r = await request(kw.port, { body: ["GET", "app:f"], key: stack.keys.reader });
  assert.equal(r.status, 503);
  assert.equal(await readyz(kw, 503), 503);
  const t0 = Date.now();
  await kw.stop("SIGTERM", 20000);
  assert.equal(kw.exitCode, 0);
  assert.ok(Date.now() - t0 < 10000, `SIGTERM took ${Date.now() - t0} ms`);

  // The audit file deleted while keyward runs: later records go to a new file at the path.
  const file = path.join(dir, "audit.jsonl");
  const kw2 = await auditedKeyward(dir, { file });
  assert.equal((await request(kw2.port, { body: ["GET", "app:d"], key: stack.keys.reader })).status, 200);
  await waitForRecords(file, 1);
  fs.unlinkSync(file);
  const after = await request(kw2.port, { body: ["GET", "app:d"], key: stack.keys.reader });
  assert.equal(after.status, 200);
  const recs = await waitForRecords(file, 1);
  assert.deepEqual(recs.map((x) => x.request_id), [after.headers["x-request-id"]]);
  for (let i = 0; i < 50 && !kw2.events.some((e) => e.event === "audit_file_reopened"); i++) await sleep(20);
  assert.ok(kw2.events.some((e) => e.event === "audit_file_reopened"));
  await kw2.stop();

  // A torn last line (a crash mid-write): the next start marks it; verify checks past it.
  fs.appendFileSync(file, '{"time":"2026-');
  const kw3 = await auditedKeyward(dir, { file });
  assert.equal((await request(kw3.port, { body: ["GET", "app:t"], key: stack.keys.reader })).status, 200);
  await kw3.stop();
  const v = verify(file);
  assert.equal(v.status, 0, v.out + v.err);
  assert.equal(v.out, "ok: 3 records\n");  // the record, the marker, the new one
  assert.match(v.err, /audit\.jsonl:2: a record cut short by a crash \(14 bytes\)/);
  // A file whose last line is not an audit record is refused at start.
  const foreign = path.join(dir, "foreign.jsonl");
  fs.writeFileSync(foreign, "an nginx line\n");
  await assert.rejects(auditedKeyward(dir, { file: foreign }), /is not an audit record/);
});

