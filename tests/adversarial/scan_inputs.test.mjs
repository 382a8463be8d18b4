// min-assertions: 40
// `keyward scan` fed hostile input (a pull request's build output is the attacker's to shape):
// a 300 MB one-line bundle under a 64 MiB address-space limit, long runs of every trigger's
// prefix, FIFOs, symlink loops, nesting past the depth bound, a source map nested 100,000
// deep, and file and source names that try to forge output lines. Every run must end, report
// exactly what is there, and keep one finding per output line.
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { assert } from "../e2e/counted_assert.mjs";

const bin = process.env.KEYWARD_BIN;
let dir;

before(() => {
  assert.ok(bin && fs.existsSync(bin), `KEYWARD_BIN must name the release keyward (${bin})`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "kw-scan-adv-"));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

// Runs keyward scan under `ulimit -v` (KiB) when given; returns status, output and seconds.
function scan(args, { limitKiB, timeout = 120000 } = {}) {
  const quoted = args.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const cmd = `${limitKiB ? `ulimit -v ${limitKiB}; ` : ""}exec '${bin}' scan ${quoted}`;
  const start = process.hrtime.bigint();
  const r = spawnSync("bash", ["-c", cmd], { encoding: "utf8", maxBuffer: 64 << 20, timeout });
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  assert.equal(r.error, undefined, `scan did not finish: ${r.error}`);
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, secs };
}

const upstash = (i) => Buffer.concat([Buffer.from([1, 0x55, 0x3c, 0, 2, 0x23]),
                                      Buffer.from(`p1${crypto.createHash("md5").update(String(i)).digest("hex")}p10`)])
    .toString("base64url");

// Writes `mb` megabytes made of `unit` repeated, with `planted` strings spread through it.
function writeRepeated(file, mb, unit, planted = []) {
  const fd = fs.openSync(file, "w");
  const block = Buffer.from(unit.repeat(Math.ceil((1 << 20) / unit.length)).slice(0, 1 << 20), "latin1");
  const every = Math.max(1, Math.floor(mb / Math.max(1, planted.length)));
  let p = 0;
  for (let i = 0; i < mb; i++) {
    fs.writeSync(fd, block);
    if (p < planted.length && i % every === every - 1) fs.writeSync(fd, ` ${planted[p++]} `);
  }
  fs.closeSync(fd);
  return p;
}

describe("size", () => {
  test("a 300 MB one-line bundle scans inside a 64 MiB address space and finds what was planted", () => {
    const file = path.join(dir, "bundle.js");
    const planted = Array.from({ length: 30 }, (_, i) => `token:"${upstash(i)}"`);
    const unit = 'function(e,t){return e.call(t,"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA")};';
    assert.equal(writeRepeated(file, 300, unit, planted), 30);
    const r = scan(["--format", "json", file], { limitKiB: 65536 });
    assert.equal(r.status, 1, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.findings.length, 30);
    assert.ok(doc.findings.every((f) => f.line === 1 && f.kind === "upstash-token"));
    assert.equal(doc.summary.bytes, fs.statSync(file).size);
    console.log(`300 MB one line under ulimit -v 64 MiB: ${(doc.summary.bytes / 1e6 / r.secs).toFixed(0)} MB/s`);
    fs.rmSync(file);
  });

  for (const [name, unit] of [
    ["base64 run starting like an Upstash token", "AYQgASQg" + "Zm9vYmFy".repeat(8)],
    ["kw_ prefixes", " kw_kw_kw_"], ["eyJ prefixes", ".eyJeyJ.eyJ"], ["redis:// schemes", " redis://:"],
    ["public variable names", " NEXT_PUBLIC_UPSTASH_TOKEN="], ["upper-case names", " AAAAAAAAUPSTASH"],
    // Unquoted values that each run into the next name: every position's value overlaps the
    // next ones (bounded at 128 bytes: 2 MB/s before the bound, about 50 after).
    ["overlapping unquoted values", "+NEXT_PUBLIC_REDIS="], ["overlapping URL authorities", "@redis://"],
  ]) {
    test(`64 MB of ${name}: ends, nothing false reported`, () => {
      const file = path.join(dir, "run.txt");
      writeRepeated(file, 64, unit);
      const r = scan(["--format", "json", file], { limitKiB: 65536 });
      assert.equal(r.status, 0, r.stdout.slice(0, 500) + r.stderr);
      assert.equal(JSON.parse(r.stdout).findings.length, 0);
      console.log(`${name}: ${(64 * 1.048576 / r.secs).toFixed(0)} MB/s`);
      fs.rmSync(file);
    });
  }
});

