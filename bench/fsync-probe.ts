#!/usr/bin/env bun
/**
 * What a durable commit costs on this disk: writes 4 KiB and fdatasyncs it, N times at an interval,
 * and prints the percentiles. The embedded log acks a message only after such a sync, so this is the
 * floor under standalone's ack and delivery latency (bench/README.md, "Where our fan-out time goes").
 *
 *   bun bench/fsync-probe.ts [--dir DATA_DIR] [--count 1000] [--interval-ms 4]
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values: a } = parseArgs({
  options: {
    dir: { type: "string", default: process.env.DATA_DIR ?? "." },
    count: { type: "string", default: "1000" },
    "interval-ms": { type: "string", default: "4" },
  },
  strict: true,
});
const count = Number(a.count);
const interval = Number(a["interval-ms"]);
if (!Number.isInteger(count) || count < 10 || count > 100_000) throw new Error("--count: 10..100000");
if (!(interval >= 0 && interval <= 1000)) throw new Error("--interval-ms: 0..1000");

const dir = mkdtempSync(join(a.dir!, "fsync-probe-"));
const fd = openSync(join(dir, "probe.bin"), "w");
const page = Buffer.alloc(4096, 1);
const ms: number[] = [];
try {
  for (let i = 0; i < count; i++) {
    writeSync(fd, page, 0, page.length, (i % 256) * 4096); // a 1 MiB ring: the file stops growing
    const t = performance.now();
    fdatasyncSync(fd);
    ms.push(performance.now() - t);
    if (interval) await Bun.sleep(interval);
  }
} finally {
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
}
ms.sort((x, y) => x - y);
const p = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]!.toFixed(3);
console.log(`fdatasync of 4 KiB in ${a.dir}: n=${count} every ${interval} ms — p50 ${p(0.5)} p90 ${p(0.9)} p99 ${p(0.99)} max ${p(1)} ms`);
