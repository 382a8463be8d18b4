// min-assertions: 30
// Subscription streams are a shared pool with per-client shares (README, Limits and shares): a client
// holding its whole share gets 429 naming clients[].limits.max_subscriptions, the pool as a whole
// 503 naming listen.max_subscriptions, and another client's subscribe keeps working meanwhile.
import { after, before, describe, test } from "node:test";
import { assert } from "../e2e/counted_assert.mjs";
import { MODES, report, sleep, startModeStack, underAttack } from "./lib.mjs";
import { openStream } from "./shares_lib.mjs";

const POOL = 12;
const CLIENTS = {
  hog: { commands: ["+subscribe"], channels: ["hog:*"], limits: { max_subscriptions: 5 } },
  third: { commands: ["+subscribe"], channels: ["hog:*"] },  // default share: POOL / 2
};

for (const mode of MODES) {
  describe(`shares: subscription streams (${mode} mode)`, () => {
    let stack;
    const open = [];
    before(async () => {
      stack = await startModeStack(mode, { extraClients: CLIENTS, listen: { max_subscriptions: POOL } });
    });
    after(async () => {
      for (const s of open) s.close();
      await stack?.stop();
    });
    const sub = async (client, channel) => {
      const s = await openStream(stack.port, stack.keys[client], channel);
      open.push(s);
      return s;
    };

    test("past its own share a client gets 429; another client still subscribes", async () => {
      for (let i = 0; i < 5; i++) {
        const s = await sub("hog", `hog:${i}`);
        assert.equal(s.status, 200, JSON.stringify(s.json));
      }
      const over = await sub("hog", "hog:over");
      assert.equal(over.status, 429);
      assert.match(over.json?.error ?? "", /clients\[\]\.limits\.max_subscriptions/);
      const other = await sub("chat", "chat:while-hogged");
      assert.equal(other.status, 200, JSON.stringify(other.json));
      assert.match(other.type ?? "", /^text\/event-stream/);
    });

    test("a client without a limit gets half the pool; the whole pool answers 503", async () => {
      // chat holds 1; its default share is POOL / 2 = 6.
      for (let i = 0; i < 5; i++) assert.equal((await sub("chat", `chat:${i}`)).status, 200);
      const chatOver = await sub("chat", "chat:over");
      assert.equal(chatOver.status, 429);
      assert.match(chatOver.json?.error ?? "", /max_subscriptions/);
      // hog 5 + chat 6 = 11 of 12: third gets the last one, then the pool is full.
      assert.equal((await sub("third", "hog:t0")).status, 200);
      const full = await sub("third", "hog:t1");
      assert.equal(full.status, 503);
      assert.match(full.json?.error ?? "", /listen\.max_subscriptions/);
    });

    test("with every stream held, the probe's GETs stay fast", async () => {
      const r = await underAttack(stack, async () => null, { durationMs: 1500 });
      report(`shares.streams_held.${mode}`, { ...r.probe, peakRssKiB: r.peakRssKiB });
      assert.ok(r.probe.count > 20, `probe made ${r.probe.count} requests`);
      assert.equal(r.probe.failed, 0, JSON.stringify(r.probe.statuses));
      assert.ok(r.probe.p99 < 50, `p99 ${r.probe.p99} ms`);
      assert.ok(r.peakRssKiB - r.baseRssKiB < 16 * 1024, `RSS grew ${r.peakRssKiB - r.baseRssKiB} KiB`);
    });

    test("closing streams gives the share back", async () => {
      for (const s of open.splice(0)) s.close();
      let again;
      for (let i = 0; i < 40; i++) {
        await sleep(50);
        again = await openStream(stack.port, stack.keys.hog, "hog:again");
        if (again.status === 200) break;
        again.close();
      }
      open.push(again);
      assert.equal(again.status, 200, JSON.stringify(again.json));
      for (let i = 0; i < 4; i++) assert.equal((await sub("hog", `hog:r${i}`)).status, 200);
      assert.equal((await sub("hog", "hog:r-over")).status, 429);
    });
  });
}