test("a 96 MB inline base64 source map decodes in a 64 MiB address space; the token at its end is found", () => {
  const file = path.join(dir, "inline.js");
  const fd = fs.openSync(file, "w");
  fs.writeSync(fd, "var a=1;\n//# sourceMappingURL=data:application/json;base64,");
  // {"sourcesContent":["<72 MB of spaces> const t = \"TOKEN\""]} in base64, written in pieces.
  const head = Buffer.from('{"version":3,"sources":["big.ts"],"sourcesContent":["');
  const tail = Buffer.from(`const t = \\"${upstash(9)}\\""]}`);
  const body = Buffer.alloc(3 << 20, 0x20);
  let carry = Buffer.alloc(0);
  const emit = (b) => {
    const all = Buffer.concat([carry, b]);
    const whole = all.length - (all.length % 3);
    fs.writeSync(fd, all.subarray(0, whole).toString("base64"));
    carry = all.subarray(whole);
  };
  emit(head);
  for (let i = 0; i < 24; i++) emit(body);
  emit(tail);
  fs.writeSync(fd, carry.toString("base64") + "\n");
  fs.closeSync(fd);
  const r = scan(["--format", "json", file], { limitKiB: 65536 });
  assert.equal(r.status, 1, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.findings.length, 1);
  assert.equal(doc.findings[0].inline_map, true);
  assert.equal(doc.findings[0].embedded.source, "big.ts");
  assert.equal(doc.findings[0].line, 2);
  fs.rmSync(file);
});

describe("the file system", () => {
  // Attack round 24: a FIFO named on the command line was "1 skipped", exit 0; the scan did
  // not read the path it was asked to, so it is incomplete (exit 2).
  test("FIFOs are never read: met in a walk they are skipped, named they make the scan incomplete", () => {
    const d = fs.mkdtempSync(path.join(dir, "fifo-"));
    const fifo = path.join(d, "pipe.js");
    assert.equal(spawnSync("mkfifo", [fifo]).status, 0);
    const env = `UPSTASH_REDIS_REST_TOKEN=${upstash(1)}\n`;
    fs.writeFileSync(path.join(d, "a.env"), env);
    const walked = scan(["--format", "json", d], { timeout: 20000 });
    assert.equal(walked.status, 1);
    assert.deepEqual(JSON.parse(walked.stdout).summary, { files: 1, bytes: env.length, skipped: 1, findings: 1, errors: 0 });
    const named = scan(["--format", "json", fifo], { timeout: 20000 });
    assert.equal(named.status, 2);
    assert.deepEqual(JSON.parse(named.stdout).summary, { files: 0, bytes: 0, skipped: 0, findings: 0, errors: 1 });
    assert.match(named.stderr, /pipe\.js: not a regular file or directory/);
  });

  test("symlinks met in a walk are not followed (a loop, a link out of the tree)", () => {
    const d = fs.mkdtempSync(path.join(dir, "links-"));
    const outside = fs.mkdtempSync(path.join(dir, "outside-"));
    fs.writeFileSync(path.join(outside, "secret.env"), `KV_REST_API_TOKEN=${upstash(2)}\n`);
    fs.symlinkSync(d, path.join(d, "loop"));
    fs.symlinkSync(outside, path.join(d, "out"));
    fs.symlinkSync(path.join(outside, "secret.env"), path.join(d, "file-link.env"));
    const r = scan(["--format", "json", d], { timeout: 20000 });
    assert.equal(r.status, 0, r.stdout);
    assert.deepEqual(JSON.parse(r.stdout).summary, { files: 0, bytes: 0, skipped: 3, findings: 0, errors: 0 });
    // A path the user names is followed: they asked for it.
    const named = scan(["--format", "json", path.join(d, "file-link.env")]);
    assert.equal(named.status, 1);
  });

  test("directories nested past the bound: an error (exit 2), no crash, the rest still scanned", () => {
    const d = fs.mkdtempSync(path.join(dir, "deep-"));
    let p = d;
    for (let i = 0; i < 140; i++) p = path.join(p, "d");
    fs.mkdirSync(p, { recursive: true });
    fs.writeFileSync(path.join(d, "top.env"), `UPSTASH_REDIS_REST_TOKEN=${upstash(3)}\n`);
    const r = scan(["--format", "json", d]);
    assert.equal(r.status, 2);
    assert.equal(r.signal, null);
    assert.match(r.stderr, /nested too deeply/);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.findings.length, 1);
    assert.equal(doc.summary.errors, 1);
  });
});

