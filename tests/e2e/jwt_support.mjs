// Signing keys and tokens made with the `jose` npm package (an outside JWT library), for the JWT
// suites: keyward gets only the public key (EdDSA) or the shared secret file (HS256).
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SignJWT, decodeJwt, decodeProtectedHeader, exportPKCS8, exportSPKI, generateKeyPair } from "jose";

export { decodeJwt, decodeProtectedHeader };

export const ISSUER = "https://auth.keyward.test";
export const AUDIENCE = "keyward-e2e";

// A private directory for key files and the revocation list (removed by cleanup()).
export function keyDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kw-jwt-"));
  const revokedFile = path.join(dir, "revoked.txt");
  fs.writeFileSync(revokedFile, "# revoked jti values\n");
  return {
    dir, revokedFile,
    cleanup() {
      if (!process.env.KW_E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// An Ed25519 pair made by jose; the public half is written as SPKI PEM for keyward, or with
// `withPrivate` the private half as PKCS#8 (so keyward can mint with it too).
export async function edKey(dir, id, { withPrivate = false } = {}) {
  const { publicKey, privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  const publicPem = await exportSPKI(publicKey);
  const file = path.join(dir, `${id}.pub.pem`);
  fs.writeFileSync(file, publicPem);
  const config = { id, alg: "EdDSA", public_key_file: file };
  if (withPrivate) {
    config.private_key_file = path.join(dir, `${id}.pem`);
    fs.writeFileSync(config.private_key_file, await exportPKCS8(privateKey), { mode: 0o600 });
  }
  return { id, alg: "EdDSA", signKey: privateKey, publicPem, config };
}

// A 32-byte HS256 secret shared through a 0600 file (no trailing newline).
export function hsKey(dir, id) {
  const secret = crypto.randomBytes(32).toString("base64url");
  const file = path.join(dir, `${id}.secret`);
  fs.writeFileSync(file, secret, { mode: 0o600 });
  return { id, alg: "HS256", signKey: new TextEncoder().encode(secret),
           config: { id, alg: "HS256", secret_file: file } };
}

// The signing section for keyward (first key signs; all verify).
export function signingSection(keys, revokedFile, extra = {}) {
  return { issuer: ISSUER, audience: AUDIENCE, max_ttl: "1h", leeway: "5s",
           revoked_file: revokedFile, keys: keys.map((k) => k.config), ...extra };
}

const now = () => Math.floor(Date.now() / 1000);

// Signs with jose. `claims` defaults: client, sub, iss, aud, iat now, exp now+ttlS; a claim set
// to undefined is left out. `header` overrides the protected header (alg/kid default from key).
export async function mint(key, { client = "session", sub = "42", ttlS = 600, header = {},
                                  claims = {}, signOptions, signKey } = {}) {
  const t = now();
  const payload = { client, sub, iss: ISSUER, aud: AUDIENCE, iat: t, exp: t + ttlS, ...claims };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  const jwt = new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.id, ...header });
  return jwt.sign(signKey ?? key.signKey, signOptions);
}
