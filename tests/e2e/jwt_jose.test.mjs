// JWT conformance against tokens minted by an outside library (the `jose` npm package): valid
// EdDSA and HS256 tokens work, also as the token of @upstash/redis; every refusal class of
// README, Credentials gets 401 WRONGPASS and executes nothing on redis.
import { after, before, describe, test } from "node:test";
import { Redis, errors } from "@upstash/redis";
import { SignJWT, UnsecuredJWT, base64url } from "jose";
import { assert } from "./counted_assert.mjs";
import { adminCall, measure, startStack } from "./harness.mjs";
import { request } from "./http.mjs";
import { AUDIENCE, ISSUER, edKey, hsKey, keyDir, mint, signingSection } from "./jwt_support.mjs";

let stack;
let keys;
let ed;
let hs;
let otherEd; // never configured
const now = () => Math.floor(Date.now() / 1000);

before(async () => {
  keys = keyDir();
  ed = await edKey(keys.dir, "ed-2026-11");
  hs = hsKey(keys.dir, "hs-2026-11");
  otherEd = await edKey(keys.dir, "not-configured");
  stack = await startStack({
    signing: signingSection([ed, hs], keys.revokedFile),
    extraClients: {
      session: { credentials: ["api_key", "jwt"], commands: ["+get", "+set", "+del"], keys: ["sess:{sub}:*"] },
    },
  });
});
after(async () => {
  await stack?.stop();
  keys?.cleanup();
});

async function accepted(token, sub = "42") {
  const key = `sess:${sub}:jose`;
  const res = await request(stack.port, { body: ["SET", key, "v"], key: token });
  assert.equal(res.status, 200, `valid token refused: ${res.status} ${res.text}`);
  assert.deepEqual(res.json, { result: "OK" });
  assert.equal(await stack.redis.call("GET", key), "v");
}

async function refused(token, what) {
  const [res, delta] = await measure(stack.redis, () =>
    request(stack.port, { body: ["SET", "sess:42:refused", "x"], key: token }));
  assert.equal(res.status, 401, `${what}: status ${res.status} body ${res.text.slice(0, 200)}`);
  assert.ok(res.json?.error?.startsWith("WRONGPASS"), `${what}: body ${res.text.slice(0, 200)}`);
  assert.deepEqual(delta, {}, `${what}: a refused token executed commands`);
}

// Replaces the signature part with `sig` (base64url) or flips one bit inside it.
function withSignature(token, sig) {
  const [h, p] = token.split(".");
  return `${h}.${p}.${sig}`;
}
function flipSignatureBit(token) {
  const [h, p, s] = token.split(".");
  const raw = Buffer.from(s, "base64url");
  raw[10] ^= 0x01;
  return `${h}.${p}.${raw.toString("base64url")}`;
}

describe("jose-minted tokens keyward accepts", () => {
  test("EdDSA (Ed25519) with sub, iss, aud, iat, exp", async () => {
    await accepted(await mint(ed));
  });
  test("HS256 with sub, iss, aud, iat, exp", async () => {
    await accepted(await mint(hs, { sub: "hs-user" }), "hs-user");
  });
  test("typ JWT header, jti and nbf in the past", async () => {
    await accepted(await mint(ed, { header: { typ: "JWT" },
                                    claims: { jti: "ok-jti-1", nbf: now() - 60 } }));
  });
  test("exp just inside max_ttl (1h) and iat/nbf within the 5 s leeway", async () => {
    await accepted(await mint(hs, { ttlS: 3500, claims: { nbf: now() + 2, iat: now() + 2 } }));
  });
  test("sub with every allowed character class", async () => {
    const sub = "A.z_0-9@x";
    await accepted(await mint(ed, { sub }), sub);
  });
  test("the @upstash/redis SDK with a jose EdDSA token: own keys work, another user's are NOPERM", async () => {
    const redis = new Redis({ url: stack.url, token: await mint(ed, { sub: "42" }),
                              retry: { retries: 0 } });
    assert.equal(await redis.set("sess:42:sdk", "hello"), "OK");
    assert.equal(await redis.get("sess:42:sdk"), "hello");
    assert.equal(await redis.del("sess:42:sdk"), 1);
    let err;
    try {
      await redis.get("sess:43:sdk");
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof errors.UpstashError, `expected NOPERM, got ${err}`);
    assert.match(err.message, /NOPERM/);
  });
  test("the @upstash/redis SDK with a jose HS256 token", async () => {
    const redis = new Redis({ url: stack.url, token: await mint(hs, { sub: "7" }), retry: { retries: 0 } });
    assert.equal(await redis.set("sess:7:sdk", "x"), "OK");
    assert.equal(await redis.get("sess:7:sdk"), "x");
  });
});

