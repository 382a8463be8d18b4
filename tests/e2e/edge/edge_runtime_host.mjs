// One invocation in edge-runtime (the runtime of Vercel Edge Functions), in a new Node process:
// a route bundle (global `route`, with GET/POST exports as a Next.js route file has) served for
// one request, its environment in process.env as Vercel provides it.
// stdin: {"env": {...}, "request": {"method", "path", "body"}}; stdout: {"status", "text"}.
import fs from "node:fs";
import { EdgeRuntime } from "edge-runtime";

const { env, request } = JSON.parse(fs.readFileSync(0, "utf8"));
const runtime = new EdgeRuntime({
  initialCode: `${fs.readFileSync(process.argv[2], "utf8")}
addEventListener("fetch", (event) => event.respondWith(route[event.request.method](event.request)));`,
  extend: (context) => Object.assign(context, { process: { env } }),
});
const res = await runtime.dispatchFetch(`http://edge.test${request.path}`,
                                        { method: request.method, body: request.body });
await res.waitUntil();
process.stdout.write(JSON.stringify({ status: res.status, text: await res.text() }));
