// The three edge runtimes as the suites drive them. Each invocation is a new runtime process (a
// cold start, so a new TLS connection to keyward every time), given the function's environment
// and one request; it answers with the Response's status and JSON body. The test CA reaches each
// runtime the way that runtime takes one:
//   workerd (miniflare): NODE_EXTRA_CA_CERTS, which miniflare hands to workerd's own TLS stack
//     as the trusted certificates of its outbound network;
//   edge-runtime: NODE_EXTRA_CA_CERTS (its fetch is Node's);
//   Deno: --cert FILE (NODE_EXTRA_CA_CERTS names the same file: no other CA is in play).
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { freePort } from "../harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const e2e = path.dirname(here);
const bin = (name) => path.join(e2e, "node_modules", ".bin", name);

export const RUNTIMES = ["workerd", "edge-runtime", "deno"];

// Bundles (esbuild) the function and the probes with @upstash/redis's fetch build,
// @upstash/ratelimit and jose into `dir`, in each runtime's shape: ES modules for workerd and
// Deno, route scripts (global `route`) for edge-runtime.
export async function bundle(dir) {
  const common = { bundle: true, target: "es2022", platform: "browser", logLevel: "error",
                   conditions: ["worker", "browser"] };
  const build = async (entry, out, extra = { format: "esm" }) => {
    const outfile = path.join(dir, out);
    await esbuild.build({ ...common, ...extra, entryPoints: [path.join(here, entry)], outfile });
    return outfile;
  };
  const route = { format: "iife", globalName: "route" };
  return {
    probes: { workerd: await build("scenario.mjs", "scenario.mjs"),
              "edge-runtime": await build("edge_runtime_entry.mjs", "scenario.route.js", route),
              deno: path.join(dir, "scenario.mjs") },
    readme: { workerd: await build("function.mjs", "function.mjs"),
              "edge-runtime": await build("vercel_route.mjs", "vercel_route.js", route),
              deno: await build("deno_serve.mjs", "deno_serve.mjs") },
  };
}

function run(cmd, args, { env, input, timeoutMs = 60000 }) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { err += d; });
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      // workerd's stack traces are long lists of binary offsets: dropped from the message.
      const why = err.replace(/ \S*workerd@\S*/g, "").slice(0, 3000);
      if (code !== 0) reject(new Error(`${cmd} exited ${code}: ${why}`));
      else resolve(out);
    });
    child.stdin.end(input);
  });
}

const denoEnv = (dir, ca) => ({ DENO_NO_UPDATE_CHECK: "1", NODE_EXTRA_CA_CERTS: ca,
                                DENO_DIR: path.join(dir, "deno-dir") });

// One invocation in `runtime` of the probes (kind "probes") or of the README's function
// (kind "readme"); `request` is {method, path, body}. Answers {status, json | text}.
export async function invoke(runtime, kind, bundled, fnEnv, request, { ca }) {
  const file = bundled[kind][runtime];
  if (runtime === "deno" && kind === "readme") return denoServe(file, fnEnv, request, ca);
  const input = JSON.stringify({ env: fnEnv, request });
  let out;
  if (runtime === "deno") {
    out = await run(bin("deno"), ["run", "--quiet", "--no-config", "--no-lock", "--no-prompt",
                                  "--allow-net", `--allow-read=${file}`, "--cert", ca,
                                  path.join(here, "deno_entry.mjs"), file],
                    { env: denoEnv(path.dirname(file), ca), input });
  } else {
    const host = runtime === "workerd" ? "workerd_host.mjs" : "edge_runtime_host.mjs";
    out = await run(process.execPath, [path.join(here, host), file],
                    { env: { NODE_EXTRA_CA_CERTS: ca }, input });
  }
  return answer(JSON.parse(out));
}

// A response as the suites read it: the body parsed when it is JSON, else kept as text.
function answer({ status, text }) {
  try {
    return { status, json: JSON.parse(text) };
  } catch {
    return { status, text };
  }
}

// `deno serve` as Deno Deploy runs a module: a server on a free port, one request, stopped.
async function denoServe(file, fnEnv, request, ca) {
  const port = await freePort();
  const child = spawn(bin("deno"), ["serve", "--quiet", "--no-config", "--no-lock", "--no-prompt",
                                    "--allow-net", "--allow-env", `--allow-read=${file}`,
                                    "--cert", ca, "--host", "127.0.0.1", "--port", String(port), file],
                      { env: { ...process.env, ...fnEnv, ...denoEnv(path.dirname(file), ca) },
                        stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr.on("data", (d) => { err += d; });
  try {
    for (let i = 0; ; i++) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}${request.path}`,
                                { method: request.method, body: request.body });
        return answer({ status: res.status, text: await res.text() });
      } catch (e) {
        if (i > 200 || child.exitCode !== null) throw new Error(`deno serve: ${e.message}: ${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    child.kill("SIGKILL");
  }
}
