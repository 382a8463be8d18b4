// GET /metrics read by a real Prometheus parser (Debian's python3-prometheus-client, through
// prom_parse.py): every family parses, every name starts with keyward_, the histograms of
// CONTRACT's admin section are well formed, and the per-client and per-reason counters count
// exactly the requests this suite sent.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { assert } from "./counted_assert.mjs";
import { adminCall, startStack } from "./harness.mjs";
import { request } from "./http.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
let stack;

before(async () => {
  stack = await startStack({ chain: false });
});
after(async () => stack?.stop());

function parse(text) {
  // The Debian interpreter: the package installs for it, whatever python3 comes first on PATH.
  const r = spawnSync("/usr/bin/python3", [path.join(here, "prom_parse.py")], { input: text, encoding: "utf8" });
  assert.equal(r.status, 0, `the Prometheus parser refused /metrics (install python3-prometheus-client): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function value(families, family, sample, labels) {
  const f = families[family];
  assert.ok(f, `no family ${family}`);
  const hit = f.samples.find(([n, l]) => n === sample &&
      Object.entries(labels).every(([k, v]) => l[k] === v) && Object.keys(l).length === Object.keys(labels).length);
  return hit === undefined ? undefined : hit[2];
}

test("every family parses; histograms, per-client decisions and denials count what was sent", async () => {
  const send = (key, body, p = "/") => request(stack.port, { path: p, body, key });
  for (let i = 0; i < 5; i++) assert.equal((await send(stack.keys.reader, ["GET", "app:1"])).status, 200);
  for (let i = 0; i < 3; i++) assert.equal((await send(stack.keys.reader, ["SET", "app:1", "x"])).status, 403);
  const partial = await send(stack.keys.writer, [["SET", "inbox:1", "x"], ["FLUSHALL"]], "/pipeline");
  assert.equal(partial.status, 200);
  for (let i = 0; i < 2; i++) assert.equal((await send("kw_" + "A".repeat(43), ["GET", "app:1"])).status, 401);
  const limited = [];
  for (let i = 0; i < 4; i++) limited.push((await send(stack.keys.limited, ["GET", "app:1"])).status);
  assert.ok(limited.includes(429), limited.join(","));
  const n429 = limited.filter((s) => s === 429).length;

  const text = (await adminCall(stack, stack.keyward, "GET", "/metrics")).text;
  const families = parse(text);
  const names = Object.keys(families);
  assert.ok(names.length >= 25, names.join(","));
  for (const n of names) assert.match(n, /^keyward_/);

  // Histograms: +Inf bucket = count; buckets never decrease.
  assert.equal(families.keyward_request_duration_seconds.type, "histogram");
  assert.equal(families.keyward_upstream_duration_seconds.type, "histogram");
  for (const route of ["command", "pipeline", "multi-exec", "subscribe", "psubscribe", "none"]) {
    const buckets = families.keyward_request_duration_seconds.samples
      .filter(([n, l]) => n === "keyward_request_duration_seconds_bucket" && l.route === route);
    assert.equal(buckets.length, 15, route);
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i][2] >= buckets[i - 1][2], route);
    const count = value(families, "keyward_request_duration_seconds", "keyward_request_duration_seconds_count", { route });
    assert.equal(buckets[buckets.length - 1][2], count, route);
  }
  const commands = value(families, "keyward_request_duration_seconds", "keyward_request_duration_seconds_count", { route: "command" });
  assert.ok(commands >= 5 + 3 + 4, String(commands));
  // Refused at admission (the bad key), before the route was known.
  assert.ok(value(families, "keyward_request_duration_seconds", "keyward_request_duration_seconds_count", { route: "none" }) >= 2);
  assert.ok(value(families, "keyward_upstream_duration_seconds", "keyward_upstream_duration_seconds_count", {}) >= 6);

  // Per client and decision (configured names only), exactly.
  const decided = (client, decision) =>
    value(families, "keyward_client_requests", "keyward_client_requests_total", { client, decision });
  assert.equal(decided("reader", "allow"), 5);
  assert.equal(decided("reader", "deny"), 3);
  assert.equal(decided("writer", "partial"), 1);
  assert.equal(decided("limited", "allow"), 4 - n429);
  // A 429 is refused before the policy ran: its record's decision is "none".
  assert.equal(decided("limited", "deny") + decided("limited", "none"), n429);
  assert.ok(!text.includes(`client="${"A".repeat(8)}`));

  // Denials by reason, from keyward's fixed words.
  const denied = (reason) => value(families, "keyward_denials", "keyward_denials_total", { reason });
  assert.equal(denied("command_denied"), 3);
  assert.equal(denied("inline_denials"), 1);
  assert.equal(denied("auth"), 2);
  for (const [, labels] of families.keyward_denials.samples) assert.match(labels.reason, /^[a-z0-9_]+$/);
});
