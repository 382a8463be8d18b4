// Vercel Edge Functions (Next.js app/api/visits/route.js): the same function, with its
// environment from process.env (KEYWARD_SIGNING_KEY as an encrypted environment variable).
import fn from "./function.mjs";

export const runtime = "edge";
export const GET = (request) => fn.fetch(request, process.env);
