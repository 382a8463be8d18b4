// min-assertions: 8
// Control for every adversarial suite: with no attack running, the probe client gets every
// answer quickly in both upstream modes, so a failure elsewhere is the attack's doing.
import { after, before, describe, test } from "node:test";
import { assert } from "../e2e/counted_assert.mjs";
import { MODES, report, startModeStack, underAttack } from "./lib.mjs";

for (const mode of MODES) {
  describe(`control (${mode} mode)`, () => {
    let stack;
    before(async () => {
      stack = await startModeStack(mode);
    });
    after(async () => {
      await stack?.stop();
    });

    test("the probe alone: every request answered, p99 under 50 ms", async () => {
      const r = await underAttack(stack, async () => null, { durationMs: 1500 });
      report(`control.${mode}`, { ...r.probe, peakRssKiB: r.peakRssKiB });
      assert.ok(r.probe.count > 20, `probe made ${r.probe.count} requests`);
      assert.equal(r.probe.failed, 0, JSON.stringify(r.probe.statuses));
      assert.ok(r.probe.p99 < 50, `p99 ${r.probe.p99} ms`);
      assert.ok(r.peakRssKiB > 0);
    });
  });
}
