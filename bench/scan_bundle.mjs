// Writes a one-line "minified bundle" of SIZE_MB megabytes for bench/scan_throughput.sh: the
// real third-party JavaScript of tests/e2e/node_modules with its newlines folded, interleaved
// with base64 images (the text a bundle inlines), and PLANTED credentials (Upstash-shaped
// tokens and JWT-shaped strings, made up) at spread-out offsets.
//   node bench/scan_bundle.mjs SIZE_MB OUT_FILE PLANTED [--base64-only]
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const [sizeMb, out, plantedArg, mode] = process.argv.slice(2);
const size = Number(sizeMb) * 1e6;
const planted = Number(plantedArg);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../tests/e2e/node_modules");
const pieces = [];
if (mode !== "--base64-only") {
  if (!fs.existsSync(root)) throw new Error(`${root} is missing: run npm ci in tests/e2e`);
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(c|m)?js$/.test(e.name) && fs.statSync(p).size < 8e6) pieces.push(fs.readFileSync(p, "latin1").replace(/\r?\n/g, ";"));
    }
  };
  walk(root);
}
const b64 = () => `url(data:image/png;base64,${crypto.randomBytes(20000).toString("base64")})`;
const upstash = (i) => {
  const raw = Buffer.concat([Buffer.from([1, 0x55, 0x3c, 0, 2, 0x23]),
                             Buffer.from(`p1${crypto.createHash("md5").update(String(i)).digest("hex")}p10`)]);
  return raw.toString("base64url");
};
const jwt = (i) => [Buffer.from('{"alg":"EdDSA","kid":"k1"}').toString("base64url"),
                    Buffer.from(`{"client":"web","exp":${2e9 + i}}`).toString("base64url"),
                    crypto.randomBytes(64).toString("base64url")].join(".");
const fd = fs.openSync(out, "w");
let written = 0;
let next = 0;
let i = 0;
while (written < size) {
  const chunk = pieces.length && i % 4 !== 3 ? pieces[i % pieces.length] : b64();
  i++;
  fs.writeSync(fd, chunk, null, "latin1");
  written += Buffer.byteLength(chunk, "latin1");
  if (next < planted && written >= (next + 0.5) * (size / planted)) {
    const s = next % 2 ? `;const t${next}="${upstash(next)}";` : `;fetch(u,{headers:{authorization:"Bearer ${jwt(next)}"}});`;
    fs.writeSync(fd, s);
    written += s.length;
    next++;
  }
}
fs.closeSync(fd);
console.log(`${out}: ${written} bytes, ${next} planted`);
