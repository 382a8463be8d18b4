// min-assertions: 150
// Command classes that are never forwarded whatever the rules (docs/command-classes.md), and
// replies confined to the grants (README, Policy semantics), against the real redis-server in both upstream
// modes: each attack is refused with NOPERM and redis-server's own INFO commandstats shows the
// command never ran; the granted equivalents still work; in a /pipeline a refused command is one
// inline error slot and the rest runs; a tenant probing meanwhile keeps fast answers.
import fs from "node:fs";
import https from "node:https";
import { after, before, describe, test } from "node:test";
import { assert } from "../e2e/counted_assert.mjs";
import { certs } from "../e2e/harness.mjs";
import { request } from "../e2e/http.mjs";
import { MODES, report, startModeStack, underAttack } from "./lib.mjs";

// Every never-forwarded command below named one by one on top of +@all, with every other grant
// at "*": the widest configuration an operator can write.
const NAMED = ["+script|debug", "+wait", "+waitaof", "+client|pause", "+client|unpause",
  "+acl|whoami", "+acl|list", "+acl|users", "+client|list", "+client|info", "+config|get",
  "+slowlog|get", "+debug", "+select", "+monitor", "+blpop", "+script|kill", "+role", "+info"];
const EXTRA_CLIENTS = {
  root: {
    commands: ["+@all", ...NAMED], keys: ["*"], channels: ["*"], consumer_groups: ["*"],
    scripts: ["*"], functions: ["*"],
  },
  // A tenant with every channel but only its own keys and one consumer group.
  tenant: {
    commands: ["+@all", "+dump"], keys: ["app:*"], channels: ["*"], consumer_groups: ["g1"],
  },
};

// Attack -> the redis-server command name(s) that must not have run (INFO commandstats names).
const NEVER = [
  { who: "root", argv: ["SCRIPT", "DEBUG", "YES"], stat: "script|debug", why: /changes connection state/ },
  { who: "root", argv: ["SCRIPT", "DEBUG", "SYNC"], stat: "script|debug", why: /changes connection state/ },
  { who: "root", argv: ["WAIT", "1", "0"], stat: "wait", why: /blocks a shared upstream connection/ },
  { who: "root", argv: ["WAITAOF", "0", "1", "0"], stat: "waitaof", why: /blocks/ },
  { who: "root", argv: ["CLIENT", "PAUSE", "5000"], stat: "client|pause", why: /blocks/ },
  { who: "root", argv: ["BLPOP", "app:q", "0"], stat: "blpop", why: /blocks/ },
  { who: "root", argv: ["XREAD", "BLOCK", "0", "STREAMS", "app:s", "$"], stat: "xread", why: /blocks/ },
  { who: "root", argv: ["SCRIPT", "KILL"], stat: "script|kill", why: /blocks/ },
  { who: "root", argv: ["ACL", "WHOAMI"], stat: "acl|whoami", why: /reveals server state/ },
  { who: "root", argv: ["ACL", "LIST"], stat: "acl|list", why: /reveals/ },
  { who: "root", argv: ["CLIENT", "LIST"], stat: "client|list", why: /reveals/ },
  { who: "root", argv: ["CLIENT", "INFO"], stat: "client|info", why: /reveals/ },
  { who: "root", argv: ["CONFIG", "GET", "requirepass"], stat: "config|get", why: /reveals/ },
  { who: "root", argv: ["SLOWLOG", "GET"], stat: "slowlog|get", why: /reveals/ },
  { who: "root", argv: ["ROLE"], stat: "role", why: /reveals/ },
  { who: "root", argv: ["DEBUG", "SLEEP", "2"], stat: "debug", why: /not available through keyward/ },
  { who: "root", argv: ["SELECT", "0"], stat: "select", why: /changes connection state/ },
  { who: "root", argv: ["SELECT", "1"], stat: "select", why: /changes connection state/ },
  { who: "root", argv: ["CLIENT", "NO-EVICT", "on"], stat: "client|no-evict", why: /connection state/ },
  { who: "root", argv: ["HELLO", "3"], stat: "hello", why: /connection state/ },
  { who: "root", argv: ["MONITOR"], stat: "monitor", why: /connection state/ },
  { who: "tenant", argv: ["PUBSUB", "CHANNELS"], stat: "pubsub|channels", why: /channels/ },
  { who: "tenant", argv: ["PUBSUB", "CHANNELS", "*"], stat: "pubsub|channels", why: /channels/ },
  { who: "tenant", argv: ["PUBSUB", "NUMPAT"], stat: "pubsub|numpat", why: /channels/ },
  { who: "tenant", argv: ["PUBSUB", "NUMSUB", "__keyevent@0__:set"], stat: "pubsub|numsub", why: /channels/ },
  { who: "tenant", argv: ["DUMP", "app:stream"], stat: "dump", why: /consumer group/ },
  { who: "tenant", argv: ["PUBLISH", "__keyspace@0__:other:secret", "del"], stat: "publish", why: /channels/ },
];

