// min-assertions: 70
// Reloads apply completely or not at all. A changed setting that holds a secret or a trust
// anchor read at start (upstream token, upstream ca_file, upstream url, admin token) refuses the
// reload by name and the old config keeps serving (so the new token never reaches the old
// upstream, nor the old token a new one); settings a reload can apply whole (TLS cert/key,
// signing keys, the revocation file) take effect for every request and stream at once. Also:
// jti values outside the revocable set are refused, and upstash-sync-token is the response time,
// not a count other clients move. Both upstream modes; the probe tenant keeps answering while
// reloads churn.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import tls from "node:tls";
import { after, before, describe, test } from "node:test";
import { assert } from "../e2e/counted_assert.mjs";
import { adminCall, makeCerts, rewriteConfig } from "../e2e/harness.mjs";
import { request } from "../e2e/http.mjs";
import { edKey, keyDir, mint, signingSection } from "../e2e/jwt_support.mjs";
import { MODES, report, sleep, startModeStack, underAttack } from "./lib.mjs";

const RSS_BOUND_KIB = 64 * 1024;

// The SHA-256 fingerprint of the certificate a fresh TLS connection to `port` is shown.
function servedCert(port) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.end();
      resolve(fp);
    });
    s.on("error", reject);
  });
}
function fileCertFingerprint(file) {
  return new crypto.X509Certificate(fs.readFileSync(file)).fingerprint256;
}

