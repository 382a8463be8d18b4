// Browser test: headless Debian chromium (driven by playwright-core, never `playwright install`)
// loads a page from an allowed Origin that runs @upstash/redis IN THE PAGE with a token minted for
// user 42 (client keys sess:{sub}:*): its own keys work, user 43's are NOPERM, and the same page
// served from another Origin (another port) is stopped by CORS. keyward runs with real TLS; the
// browser trusts exactly the test server certificate through --ignore-certificate-errors-spki-list
// (its SPKI SHA-256), which needs no CA import and works offline.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { chromium } from "playwright-core";
import { startStaticServer } from "./browser/static_server.mjs";
import { assert } from "./counted_assert.mjs";
import { adminCall, certs, measure, startStack } from "./harness.mjs";
import { edKey, keyDir, signingSection } from "./jwt_support.mjs";

const CHROMIUM = "/usr/bin/chromium";

let stack;
let keys;
let good; // page server on the allowed Origin
let evil; // the same page from another Origin
let context;
let profileDir;

// base64 SHA-256 of the certificate's SubjectPublicKeyInfo (what Chromium's flag takes).
function spkiHash(certFile) {
  const cert = new crypto.X509Certificate(fs.readFileSync(certFile));
  const spki = cert.publicKey.export({ type: "spki", format: "der" });
  return crypto.createHash("sha256").update(spki).digest("base64");
}

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (scripts/deps.sh)`);
  const pageConfig = {};
  good = await startStaticServer(pageConfig);
  evil = await startStaticServer(pageConfig);
  keys = keyDir();
  const ed = await edKey(keys.dir, "browser-key", { withPrivate: true });
  stack = await startStack({
    signing: signingSection([ed], keys.revokedFile),
    extraClients: {
      "browser-session": { credentials: ["api_key", "jwt"], commands: ["+get", "+set", "+del"], keys: ["sess:{sub}:*"],
                           allow_origins: [good.origin] },
    },
  });
  const minted = await adminCall(stack, stack.keyward, "POST", "/v1/tokens",
                                 { client: "browser-session", sub: "42", ttl: "15m" });
  assert.equal(minted.status, 200, minted.text);
  Object.assign(pageConfig, { url: stack.url, token: minted.json.token, sub: "42", other: "43" });

  profileDir = fs.mkdtempSync(path.join(os.tmpdir(), "kw-chromium-"));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           `--ignore-certificate-errors-spki-list=${spkiHash(certs().cert)}`],
    timeout: 30000,
  });
});
after(async () => {
  await context?.close();
  await good?.close();
  await evil?.close();
  await stack?.stop();
  keys?.cleanup();
  if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
});

// Loads the page from `origin`; returns {results (by step name), console messages}.
async function runPage(origin) {
  const page = await context.newPage();
  const consoleLines = [];
  page.on("console", (m) => consoleLines.push(m.text()));
  try {
    await page.goto(`${origin}/`, { waitUntil: "load", timeout: 20000 });
    await page.waitForFunction(() => window.__kw?.done === true, null, { timeout: 20000 });
    const list = await page.evaluate(() => window.__kw.results);
    return { results: Object.fromEntries(list.map((r) => [r.step, r])), consoleLines };
  } finally {
    await page.close();
  }
}

describe("@upstash/redis in headless Chromium with a per-user token", () => {
  test("allowed Origin: user 42 reads and writes sess:42:*, sess:43:* is NOPERM", async () => {
    await stack.redis.call("SET", "sess:43:name", "Bob");
    const { results: r, consoleLines } = await runPage(good.origin);
    assert.ok(!r.setup, `page setup failed: ${JSON.stringify(r.setup)}`);
    assert.deepEqual(r["set own"], { step: "set own", ok: true, value: "OK" }, JSON.stringify(r["set own"]));
    assert.deepEqual(r["get own"], { step: "get own", ok: true, value: "Ada" });
    assert.deepEqual(r["pipeline own"].value, ["OK", 1], JSON.stringify(r["pipeline own"]));
    assert.equal(r["get other"].ok, false);
    assert.match(r["get other"].message, /NOPERM/, `get other: ${JSON.stringify(r["get other"])}`);
    assert.equal(r["set other"].ok, false);
    assert.match(r["set other"].message, /NOPERM/);
    assert.deepEqual(r["del own"], { step: "del own", ok: true, value: 1 });
    assert.deepEqual(r["raw fetch own"].value, { status: 200, body: { result: "Ada" } });
    // Ground truth on redis: the page's own write landed, user 43's key is untouched.
    assert.equal(await stack.redis.call("GET", "sess:42:name"), "Ada");
    assert.equal(await stack.redis.call("GET", "sess:43:name"), "Bob");
    assert.ok(good.requests.includes("/vendor/upstash-redis/cloudflare.mjs"), "SDK not loaded from the page server");
    assert.ok(!consoleLines.some((l) => /CORS/i.test(l)), `CORS complaints: ${consoleLines.join("\n")}`);
  });

  test("another Origin (other port): CORS stops every request in the browser, nothing executes", async () => {
    await stack.redis.call("DEL", "sess:42:name");
    const [{ results: r, consoleLines }, delta] = await measure(stack.redis, () => runPage(evil.origin));
    assert.ok(!r.setup, `page setup failed: ${JSON.stringify(r.setup)}`);
    for (const name of ["set own", "get own", "get other", "del own"]) {
      assert.equal(r[name].ok, false, `${name} succeeded from a foreign Origin`);
      assert.doesNotMatch(r[name].message, /NOPERM|WRONGPASS/, `${name} reached keyward's policy: ${r[name].message}`);
    }
    assert.equal(r["raw fetch own"].ok, false);
    assert.equal(r["raw fetch own"].name, "TypeError", JSON.stringify(r["raw fetch own"]));
    assert.match(r["raw fetch own"].message, /Failed to fetch/);
    assert.ok(consoleLines.some((l) => /CORS policy/.test(l)), `no CORS message in console: ${consoleLines.join("\n")}`);
    assert.deepEqual(delta, {}, "a request from the foreign Origin executed commands");
    assert.equal(await stack.redis.call("GET", "sess:42:name"), null);
  });
});
