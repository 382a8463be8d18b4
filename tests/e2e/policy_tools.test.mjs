// Policy tools against a running keyward (README, Changing a policy safely): shadow policies in
// both directions under concurrent load, counted exactly and never acting; POST /v1/explain
// behind the admin token, the same answer as the CLI, and nothing sent upstream; keyward policy
// test's exit status and closing line.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { assert } from "./counted_assert.mjs";
import { adminCall, measure, startStack } from "./harness.mjs";
import { request } from "./http.mjs";

const bin = process.env.KEYWARD_BIN;

function keyward(args, env = {}) {
  const r = spawnSync(bin, args, { encoding: "utf8", env: { ...process.env, ...env }, timeout: 60000 });
  assert.equal(r.error, undefined, String(r.error));
  return r;
}

function metric(text, name, labels) {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(",");
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${want}} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

describe("shadow policies", () => {
  let stack;
  before(async () => {
    stack = await startStack({
      chain: false,
      extraClients: {
        // The candidate drops SET: requests with a SET are allowed and would be denied.
        stricter: { commands: ["+get", "+set"], keys: ["app:*"], shadow: { commands: ["+get"] } },
        // The candidate opens other:*: those requests are denied and would be allowed.
        looser: { commands: ["+get"], keys: ["app:*"], shadow: { keys: ["app:*", "other:*"] } },
      },
    });
  });
  after(async () => stack?.stop());

  test("mismatches in both directions are counted exactly under load; only the enforced policy acts", async () => {
    const shadowLines = () => stack.keyward.events.filter((e) => e.event === "shadow");
    const before = shadowLines().length;
    // 4 workers x 25 rounds; each round: one matching and one mismatching request per client,
    // plus a pipeline with one mismatching command.
    const plan = [
      ["stricter", ["GET", "app:a"], 200, false],
      ["stricter", ["SET", "app:a", "1"], 200, true],
      ["looser", ["GET", "app:a"], 200, false],
      ["looser", ["GET", "other:a"], 403, true],
    ];
    const pipelines = [
      ["stricter", [["GET", "app:a"], ["SET", "app:b", "2"]], true],
      ["looser", [["GET", "app:a"], ["GET", "app:b"]], false],
    ];
    async function worker() {
      for (let round = 0; round < 25; round++) {
        for (const [client, body, expected] of plan) {
          const r = await request(stack.port, { body, key: stack.keys[client] });
          assert.equal(r.status, expected, `${client} ${body.join(" ")}: ${r.body}`);
        }
        for (const [client, body] of pipelines) {
          const r = await request(stack.port, { path: "/pipeline", body, key: stack.keys[client] });
          assert.equal(r.status, 200);
          assert.ok(JSON.parse(r.body).every((x) => x.error === undefined), r.body);
        }
      }
    }
    await Promise.all([worker(), worker(), worker(), worker()]);
    // The shadow never acted: the looser one's other:a stayed denied, and the stricter one's SETs
    // were written.
    assert.equal(await stack.redis.call("GET", "app:a"), "1");
    assert.equal(await stack.redis.call("GET", "app:b"), "2");
    const m = (await adminCall(stack, stack.keyward, "GET", "/metrics")).text;
    // stricter: 100 SETs + 100 pipelines where the shadow denies more; looser: 100 GET other:a
    // where the shadow allows more.
    assert.equal(metric(m, "keyward_shadow_mismatches_total", { client: "stricter", shadow: "deny" }), 200);
    assert.equal(metric(m, "keyward_shadow_mismatches_total", { client: "stricter", shadow: "allow" }), 0);
    assert.equal(metric(m, "keyward_shadow_mismatches_total", { client: "looser", shadow: "allow" }), 100);
    assert.equal(metric(m, "keyward_shadow_mismatches_total", { client: "looser", shadow: "deny" }), 0);
    assert.equal(metric(m, "keyward_shadow_mismatches_total", { client: "reader", shadow: "deny" }), undefined);
    // One log line per mismatching request (the log is flushed every 100 ms).
    const end = Date.now() + 5000;
    while (shadowLines().length - before < 300 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const lines = shadowLines().slice(before);
    assert.equal(lines.length, 300);
    const byShape = {};
    for (const l of lines) {
      const k = `${l.client} ${l.commands} ${l.enforced}->${l.shadow} ${l.shadow_reason}`;
      byShape[k] = (byShape[k] ?? 0) + 1;
    }
    assert.deepEqual(byShape, {
      "stricter set allow->deny command_denied": 100,
      "stricter get,set allow->partial command_denied": 100,
      "looser get deny->allow ok": 100,
    });
  });
});

describe("POST /v1/explain and keyward explain", () => {
  let stack;
  before(async () => {
    stack = await startStack({ chain: false });
  });
  after(async () => stack?.stop());

  test("needs the admin token", async () => {
    const body = JSON.stringify({ client: "reader", commands: [["GET", "app:1"]] });
    const none = await fetch(`http://127.0.0.1:${stack.keyward.adminPort}/v1/explain`, { method: "POST", body });
    assert.equal(none.status, 401);
    const wrong = await fetch(`http://127.0.0.1:${stack.keyward.adminPort}/v1/explain`, {
      method: "POST", body, headers: { authorization: "Bearer " + "x".repeat(48) } });
    assert.equal(wrong.status, 401);
    const bad = await adminCall(stack, stack.keyward, "POST", "/v1/explain", { client: "nobody", commands: [["GET", "k"]] });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error, /no client named nobody/);
  });

  test("answers what the CLI answers, and sends nothing upstream", async () => {
    const request_ = { client: "writer", route: "pipeline",
                       commands: [["SET", "inbox:1", "x"], ["GET", "app:1"], ["FLUSHALL"], ["DEL", "inbox:2"]] };
    const [r, executed] = await measure(stack.redis, () => adminCall(stack, stack.keyward, "POST", "/v1/explain", request_));
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(executed, {});
    assert.equal(r.json.allowed, false);
    assert.equal(r.json.cost, 2);
    assert.deepEqual(r.json.commands.map((c) => `${c.decision} ${c.reason}`),
                     ["allow ok", "deny key_denied", "deny command_denied", "allow ok"]);
    const env = { KW_E2E_UPSTREAM_URL: `redis://127.0.0.1:${stack.redisPort}` };
    const cli = keyward(["explain", "--config", stack.keyward.cfgPath, "--client", "writer", "--route", "pipeline",
                         "--format", "json", "--json", JSON.stringify(request_.commands)], env);
    assert.equal(cli.status, 1, cli.stderr);
    assert.deepEqual(JSON.parse(cli.stdout), r.json);
    // A refused request is explained too: the denial and the rule it comes from.
    const text = keyward(["explain", "--config", stack.keyward.cfgPath, "--client", "reader", "--", "SET", "app:1", "v"], env);
    assert.equal(text.status, 1);
    assert.match(text.stdout, /^client reader, route command: denied, quota cost 0\n\[0\] SET app:1 v: deny command_denied: NOPERM/);
    const unknown = keyward(["explain", "--config", stack.keyward.cfgPath, "--client", "nobody", "--", "GET", "k"], env);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /no client named nobody/);
    const ok = keyward(["explain", "--config", stack.keyward.cfgPath, "--client", "reader", "--", "GET", "app:1"], env);
    assert.equal(ok.status, 0);
    assert.match(ok.stdout, /key app:1 \(arg 1\) needs R: granted by keys\[0\] "app:\*" \(RW, .*keyward-\d+\.yaml:\d+:\d+\)/);
  });
});