for (const mode of MODES) {
  describe(`creds reload (${mode} mode)`, () => {
    let stack, kw, keys, A, B, pristine;
    const get = async (key) => (await request(stack.port, { body: ["GET", "app:x"], key })).status;
    const reload = async () => adminCall(stack, kw, "POST", "/v1/reload");
    // Rewrites the config, reloads, and puts the file back (the running config is unchanged
    // by a refused reload, so the next case starts from the same place).
    const refusedReload = async (mutate, setting) => {
      rewriteConfig(kw, mutate);
      const r = await reload();
      rewriteConfig(kw, (c) => { Object.assign(c, structuredClone(pristine)); });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json?.reloaded, false, r.text);
      assert.match(r.json?.error ?? "", new RegExp(`^${setting.replace(/\./g, "\\.")}.* needs a restart$`));
      for (const s of stack.secrets()) assert.ok(!r.text.includes(s), "a secret in the reload answer");
      assert.equal(await get(stack.keys.reader), 200, `old config stopped serving after ${setting}`);
      return r;
    };
    before(async () => {
      keys = keyDir();
      A = await edKey(keys.dir, "key-a", { withPrivate: true });
      B = await edKey(keys.dir, "key-b", { withPrivate: true });
      stack = await startModeStack(mode, {
        signing: signingSection([A], keys.revokedFile),
        extraClients: { session: { commands: ["+get", "+subscribe"], keys: ["app:*"],
                                   channels: ["room:*"] } },
      });
      kw = stack.keyward;
      pristine = structuredClone(kw.config);
    });
    after(async () => {
      await stack?.stop();
      keys?.cleanup();
    });

    test("secret and trust-anchor settings refuse the reload by name; the old config serves", async () => {
      const wrongToken = path.join(keys.dir, "wrong-token");
      fs.writeFileSync(wrongToken, "not-the-upstream-token", { mode: 0o600 });
      const caCopy = path.join(keys.dir, "ca-copy.pem");
      fs.copyFileSync(stack.certs.ca, caCopy);
      const adminFile = path.join(keys.dir, "admin-token");
      fs.writeFileSync(adminFile, crypto.randomBytes(24).toString("hex"), { mode: 0o600 });
      const r = await underAttack(stack, async () => {
        await refusedReload((c) => { delete c.upstream.token_env; c.upstream.token_file = wrongToken; },
                            "upstream.token");
        await refusedReload((c) => { delete c.upstream.url_env; c.upstream.url = "redis://127.0.0.1:1"; },
                            "upstream.url");
        await refusedReload((c) => { c.upstream.ca_file = caCopy; }, "upstream.ca_file");
        await refusedReload((c) => { c.upstream.timeout = "7s"; }, "upstream.timeout");
        await refusedReload((c) => { c.upstream.connections = 3; }, "upstream.connections");
        await refusedReload((c) => { delete c.admin.token_env; c.admin.token_file = adminFile; },
                            "admin.token");
        await refusedReload((c) => { c.listen.max_body_bytes = 1024; }, "listen.max_body_bytes");
        await refusedReload((c) => { c.listen.tls.client_ca_file = caCopy; },
                            "listen.tls.client_ca_file");
        await refusedReload((c) => { c.listen.address = "127.0.0.1:1"; }, "listen.address");
      }, { durationMs: 2500 });
      report(`creds_reload.refused.${mode}`, { p99: r.probe.p99, rssDeltaKiB: r.peakRssKiB - r.baseRssKiB });
      assert.equal(r.probe.failed, 0, JSON.stringify(r.probe.statuses));
      assert.ok(r.probe.p99 < 50, `probe p99 ${r.probe.p99} ms`);
      assert.ok(r.peakRssKiB - r.baseRssKiB < RSS_BOUND_KIB);
      // The old admin token still works: the refused reload changed nothing.
      const m = await adminCall(stack, kw, "POST", "/v1/tokens", { client: "session", sub: "1" });
      assert.equal(m.status, 400, "session takes no JWTs without credentials: [jwt]");
      assert.match(m.json.error, /does not accept jwt/);
      // A reload with nothing changed is taken.
      const ok = await reload();
      assert.deepEqual(ok.json, { reloaded: true });
    });

    test("TLS certificate and key apply to new connections on reload", async () => {
      const before = await servedCert(stack.port);
      assert.equal(before, fileCertFingerprint(stack.certs.cert));
      const fresh = makeCerts(path.join(keys.dir, "certs2"));
      rewriteConfig(kw, (c) => { c.listen.tls.cert_file = fresh.cert; c.listen.tls.key_file = fresh.key; });
      const r = await reload();
      assert.deepEqual(r.json, { reloaded: true }, r.text);
      assert.equal(await servedCert(stack.port), fileCertFingerprint(fresh.cert));
      rewriteConfig(kw, (c) => { Object.assign(c, structuredClone(pristine)); });
      assert.deepEqual((await reload()).json, { reloaded: true });
      assert.equal(await servedCert(stack.port), before);
    });

    test("signing keys and credential kinds apply at once; a removed key's tokens stop", async () => {
      rewriteConfig(kw, (c) => {
        c.clients.find((x) => x.name === "session").credentials = ["api_key", "jwt"];
      });
      assert.deepEqual((await reload()).json, { reloaded: true });
      const ta = await mint(A, { client: "session" });
      const tb = await mint(B, { client: "session" });
      assert.equal(await get(ta), 200);
      assert.equal(await get(tb), 401, "key-b not configured yet");
      // Credential kinds cross neither way: a JWT naming an api_key-only client is refused.
      const tr = await mint(A, { client: "reader" });
      assert.equal(await get(tr), 401);
      rewriteConfig(kw, (c) => { c.signing.keys = [B.config]; });
      assert.deepEqual((await reload()).json, { reloaded: true });
      assert.equal(await get(ta), 401, "token of a removed key still accepted");
      assert.equal(await get(tb), 200);
      assert.equal(await get(stack.keys.session), 200, "api key of a both-kinds client");
      rewriteConfig(kw, (c) => { Object.assign(c, structuredClone(pristine)); });
      assert.deepEqual((await reload()).json, { reloaded: true });
      // Back to the default for a client with api_keys: api_key only.
      assert.equal(await get(stack.keys.session), 200, "api key of an api_key client");
      assert.equal(await get(tb), 401, "jwt for a client with api_keys and no credentials: list");
    });

    test("jti round trips: unsafe jti refused, file and API revocations both take", async () => {
      rewriteConfig(kw, (c) => {
        c.clients.find((x) => x.name === "session").credentials = ["api_key", "jwt"];
      });
      assert.deepEqual((await reload()).json, { reloaded: true });
      const claims = (jti) => ({ client: "session", claims: { jti } });
      for (const jti of ["#abc", " abc", "abc ", "a/b", "x".repeat(129)]) {
        assert.equal(await get(await mint(A, claims(jti))), 401, `jti ${JSON.stringify(jti)} accepted`);
        const rv = await adminCall(stack, kw, "POST", "/v1/tokens/revoke", { jti });
        assert.equal(rv.status, 400, `revoke of ${JSON.stringify(jti)}`);
      }
      const viaFile = await mint(A, claims("file:jti-1"));
      const viaApi = await mint(A, claims("api.jti_2-x"));
      assert.equal(await get(viaFile), 200);
      assert.equal(await get(viaApi), 200);
      fs.appendFileSync(keys.revokedFile, "file:jti-1\n");
      kw.proc.kill("SIGHUP");
      const end = Date.now() + 3000;
      while (await get(viaFile) !== 401 && Date.now() < end) await sleep(20);
      assert.equal(await get(viaFile), 401, "file revocation not taken");
      const rv = await adminCall(stack, kw, "POST", "/v1/tokens/revoke", { jti: "api.jti_2-x" });
      assert.equal(rv.status, 200, rv.text);
      assert.equal(await get(viaApi), 401, "API revocation not taken");
      assert.match(fs.readFileSync(keys.revokedFile, "utf8"), /^file:jti-1\napi\.jti_2-x\n$/m);
      rewriteConfig(kw, (c) => { Object.assign(c, structuredClone(pristine)); });
      assert.deepEqual((await reload()).json, { reloaded: true });
    });

    test("upstash-sync-token: the response time, whatever other clients do", async () => {
      const tok = async (key) => (await request(stack.port, { body: ["GET", "app:x"], key }))
        .headers["upstash-sync-token"];
      const start = BigInt(Date.now()) * 1000n;
      const a1 = BigInt(await tok(stack.keys.reader));
      for (let i = 0; i < 20; i++) await tok(stack.keys.admin);
      const a2 = BigInt(await tok(stack.keys.reader));
      const end = (BigInt(Date.now()) + 1n) * 1000n;
      assert.ok(a1 >= start && a2 > a1 && a2 <= end, `tokens ${a1}, ${a2} not in ${start}..${end}`);
      const anon = (await request(stack.port, { body: ["GET", "app:x"] })).headers["upstash-sync-token"];
      assert.equal(anon, "0");
    });
  });
}