describe("output integrity", () => {
  test("file and embedded-source names cannot forge output lines", () => {
    const d = fs.mkdtempSync(path.join(dir, "names-"));
    const evil = "x.js\nforged.js:1:1 jwt eyJforged...(9)\r\x1b[2K";
    fs.writeFileSync(path.join(d, evil), `t="${upstash(4)}"`);
    const map = { version: 3, sources: ["src\n/fake.ts:1:1 upstash-token AAAA...(58)"],
                  sourcesContent: [`const t = "${upstash(5)}";`], mappings: "" };
    fs.writeFileSync(path.join(d, "app.js.map"), JSON.stringify(map));
    const r = scan([d]);
    assert.equal(r.status, 1);
    const lines = r.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 2, r.stdout);
    for (const l of lines) {
      assert.match(l, /^\S.*:\d+:\d+ upstash-token AVU8AA\.\.\.\(58\)( \(embedded .*\))?$/);
      assert.ok(!/[\x00-\x1f]/.test(l));
    }
    // JSON carries the names exactly, escaped.
    const doc = JSON.parse(scan(["--format", "json", d]).stdout);
    assert.ok(doc.findings.some((f) => f.file === path.join(d, evil)));
    assert.ok(doc.findings.some((f) => f.embedded?.source === map.sources[0]));
  });

  test("a source map nested 100,000 deep, with 100,000 sources: located or not, never a crash", () => {
    const d = fs.mkdtempSync(path.join(dir, "maps-"));
    fs.writeFileSync(path.join(d, "deep.js.map"), `{"a":${"[".repeat(100000)}"${upstash(6)}"${"]".repeat(100000)}}`);
    const sources = Array.from({ length: 100000 }, (_, i) => `src/f${i}.ts`);
    const contents = sources.map((_, i) => (i === 99999 ? `x="${upstash(7)}"` : "x=1"));
    fs.writeFileSync(path.join(d, "wide.js.map"), JSON.stringify({ version: 3, sources, sourcesContent: contents }));
    const r = scan(["--format", "json", d], { limitKiB: 65536 });
    assert.equal(r.status, 1, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.findings.length, 2);
    const wide = doc.findings.find((f) => f.file.endsWith("wide.js.map"));
    // Names are kept for the first 4,096 sources only (bounded); the index is always right.
    assert.deepEqual(wide.embedded, { source: "", index: 99999, line: 1, column: 4 });
    assert.equal(doc.findings.find((f) => f.file.endsWith("deep.js.map")).embedded, undefined);
  });
});