// SSE routes: subscribing to a notification channel (or a pattern that can match one).
const NEVER_SSE = [
  { path: "/subscribe/__keyevent@0__:set", stat: "subscribe" },
  { path: "/subscribe/__keyspace@0__:other:secret", stat: "subscribe" },
  { path: "/subscribe/__keyspace@1__:app:x", stat: "subscribe" },
  { path: "/psubscribe/*", stat: "psubscribe" },
  { path: "/psubscribe/__key*", stat: "psubscribe" },
  { path: "/psubscribe/%5B_%5D_keyspace*", stat: "psubscribe" },
];

function keepAlivePost(agent, port, key, body) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: "127.0.0.1", port, method: "POST", path: "/pipeline", agent,
      headers: { authorization: `Bearer ${key}`, "content-length": Buffer.byteLength(body) } }, (res) => {
      const chunks = [];
      res.on("data", (d) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode, json: JSON.parse(Buffer.concat(chunks).toString()) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

function delta(before, after, name) {
  return (after[name] ?? 0) - (before[name] ?? 0);
}

for (const mode of MODES) {
  describe(`policy classes (${mode} mode)`, () => {
    let stack;
    let rt;
    const post = (who, body, path = "/") =>
      request(stack.port, { method: "POST", path, body, key: stack.keys[who] });

    before(async () => {
      stack = await startModeStack(mode, { extraClients: EXTRA_CLIENTS });
      rt = stack.redis;
      // A stream with a consumer group and a consumer outside the tenant's grants.
      await rt.call("XADD", "app:stream", "*", "f", "v");
      await rt.call("XGROUP", "CREATE", "app:stream", "secret-group", "0");
      await rt.call("XREADGROUP", "GROUP", "secret-group", "secret-consumer", "STREAMS", "app:stream", ">");
    });
    after(async () => {
      await stack?.stop();
    });

    test("never-forwarded classes: NOPERM, and redis-server never ran them", async () => {
      for (const a of NEVER) {
        const before = await rt.commandStats();
        const res = await post(a.who, a.argv);
        const after = await rt.commandStats();
        assert.equal(res.status, 403, `${a.argv.join(" ")}: ${res.status} ${res.text}`);
        assert.match(res.json?.error ?? "", /^NOPERM/, a.argv.join(" "));
        assert.match(res.json.error, a.why, `${a.argv.join(" ")}: ${res.json.error}`);
        assert.equal(delta(before, after, a.stat), 0, `${a.stat} reached redis-server`);
      }
    });

    test("notification channels over SSE: refused before anything is sent", async () => {
      for (const s of NEVER_SSE) {
        const before = await rt.commandStats();
        const res = await request(stack.port, { method: "POST", path: s.path, key: stack.keys.tenant, timeoutMs: 5000 });
        const after = await rt.commandStats();
        assert.equal(res.status, 403, `${s.path}: ${res.status} ${res.text}`);
        assert.match(res.json?.error ?? "", /^NOPERM/);
        assert.equal(delta(before, after, s.stat), 0, `${s.path} reached redis-server`);
      }
    });

    test("controls: the granted equivalents still run", async () => {
      const before = await rt.commandStats();
      let res = await post("tenant", ["PUBSUB", "NUMSUB", "news", "app:chan"]);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json.result, ["news", 0, "app:chan", 0]);
      res = await post("tenant", ["PUBSUB", "NUMSUB", "__keyspace@0__:app:x"]);
      assert.equal(res.status, 200, res.text);
      res = await post("tenant", ["XREAD", "COUNT", "1", "STREAMS", "app:stream", "0"]);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.result.length, 1);
      res = await post("tenant", ["PUBLISH", "news", "hi"]);
      assert.equal(res.status, 200, res.text);
      res = await post("root", ["PUBSUB", "CHANNELS"]);
      assert.equal(res.status, 200, res.text);
      res = await post("root", ["DUMP", "app:stream"]);
      assert.equal(res.status, 200, res.text);
      assert.equal(typeof res.json.result, "string");
      res = await post("root", ["ACL", "CAT"]);
      assert.equal(res.status, 200, res.text);
      res = await post("root", ["TIME"]);
      assert.equal(res.status, 200, res.text);
      const after = await rt.commandStats();
      assert.equal(delta(before, after, "pubsub|numsub"), 2);
      assert.equal(delta(before, after, "pubsub|channels"), 1);
      assert.equal(delta(before, after, "dump"), 1);
      assert.equal(delta(before, after, "xread"), 1);
    });

    // Attack round 26: INFO replication named the replicas' addresses (what ROLE is refused
    // for), INFO server the executable, config file and port. Only the count sections pass.
    test("INFO passes the count sections only; INFO alone asks for those", async () => {
      for (const section of ["replication", "server", "commandstats", "errorstats", "latencystats",
                             "all", "everything", "default", "Replication"]) {
        const res = await post("root", ["INFO", section]);
        assert.equal(res.status, 403, `${section}: ${res.text}`);
        assert.match(res.json.error, /^NOPERM 'info' passes only the sections clients, memory, persistence, stats, cpu, cluster, keyspace and modules; the others reveal server state outside this user's grants \(argument 1\)$/);
      }
      const mixed = await post("root", ["INFO", "keyspace", "replication"]);
      assert.equal(mixed.status, 403, mixed.text);
      assert.match(mixed.json.error, /\(argument 2\)$/);
      const all = await post("root", ["INFO"]);
      assert.equal(all.status, 200, all.text);
      for (const shown of ["# Clients", "# Memory", "# Stats", "# Keyspace"]) {
        assert.ok(all.json.result.includes(shown), `INFO lacks ${shown}`);
      }
      for (const hidden of ["# Server", "# Replication", "executable:", "run_id:", "tcp_port:", "connected_slaves"]) {
        assert.ok(!all.json.result.includes(hidden), `INFO shows ${hidden}`);
      }
      const memory = await post("root", ["INFO", "MEMORY"]);
      assert.equal(memory.status, 200, memory.text);
      assert.match(memory.json.result, /^# Memory/);
    });

    test("a pipeline with a refused command: inline error slot, the rest runs", async () => {
      await rt.call("DEL", "app:sel", "app:sel2");
      const body = [["SET", "app:sel", "1"], ["SELECT", "0"], ["SCRIPT", "DEBUG", "YES"], ["WAIT", "1", "0"],
        ["ACL", "WHOAMI"], ["XREAD", "BLOCK", "0", "STREAMS", "app:s", "$"], ["GET"], ["SUBSCRIBE", "x"],
        ["CLIENT", "REPLY", "OFF"], ["MULTI"], ["SET", "app:sel2", "2"], ["GET", "app:sel"]];
      const before = await rt.commandStats();
      const res = await post("root", body, "/pipeline");
      const after = await rt.commandStats();
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.length, body.length);
      assert.deepEqual(res.json[0], { result: "OK" });
      for (let i = 1; i <= 9; i++) {
        assert.equal(typeof res.json[i].error, "string", `slot ${i}: ${JSON.stringify(res.json[i])}`);
        assert.ok(res.json[i].result === undefined, `slot ${i}`);
      }
      assert.deepEqual(res.json[10], { result: "OK" });
      assert.deepEqual(res.json[11], { result: "1" });
      assert.equal(await rt.call("GET", "app:sel"), "1");
      assert.equal(await rt.call("GET", "app:sel2"), "2");
      for (const s of ["select", "script|debug", "wait", "acl|whoami", "subscribe", "client|reply", "multi"]) {
        assert.equal(delta(before, after, s), 0, `${s} reached redis-server`);
      }
      assert.equal(delta(before, after, "set"), 2);
    });

    // Attack round 29b: an unknown command's name came back in the NOPERM text, so a token
    // pasted as the first word (or a path like /get%2Fk%3Fapikey%3D...) was echoed to the
    // client's error trackers. A name the command table does not hold is never repeated.
    test("an unknown command's name is not echoed; a known one is, in the table's spelling", async () => {
      const secret = "sk_live_" + "9f8e7d6c5b4a".repeat(3);
      const tries = [
        await post("tenant", [`password=${secret}`, "app:1"]),
        await request(stack.port, { method: "GET", path: `/get%2Fapp:x%3Fapikey%3D${secret}`, key: stack.keys.tenant }),
      ];
      const piped = await post("tenant", [[secret, "app:1"], ["GET", "app:1"]], "/pipeline");
      const multi = await post("tenant", [[secret], ["GET", "app:1"]], "/multi-exec");
      for (const res of [...tries, multi]) {
        assert.equal(res.status, 403, res.text);
        assert.ok(!res.text.includes("9f8e7d6c5b4a"), res.text);
        assert.ok(!res.text.includes("apikey"), res.text);
      }
      assert.equal(tries[0].json.error, "NOPERM this user has no permissions to run this command");
      assert.equal(piped.status, 200, piped.text);
      assert.ok(!piped.text.includes("9f8e7d6c5b4a"), piped.text);
      assert.equal(piped.json[0].error, "NOPERM this user has no permissions to run this command");
      const known = await post("tenant", ["FlushAll"]);
      assert.equal(known.status, 403, known.text);
      assert.match(known.json.error, /'flushall'/);
    });

    test("/multi-exec stays all or nothing", async () => {
      await rt.call("DEL", "app:tx");
      const before = await rt.commandStats();
      const res = await post("root", [["SET", "app:tx", "1"], ["SELECT", "0"]], "/multi-exec");
      const after = await rt.commandStats();
      assert.equal(res.status, 403, res.text);
      assert.match(res.json.error, /index 1/);
      assert.equal(await rt.call("GET", "app:tx"), null);
      assert.equal(delta(before, after, "set"), 0);
    });

    test("refusals under load leave another tenant's probe fast", async () => {
      const r = await underAttack(stack, async () => {
        // One keep-alive connection sending pipelines of every root refusal back to back (the
        // attacker's own TLS handshakes would only measure this node process).
        const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: fs.readFileSync(certs().ca) });
        const body = JSON.stringify(NEVER.filter((a) => a.who === "root").map((a) => a.argv));
        const until = Date.now() + 1500;
        let n = 0;
        try {
          while (Date.now() < until) {
            const res = await keepAlivePost(agent, stack.port, stack.keys.root, body);
            assert.equal(res.status, 200);
            assert.ok(res.json.every((slot) => /^NOPERM/.test(slot.error)));
            n += res.json.length;
          }
        } finally {
          agent.destroy();
        }
        return n;
      }, { durationMs: 1500 });
      report(`policy_classes.${mode}`, { ...r.probe, refused: r.attack, peakRssKiB: r.peakRssKiB, baseRssKiB: r.baseRssKiB });
      assert.ok(r.attack > 20, `${r.attack} refusals`);
      assert.equal(r.probe.failed, 0, JSON.stringify(r.probe.statuses));
      assert.ok(r.probe.p99 < 50, `p99 ${r.probe.p99} ms`);
      // Refusals allocate nothing that outlives the request: RSS grows by less than 32 MiB.
      assert.ok(r.peakRssKiB - r.baseRssKiB < 32 * 1024, `RSS ${r.baseRssKiB} -> ${r.peakRssKiB} KiB`);
    });
  });
}
