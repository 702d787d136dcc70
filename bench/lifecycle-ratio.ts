#!/usr/bin/env bun
/**
 * The lifecycle-mix comparison (bench/README.md, "Lifecycle mix (issue 9)"): plain sends' latency in
 * a run with edits and reactions mixed in, divided by the same in a plain-only run with identical
 * parameters. Reads the newest `sa-lifecycle-mix` and `sa-lifecycle-plain` lines of a results file
 * written at or after `--since` (so a failed run never pairs with an older one).
 *
 *   bun bench/lifecycle-ratio.ts bench/results/lifecycle.jsonl [--since 2026-11-29T18:00:00Z]
 */
import { readFileSync } from "node:fs";
import type { Result } from "./lib/harness";

export interface Ratio {
  mix_at: string;
  plain_at: string;
  ack: { p50: number; p99: number };
  e2e: { p50: number; p99: number };
}

const r2 = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 100) / 100 : NaN);

/** The newest mix/plain pair at or after `since`, and its ratios (mixed ÷ plain); null without a pair. */
export function lifecycleRatio(lines: string[], since = ""): Ratio | null {
  const runs = lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Result).filter((r) => r.at >= since);
  const mix = runs.findLast((r) => r.label === "sa-lifecycle-mix" && r.lifecycle);
  const plain = runs.findLast((r) => r.label === "sa-lifecycle-plain" && !r.lifecycle);
  if (!mix || !plain) return null;
  return {
    mix_at: mix.at,
    plain_at: plain.at,
    ack: { p50: r2(mix.ack_ms.p50, plain.ack_ms.p50), p99: r2(mix.ack_ms.p99, plain.ack_ms.p99) },
    e2e: { p50: r2(mix.e2e_ms.p50, plain.e2e_ms.p50), p99: r2(mix.e2e_ms.p99, plain.e2e_ms.p99) },
  };
}

if (import.meta.main) {
  const [file, flag, since] = process.argv.slice(2);
  if (!file || (flag !== undefined && (flag !== "--since" || !since))) {
    console.error("usage: bun bench/lifecycle-ratio.ts FILE.jsonl [--since ISO-TIME]");
    process.exit(2);
  }
  const ratio = lifecycleRatio(readFileSync(file, "utf8").split("\n"), since);
  if (!ratio) {
    console.error(`lifecycle-ratio: no sa-lifecycle-mix + sa-lifecycle-plain pair in ${file}${since ? ` since ${since}` : ""}`);
    process.exit(1);
  }
  console.log(`plain sends, mixed run ÷ plain run: ack p50 ×${ratio.ack.p50}, p99 ×${ratio.ack.p99}; e2e p50 ×${ratio.e2e.p50}, p99 ×${ratio.e2e.p99}`);
  console.log(JSON.stringify(ratio));
}
