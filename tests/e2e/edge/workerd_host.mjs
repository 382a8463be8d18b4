// One Worker invocation in workerd through miniflare: a new workerd process runs the bundled
// module with the function's environment as bindings and serves one request.
// stdin: {"env": {...}, "request": {"method", "path", "body"}}; stdout: {"status", "text"}.
import fs from "node:fs";
import path from "node:path";
import { Miniflare } from "miniflare";

const { env, request } = JSON.parse(fs.readFileSync(0, "utf8"));
const mf = new Miniflare({
  modules: true,
  scriptPath: process.argv[2],
  modulesRoot: path.dirname(process.argv[2]),  // module names are relative to it
  bindings: env,
  compatibilityDate: "2025-09-01",
});
try {
  const res = await mf.dispatchFetch(`http://edge.test${request.path}`,
                                     { method: request.method, body: request.body });
  process.stdout.write(JSON.stringify({ status: res.status, text: await res.text() }));
} finally {
  await mf.dispose();
}
