// A tiny static HTTP server for the browser test: the page, @upstash/redis's web build and its
// one dependency straight from node_modules (no bundler), and /config.json (URL + token).
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const modules = path.join(here, "..", "node_modules");
const roots = {
  "/vendor/upstash-redis/": path.join(modules, "@upstash", "redis"),
  "/vendor/uncrypto/": path.join(modules, "uncrypto", "dist"),
};
const types = { ".html": "text/html; charset=utf-8", ".mjs": "text/javascript", ".js": "text/javascript" };

// Resolves a request path to a file below one of the roots, or undefined.
function fileFor(urlPath) {
  if (urlPath === "/" || urlPath === "/index.html") return path.join(here, "page.html");
  for (const [prefix, root] of Object.entries(roots)) {
    if (!urlPath.startsWith(prefix)) continue;
    const file = path.resolve(root, "." + path.posix.normalize("/" + urlPath.slice(prefix.length)));
    if (file.startsWith(root + path.sep) && fs.existsSync(file) && fs.statSync(file).isFile()) return file;
  }
  return undefined;
}

// Starts on 127.0.0.1:0; `config` is served as /config.json. Resolves {port, origin, requests, close}.
export function startStaticServer(config) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const urlPath = new URL(req.url, "http://x").pathname;
    requests.push(urlPath);
    if (urlPath === "/config.json") {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify(config));
      return;
    }
    const file = fileFor(urlPath);
    if (!file) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found");
      return;
    }
    res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      resolve({ port, origin: `http://127.0.0.1:${port}`, requests,
                close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) });
    });
  });
}
