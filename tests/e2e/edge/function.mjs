// An edge function that calls keyward instead of Upstash. It is the backend: it holds an Ed25519
// signing key (keyward is given only the public half) and mints a one-minute token for the user
// it serves, so nothing long-lived ever reaches the edge. The unchanged @upstash/redis fetch
// build does the rest. The same code runs in Cloudflare Workers, Vercel Edge Functions and Deno.
import { Redis } from "@upstash/redis/cloudflare";
import { SignJWT, importPKCS8 } from "jose";

// env: KEYWARD_URL (https://keyward.example.com), KEYWARD_SIGNING_KEY (PKCS#8 PEM), KEYWARD_KEY_ID,
// KEYWARD_ISSUER and KEYWARD_AUDIENCE (as in keyward's signing: section).
export async function mintToken(env, sub, { ttlSeconds = 60, jti = crypto.randomUUID() } = {}) {
  const key = await importPKCS8(env.KEYWARD_SIGNING_KEY, "EdDSA");
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ client: "edge-user", sub, jti })
    .setProtectedHeader({ alg: "EdDSA", kid: env.KEYWARD_KEY_ID })
    .setIssuer(env.KEYWARD_ISSUER)
    .setAudience(env.KEYWARD_AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .sign(key);
}

export default {
  async fetch(request, env) {
    const user = new URL(request.url).searchParams.get("user");
    if (!user || !/^[a-z0-9-]{1,64}$/.test(user)) return new Response("bad user", { status: 400 });
    const redis = new Redis({ url: env.KEYWARD_URL, token: await mintToken(env, user) });
    const visits = await redis.incr(`user:${user}:visits`); // keyward allows user:{sub}:* only
    return Response.json({ user, visits });
  },
};
