// min-assertions: 90
// Memory amplification in the shared Redis (attack round 15): SETRANGE with an offset near
// 512 MiB and SETBIT with one near 2^32, each a request of under 60 bytes, took redis-server from
// 15 MB to 1.26 GB. An offset may now grow a value only as far as a value sent whole could be
// (listen.max_body_bytes): past it the command is refused (403 NOPERM, or its pipeline slot) and
// Redis allocates nothing; and a client grows values that way at most max_body_bytes a second.
import { after, before, describe, test } from "node:test";
import { assert } from "../e2e/counted_assert.mjs";
import { request } from "../e2e/http.mjs";
import { MODES, report, sleep, startModeStack } from "./lib.mjs";

const MAX_BODY = 1024 * 1024;
const GROWER = {
  grower: { commands: ["+@all"], keys: ["g:*"] },
  other: { commands: ["+@all"], keys: ["o:*"] },
};

async function usedMemory(stack) {
  const info = await stack.redis.call("INFO", "memory");
  return Number(/used_memory:(\d+)/.exec(String(info))[1]);
}

for (const mode of MODES) {
  describe(`value growth (${mode} mode)`, () => {
    let stack;
    before(async () => {
      stack = await startModeStack(mode, { listen: { max_body_bytes: MAX_BODY }, extraClients: GROWER });
    });
    after(async () => {
      await stack?.stop();
    });

    test("offsets past max_body_bytes are refused; Redis allocates nothing", async () => {
      const before0 = await usedMemory(stack);
      const key = stack.keys.grower;
      const cases = [
        ["SETRANGE", "g:amp1", "536870911", "x"],
        ["SETBIT", "g:amp2", "4294967295", "1"],
        ["BITFIELD", "g:amp3", "SET", "u8", "#100000000", "1"],
        ["SETRANGE", "g:amp4", String(MAX_BODY), "x"],
      ];
      for (const cmd of cases) {
        const res = await request(stack.port, { body: cmd, key });
        assert.equal(res.status, 403, `${cmd[0]}: ${res.text}`);
        assert.match(res.json.error, /^NOPERM '\w+' would grow a value past listen\.max_body_bytes/);
      }
      // In a pipeline the slot is refused and the others run.
      const p = await request(stack.port, { path: "/pipeline", key,
        body: [["SET", "g:a", "1"], ["SETRANGE", "g:amp5", "536870911", "x"], ["GET", "g:a"]] });
      assert.equal(p.status, 200, p.text);
      assert.deepEqual(p.json[0], { result: "OK" });
      assert.match(p.json[1].error, /^NOPERM 'setrange' would grow/);
      assert.deepEqual(p.json[2], { result: "1" });
      const grown = (await usedMemory(stack)) - before0;
      report(`value_growth ${mode}`, { grown });
      assert.ok(grown < 8 * 1024 * 1024, `redis grew by ${grown} bytes`);
      for (const k of ["g:amp1", "g:amp2", "g:amp3", "g:amp4", "g:amp5"]) {
        assert.equal(Number(await stack.redis.call("EXISTS", k)), 0, `${k} was created`);
      }
    });

    // Attack round 16: the bound held per command, so a /pipeline of 200 SETRANGEs each within
    // it made 250 MB from 7.9 KB. One request's offsets together are held to it.
    test("offsets count for the whole request: a pipeline or transaction grows values by max_body_bytes at most", async () => {
      const key = stack.keys.grower;
      const before0 = await usedMemory(stack);
      const half = String(MAX_BODY / 2 - 1);
      const p = await request(stack.port, { path: "/pipeline", key,
        body: [["SETRANGE", "g:w1", half, "x"], ["SETRANGE", "g:w2", half, "x"], ["SETRANGE", "g:w3", half, "x"],
               ["SETBIT", "g:w4", "8", "1"], ["GET", "g:a"]] });
      assert.equal(p.status, 200, p.text);
      assert.deepEqual(p.json[0], { result: MAX_BODY / 2 });
      assert.deepEqual(p.json[1], { result: MAX_BODY / 2 });
      assert.match(p.json[2].error, /^NOPERM 'setrange' would grow a value past listen\.max_body_bytes \(with the request's other commands\)/);
      assert.match(p.json[3].error, /^NOPERM 'setbit' would grow/);
      assert.deepEqual(p.json[4], { result: "1" });
      const t = await request(stack.port, { path: "/multi-exec", key,
        body: [["SETRANGE", "g:t1", half, "x"], ["SETRANGE", "g:t2", half, "x"], ["SETRANGE", "g:t3", half, "x"]] });
      assert.equal(t.status, 403, t.text);
      assert.match(t.json.error, /would grow a value past listen\.max_body_bytes/);
      assert.equal(Number(await stack.redis.call("EXISTS", "g:t1")), 0, "a refused transaction ran");
      const grown = (await usedMemory(stack)) - before0;
      assert.ok(grown < MAX_BODY + 8 * 1024 * 1024, `redis grew by ${grown} bytes`);
    });

    // Attack round 16: SRANDMEMBER -10000000 on a 3-member set made Redis build 210 MB.
    test("a negative RAND* count past upstream.max_reply_elements is refused before it runs", async () => {
      const key = stack.keys.grower;
      await request(stack.port, { body: ["SADD", "g:set", "a", "b", "c"], key });
      const calls0 = Number(/cmdstat_srandmember:calls=(\d+)/.exec(String(await stack.redis.call("INFO", "commandstats")))?.[1] ?? 0);
      // -1048576: 2^20 elements in an array are 2^20 + 1 values (attack round 17: it ran, and
      // only its reply was refused).
      for (const cmd of [["SRANDMEMBER", "g:set", "-10000000"], ["SRANDMEMBER", "g:set", "-1048576"],
                         ["HRANDFIELD", "g:h", "-600000", "WITHVALUES"],
                         ["ZRANDMEMBER", "g:z", "-2000000"]]) {
        const res = await request(stack.port, { body: cmd, key });
        assert.equal(res.status, 403, `${cmd[0]}: ${res.text}`);
        assert.match(res.json.error, /asks for more elements than upstream\.max_reply_elements/);
      }
      const calls1 = Number(/cmdstat_srandmember:calls=(\d+)/.exec(String(await stack.redis.call("INFO", "commandstats")))?.[1] ?? 0);
      assert.equal(calls1, calls0, "the refused SRANDMEMBER reached Redis");
      const ok = await request(stack.port, { body: ["SRANDMEMBER", "g:set", "-5"], key });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.json.result.length, 5);
    });

    // Attack round 17: BITOP OR with one 100 MB key named 60 times held Redis 6.9 s; MGET of it
    // named 20 times took Redis to 2.16 GB. A key a command only reads is named once.
    test("a key a command only reads, named more than once, is refused before it runs", async () => {
      const key = stack.keys.grower;
      const calls = async () => Number(/cmdstat_mget:calls=(\d+)/.exec(String(await stack.redis.call("INFO", "commandstats")))?.[1] ?? 0);
      const calls0 = await calls();
      for (const [cmd, at] of [[["MGET", "g:a", ...Array(20).fill("g:big")], 3],
                               [["BITOP", "OR", "g:d", ...Array(60).fill("g:big")], 4]]) {
        const res = await request(stack.port, { body: cmd, key });
        assert.equal(res.status, 403, `${cmd[0]}: ${res.text}`);
        assert.equal(res.json.error, `NOPERM '${cmd[0].toLowerCase()}' names a key it reads more than once (argument ${at})`);
      }
      assert.equal(await calls(), calls0, "the refused MGET reached Redis");
      const p = await request(stack.port, { path: "/pipeline", key,
        body: [["MGET", "g:a", "g:a"], ["MGET", "g:a", "g:b"], ["LMOVE", "g:l", "g:l", "LEFT", "RIGHT"]] });
      assert.equal(p.status, 200, p.text);
      assert.match(p.json[0].error, /^NOPERM 'mget' names a key it reads more than once/);
      assert.equal(p.json[1].result.length, 2);
      assert.ok("result" in p.json[2], p.text);
    });

    // Attack round 26: HMGET with one field named 300 times copied its 8 MiB value 300 times
    // into Redis's reply (16.5 s, 2.36 GB, from 1,518 bytes). A field it reads is named once.
    test("an HMGET field named more than once is refused before it runs", async () => {
      const key = stack.keys.grower;
      await stack.redis.call("HSET", "g:h", "f", "x".repeat(1000), "e", "y");
      const calls = async () => Number(/cmdstat_hmget:calls=(\d+)/.exec(String(await stack.redis.call("INFO", "commandstats")))?.[1] ?? 0);
      const calls0 = await calls();
      const res = await request(stack.port, { body: ["HMGET", "g:h", "e", ...Array(300).fill("f")], key });
      assert.equal(res.status, 403, res.text);
      assert.equal(res.json.error, "NOPERM 'hmget' names a field it reads more than once (argument 4)");
      const tx = await request(stack.port, { path: "/multi-exec", key, body: [["INCR", "g:n"], ["HMGET", "g:h", "f", "f"]] });
      assert.equal(tx.status, 403, tx.text);
      assert.equal(await calls(), calls0, "the refused HMGET reached Redis");
      const p = await request(stack.port, { path: "/pipeline", key,
        body: [["HMGET", "g:h", "f", "e", "f"], ["HMGET", "g:h", "e", "missing"]] });
      assert.equal(p.status, 200, p.text);
      assert.match(p.json[0].error, /^NOPERM 'hmget' names a field it reads more than once \(argument 4\)/);
      assert.deepEqual(p.json[1].result, ["y", null]);
      await stack.redis.call("DEL", "g:h");
    });

    // Attack round 29a: the bound held per request, so 60 SETRANGEs at a 10 MB offset (2,390
    // bytes of requests) took Redis from 52 MB to 652 MB. A client grows values by offsets at
    // most listen.max_body_bytes a second (a one-second burst), across workers.
    test("growth by offsets is paced per client: max_body_bytes a second", async () => {
      await sleep(1100);  // the earlier tests' growth has refilled
      const key = stack.keys.grower;
      const before0 = await usedMemory(stack);
      const grow = (k, who = key) =>
        request(stack.port, { body: ["SETRANGE", k, String(MAX_BODY - 1), "x"], key: who });
      const first = await grow("g:r0");
      assert.equal(first.status, 200, first.text);
      const started = Date.now();
      let refused = 0;
      for (let i = 1; i <= 20; i++) {
        const res = await grow(`g:r${i}`);
        if (res.status === 200) continue;
        ++refused;
        assert.equal(res.status, 429, res.text);
        assert.equal(res.json.error, "ERR this client grows values by offsets (SETRANGE, SETBIT, BITFIELD) " +
          "faster than listen.max_body_bytes a second; retry later");
        assert.match(String(res.headers["retry-after"]), /^[12]$/);
        assert.equal(Number(await stack.redis.call("EXISTS", `g:r${i}`)), 0, "a refused SETRANGE ran");
      }
      const seconds = (Date.now() - started) / 1000;
      const grown = (await usedMemory(stack)) - before0;
      report(`value_growth rate ${mode}`, { refused, seconds, grown });
      // At most the burst plus what a second refills while the 20 went out.
      assert.ok(refused >= 20 - Math.ceil(seconds + 1), `${refused} of 20 refused in ${seconds} s`);
      assert.ok(grown < (3 + seconds) * MAX_BODY + 8 * 1024 * 1024, `redis grew by ${grown} bytes`);
      // Another client's growth, and this client's other writes, are not held back.
      const other = await grow("o:r", stack.keys.other);
      assert.equal(other.status, 200, other.text);
      const set = await request(stack.port, { body: ["SET", "g:plain", "v"], key });
      assert.equal(set.status, 200, set.text);
      // In a pipeline, the whole request waits (its offsets are one charge).
      const p = await request(stack.port, { path: "/pipeline", key,
        body: [["SET", "g:p", "1"], ["SETBIT", "g:pb", String(8 * MAX_BODY - 1), "1"]] });
      assert.equal(p.status, 429, p.text);
      assert.equal(Number(await stack.redis.call("EXISTS", "g:p")), 0, "part of a refused pipeline ran");
      await sleep(1100);
      const later = await grow("g:later");
      assert.equal(later.status, 200, later.text);
      await stack.redis.call("DEL", ...Array.from({ length: 21 }, (_, i) => `g:r${i}`), "g:later", "o:r");
    });

    test("up to the bound the same commands run as before", async () => {
      const key = stack.keys.grower;
      const ok = [
        [["SETRANGE", "g:ok1", String(MAX_BODY - 1), "x"], MAX_BODY],
        [["SETBIT", "g:ok2", String(8 * MAX_BODY - 1), "1"], 0],
        [["BITFIELD", "g:ok3", "SET", "u8", "#10", "255"], [0]],
      ];
      for (const [cmd, want] of ok) {
        await sleep(1100);  // one max_body_bytes of growth a second
        const res = await request(stack.port, { body: cmd, key });
        assert.equal(res.status, 200, `${cmd[0]}: ${res.text}`);
        assert.deepEqual(res.json.result, want);
      }
      assert.equal(Number(await stack.redis.call("STRLEN", "g:ok1")), MAX_BODY);
    });
  });
}
