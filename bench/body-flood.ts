/**
 * Body flood (PROTOCOL §7): concurrent 100 MB unauthenticated POSTs must be refused (413, before the body is
 * buffered or the token checked) without the server's memory following them. Starts a fresh standalone
 * server, reads its RSS from /proc/<pid>/status before and after, prints one JSON line. Budget: 20 MB.
 *
 *   bun bench/body-flood.ts [--requests 20] [--mb 100] [--mode declared|chunked|both] [--budget-mb 20]
 *
 * Not a timed unit test: a figure to record in bench/README.md. Exits 1 when over budget.
 */
import { parseArgs } from "node:util";
import { startStandaloneServer } from "./lib/standalone";
import { sampleProc } from "./lib/sys";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "20" },
    mb: { type: "string", default: "100" },
    mode: { type: "string", default: "both" },
    "budget-mb": { type: "string", default: "20" },
  },
});
const requests = Number(values.requests);
const bytes = Number(values.mb) * 1024 * 1024;
const budgetKiB = Number(values["budget-mb"]) * 1024;
const modes = values.mode === "both" ? ["declared", "chunked"] : [values.mode!];
const CHUNK = new Uint8Array(1024 * 1024).fill(0x20); // JSON whitespace

/** A body of `total` bytes produced as it is read, so the client never holds it. */
function stream(total: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(c) {
      if (sent >= total) return c.close();
      const n = Math.min(CHUNK.length, total - sent);
      sent += n;
      c.enqueue(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
    },
  });
}

async function flood(base: string, mode: string): Promise<Record<string, number>> {
  const statuses: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: requests }, async () => {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (mode === "declared") headers["content-length"] = String(bytes);
      let key: string;
      try {
        const res = await fetch(`${base}/v1/teams`, { method: "POST", headers, body: stream(bytes), signal: AbortSignal.timeout(120_000) });
        key = String(res.status);
        await res.arrayBuffer();
      } catch (err) {
        key = (err as Error).name === "TimeoutError" ? "timeout" : "connection closed"; // a refusal may cut the upload short
      }
      statuses[key] = (statuses[key] ?? 0) + 1;
    }),
  );
  return statuses;
}

const server = await startStandaloneServer({}, false);
let over = false;
try {
  const rss = () => sampleProc(server.pid!)!.rssKiB;
  // Warm the paths once so what is measured is the flood, not first-use compilation.
  await fetch(`${server.base}/v1/teams`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  await Bun.sleep(500);
  for (const mode of modes) {
    const before = rss();
    const t0 = performance.now();
    const statuses = await flood(server.base, mode);
    const seconds = (performance.now() - t0) / 1000;
    await Bun.sleep(1000);
    const after = rss();
    const peak = sampleProc(server.pid!)!.hwmKiB;
    const deltaKiB = after - before;
    over ||= deltaKiB > budgetKiB;
    console.log(
      JSON.stringify({
        bench: "body-flood",
        mode,
        requests,
        body_mb: bytes / 1024 / 1024,
        statuses,
        seconds: Math.round(seconds * 100) / 100,
        rss_before_mb: Math.round(before / 1024),
        rss_after_mb: Math.round(after / 1024),
        rss_delta_mb: Math.round((deltaKiB / 1024) * 10) / 10,
        rss_peak_mb: Math.round(peak / 1024),
        budget_mb: budgetKiB / 1024,
        within_budget: deltaKiB <= budgetKiB,
      }),
    );
  }
} finally {
  await server.stop();
}
process.exit(over ? 1 : 0);
