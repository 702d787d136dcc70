#!/usr/bin/env bun
/**
 * `bun run bench`: the closed-loop maximum-throughput scenario against a fresh standalone server
 * (per-connection rate limits lifted so the server, not the limiter, is measured).
 * Any bench/load.ts flag or BENCH_* variable overrides these presets.
 */
import { main } from "./load";

await main(process.argv.slice(2), {
  standalone: "true",
  label: "standalone-closed-loop-max",
  teams: "50",
  members: "2",
  "closed-loop": "true",
  window: "8",
  duration: "20",
  warmup: "5",
  "server-env": "LIMIT_RATE_PER_SEC=100000,LIMIT_RATE_BURST=100000",
});
