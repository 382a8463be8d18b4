// node:assert/strict wrapped so that every assertion call is counted; the count of each test file
// is written to $KW_E2E_COUNT_DIR on exit so run.mjs can print (and check) the total.
import strict from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

let count = 0;

const handler = {
  apply(target, thisArg, args) {
    count++;
    return Reflect.apply(target, thisArg, args);
  },
  get(target, prop) {
    const v = Reflect.get(target, prop);
    if (typeof v === "function" && prop !== "AssertionError") {
      return new Proxy(v, handler);
    }
    return v;
  },
};

export const assert = new Proxy(strict, handler);
export default assert;

export function assertionCount() {
  return count;
}

process.on("exit", () => {
  const dir = process.env.KW_E2E_COUNT_DIR;
  const name = path.basename(process.argv[1] || "unknown");
  process.stdout.write(`# assertions in ${name}: ${count}\n`);
  if (dir) {
    fs.writeFileSync(path.join(dir, `${name}.${process.pid}.count`), String(count));
  }
});