describe("keyward policy test", () => {
  test("exit 0 when every case passes, 1 with the failure lines, 2 on a bad file", () => {
    const examples = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../conf/examples");
    const ok = keyward(["policy", "test", "--config", path.join(examples, "edge-cache.yaml"),
                        path.join(examples, "policy-tests/edge-cache.yaml")]);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.equal(ok.stdout, "5 passed, 0 failed\n");
    const dir = fs.mkdtempSync("/tmp/kw-policy-test-");
    try {
      fs.writeFileSync(path.join(dir, "cases.yaml"),
                       "- name: readers never write\n  client: edge-reader\n  command: [SET, \"cache:a\", \"1\"]\n  expect: allow\n");
      const failed = keyward(["policy", "test", "--config", path.join(examples, "edge-cache.yaml"), path.join(dir, "cases.yaml")]);
      assert.equal(failed.status, 1);
      assert.equal(failed.stdout, `${path.join(dir, "cases.yaml")}:1: readers never write: expected allow, got deny:command_denied ` +
                                  "(NOPERM this user has no permissions to run the 'set' command or its subcommand)\n0 passed, 1 failed\n");
      fs.writeFileSync(path.join(dir, "broken.yaml"), "- name: x\n  client: edge-reader\n  expect: allow\n");
      const broken = keyward(["policy", "test", "--config", path.join(examples, "edge-cache.yaml"), path.join(dir, "broken.yaml")]);
      assert.equal(broken.status, 2);
      assert.match(broken.stderr, /broken\.yaml:1:3: case 'x' needs exactly one of command, pipeline, multi-exec, subscribe/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