// A verified token is remembered: its later requests skip the signature check (the metric
// counts them), yet revocation and expiry still stop it on its very next request.
describe("verified tokens remembered", () => {
  async function hits() {
    const r = await adminCall(stack, stack.keyward, "GET", "/metrics");
    return Number(/^keyward_jwt_cache_hits_total (\d+)$/m.exec(r.text)?.[1]);
  }
  test("recognised on reuse, refused at once when revoked", async () => {
    const token = await mint(ed, { claims: { jti: "remembered-1" } });
    const before = await hits();
    // Each worker (listen.workers) keeps its own cache: a token is verified once per worker.
    const m = await adminCall(stack, stack.keyward, "GET", "/metrics");
    const workers = Number(/^keyward_workers (\d+)$/m.exec(m.text)?.[1]);
    assert.ok(workers >= 1, m.text.slice(0, 200));
    for (let i = 0; i < 5; i++) await accepted(token);
    assert.ok((await hits()) - before >= 5 - workers,
              `at least ${5 - workers} of five requests were recognised`);
    const revoke = await adminCall(stack, stack.keyward, "POST", "/v1/tokens/revoke",
                                   { jti: "remembered-1" });
    assert.equal(revoke.status, 200, revoke.text);
    await refused(token, "a remembered token after its revocation");
  });
  test("refused once its exp (plus the 5 s leeway) has passed", async () => {
    const token = await mint(hs, { claims: { iat: now() - 1, exp: now() + 1 } });
    await accepted(token);
    await accepted(token);
    await new Promise((r) => setTimeout(r, 7500));
    await refused(token, "a remembered token past its exp");
  });
});

