// startRedisProbe's loop (lib.mjs), on a worker thread of its own.
import net from "node:net";
import { parentPort, workerData } from "node:worker_threads";

const { port, password, slowMs } = workerData;
const stalls = [];
let stopped = false;
parentPort.on("message", () => { stopped = true; });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sock = net.connect(port, "127.0.0.1");
let waiting = null;
sock.on("data", () => { const w = waiting; waiting = null; w?.(); });
sock.on("error", (e) => { parentPort.postMessage(`connection failed: ${e.message}`); parentPort.close(); });
sock.once("connect", async () => {
  const ask = (cmd) => new Promise((r) => { waiting = r; sock.write(cmd); });
  await ask(`*2\r\n$4\r\nAUTH\r\n$${Buffer.byteLength(password)}\r\n${password}\r\n`);
  await ask("*1\r\n$4\r\nPING\r\n");
  parentPort.postMessage("ready");
  while (!stopped) {
    const t0 = Number(process.hrtime.bigint()) / 1e6;
    await ask("*1\r\n$4\r\nPING\r\n");
    const t1 = Number(process.hrtime.bigint()) / 1e6;
    if (t1 - t0 > slowMs) stalls.push([t0, t1]);
    await sleep(5);
  }
  sock.destroy();
  parentPort.postMessage(stalls);
  parentPort.close();
});