describe("jose-minted tokens keyward refuses with 401", () => {
  test("alg none (jose UnsecuredJWT), with and without a kid", async () => {
    const t = now();
    const claims = { client: "session", sub: "42", iss: ISSUER, aud: AUDIENCE, exp: t + 300 };
    await refused(new UnsecuredJWT(claims).encode(), "alg none");
    const header = base64url.encode(JSON.stringify({ alg: "none", kid: ed.id }));
    const body = base64url.encode(JSON.stringify(claims));
    await refused(`${header}.${body}.`, "alg none with kid");
    await refused(`${header}.${body}.${base64url.encode("x")}`, "alg none with a signature");
  });
  test("algorithm confusion: HS256 keyed with the Ed25519 public key under the EdDSA kid", async () => {
    const forged = await mint({ ...ed, alg: "HS256" },
                              { signKey: new TextEncoder().encode(ed.publicPem) });
    await refused(forged, "HS256 under EdDSA kid");
  });
  test("wrong alg for the kid: HS256 header naming the EdDSA key, EdDSA naming the HS256 key", async () => {
    await refused(await mint({ ...hs, id: ed.id }), "HS256 token with EdDSA kid");
    await refused(await mint({ ...ed, id: hs.id }), "EdDSA token with HS256 kid");
  });
  test("other algorithms keyward never takes (HS512, ES256)", async () => {
    const hs512 = await new SignJWT({ client: "session", sub: "42", iss: ISSUER, aud: AUDIENCE,
                                      exp: now() + 300 })
      .setProtectedHeader({ alg: "HS512", kid: hs.id }).sign(new Uint8Array(64).fill(7));
    await refused(hs512, "HS512");
    const { generateKeyPair } = await import("jose");
    const es = await generateKeyPair("ES256");
    const es256 = await new SignJWT({ client: "session", sub: "42", iss: ISSUER, aud: AUDIENCE,
                                      exp: now() + 300 })
      .setProtectedHeader({ alg: "ES256", kid: ed.id }).sign(es.privateKey);
    await refused(es256, "ES256");
  });
  test("unknown kid, missing kid", async () => {
    await refused(await mint(otherEd), "unknown kid");
    await refused(await mint(ed, { header: { kid: undefined } }), "missing kid");
  });
  test("signed by another Ed25519 key under a configured kid", async () => {
    await refused(await mint(ed, { signKey: otherEd.signKey }), "foreign Ed25519 key");
  });
  test("HS256 signed with another secret", async () => {
    await refused(await mint(hs, { signKey: new Uint8Array(32).fill(1) }), "wrong HS256 secret");
  });
  test("bad signature: one bit flipped (EdDSA and HS256), signature removed, signature swapped", async () => {
    await refused(flipSignatureBit(await mint(ed)), "EdDSA bit flip");
    await refused(flipSignatureBit(await mint(hs)), "HS256 bit flip");
    await refused(withSignature(await mint(ed), ""), "empty signature");
    const other = (await mint(ed, { sub: "43" })).split(".")[2];
    await refused(withSignature(await mint(ed), other), "signature of another token");
  });
  test("payload changed after signing (sub 42 -> 43)", async () => {
    const [h, , s] = (await mint(ed)).split(".");
    const t = now();
    const p = base64url.encode(JSON.stringify({ client: "session", sub: "43", iss: ISSUER,
                                                aud: AUDIENCE, iat: t, exp: t + 600 }));
    await refused(`${h}.${p}.${s}`, "tampered payload");
  });
  test("expired (beyond the leeway), exp missing", async () => {
    await refused(await mint(ed, { claims: { iat: now() - 120, exp: now() - 60 } }), "expired");
    await refused(await mint(hs, { claims: { exp: now() - 10 } }), "expired HS256");
    await refused(await mint(ed, { claims: { exp: undefined } }), "no exp");
  });
  test("nbf in the future, iat in the future (beyond the leeway)", async () => {
    await refused(await mint(ed, { claims: { nbf: now() + 120 } }), "nbf future");
    await refused(await mint(ed, { claims: { iat: now() + 120 } }), "iat future");
  });
  test("exp beyond max_ttl (1h)", async () => {
    await refused(await mint(ed, { ttlS: 3 * 3600 }), "exp 3h ahead");
    await refused(await mint(hs, { ttlS: 3600 + 120 }), "exp 1h02 ahead");
  });
  test("wrong or missing iss / aud", async () => {
    await refused(await mint(ed, { claims: { iss: "https://evil.example" } }), "wrong iss");
    await refused(await mint(ed, { claims: { aud: "someone-else" } }), "wrong aud");
    await refused(await mint(ed, { claims: { iss: undefined } }), "missing iss");
    await refused(await mint(ed, { claims: { aud: undefined } }), "missing aud");
  });
  test("crit header (jose told to accept it)", async () => {
    await refused(await mint(ed, { header: { crit: ["x-kw"], "x-kw": 1 },
                                   signOptions: { crit: { "x-kw": true } } }), "crit");
    await refused(await mint(ed, { header: { crit: ["b64"], b64: true } }), "crit b64 (RFC 7797)");
  });
  test("claims of the wrong type or missing client", async () => {
    await refused(await mint(ed, { claims: { exp: String(now() + 300) } }), "exp string");
    await refused(await mint(ed, { claims: { sub: 42 } }), "sub number");
    await refused(await mint(ed, { claims: { client: undefined } }), "no client");
    await refused(await mint(ed, { client: "no-such-client" }), "unknown client");
    await refused(await mint(ed, { sub: "42/../43" }), "sub outside the allowed characters");
    await refused(await mint(ed, { sub: "x".repeat(129) }), "sub longer than 128");
  });
  test("revoked jti (POST /v1/tokens/revoke) is refused; other jti still work", async () => {
    const token = await mint(ed, { claims: { jti: "jose-revoke-me" } });
    await accepted(token);
    const r = await adminCall(stack, stack.keyward, "POST", "/v1/tokens/revoke", { jti: "jose-revoke-me" });
    assert.equal(r.status, 200, r.text);
    await refused(token, "revoked jti");
    await accepted(await mint(ed, { claims: { jti: "jose-keep-me" } }));
  });
});
