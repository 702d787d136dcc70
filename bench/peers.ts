#!/usr/bin/env bun
/**
 * This service next to its peers, same scenario, same harness (lib/harness.ts), same run:
 *   bun-pubsub   a bare Bun.serve topic publish (lib/peers/bun-pubsub-server.ts): the floor
 *   bun-pubsub-300b  the same with 300-byte messages: the floor at this service's frame size
 *   centrifugo   Centrifugo v6, memory engine, HS256 JWT connect, client publish (scripts/infra/centrifugo.sh)
 *   chat         this service in standalone mode (lib/standalone.ts)
 * Each server is a fresh process, started, measured and stopped in turn; before each, the run waits
 * (at most --quiet-wait s) for the machine to be under --quiet-pct % busy. --rounds N repeats the
 * whole set with the server order rotated and reports each figure's median over the rounds.
 * Prints a table with the ratios and appends one JSON line (every run's full result included) to --json-out.
 *
 *   bun bench/peers.ts                       # both scenarios, all four servers
 *   bun bench/peers.ts --rounds 3            # medians of three rounds
 *   bun bench/peers.ts --only fanout --servers bun-pubsub,chat --duration 10
 */
import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { bunPubSubDriver } from "./lib/drivers/bun-pubsub";
import { centrifugoDriver } from "./lib/drivers/centrifugo";
import { chatDriver } from "./lib/drivers/chat";
import type { Driver } from "./lib/driver";
import { printSummary, runLoad, type Result } from "./lib/harness";
import { parseOptions, type Name, type Options } from "./lib/options";
import { centrifugoBinary, startBunPubSub, startCentrifugo } from "./lib/peers/servers";
import { startStandaloneServer, type Server } from "./lib/standalone";
import { machine, sampleMachine } from "./lib/sys";

/** The scenarios of issue 13; every sender stays under this service's 20 msg/s per-connection limit. */
const SCENARIOS = [
  { name: "fanout-200-r1000", what: "200 members, 1,000 broadcasts/s (5/s per member)", args: { teams: "1", members: "200", rate: "1000" } },
  { name: "saturation-1000-r2000", what: "1,000 members, 2,000 msg/s offered (2/s per member)", args: { teams: "1", members: "1000", rate: "2000" } },
] as const;

/**
 * bun-pubsub-300b: the same bare server with 300-byte messages instead of 64, as large as this service's
 * message frames in these scenarios (id, seq, from, ts... around the data: ~309 bytes), so the floor
 * of what the harness reads is compared at equal frame size too.
 */
const SERVERS = ["bun-pubsub", "bun-pubsub-300b", "centrifugo", "chat"] as const;
type ServerName = (typeof SERVERS)[number];

// REST limits only shape the setup (one owner adds every member); the WebSocket path keeps its defaults.
const CHAT_ENV = { LIMIT_REST_PER_SEC: "100000", LIMIT_REST_BURST: "100000" };

const { values: a } = parseArgs({
  options: {
    only: { type: "string", default: "" },
    servers: { type: "string", default: SERVERS.join(",") },
    duration: { type: "string", default: "20" },
    warmup: { type: "string", default: "5" },
    drain: { type: "string", default: "10" },
    rounds: { type: "string", default: "1" },
    "quiet-pct": { type: "string", default: "25" },
    "quiet-wait": { type: "string", default: "300" },
    "json-out": { type: "string", default: "bench/results/peers.jsonl" },
    timeline: { type: "boolean", default: false },
    "ws-client": { type: "string", default: "raw" },
    help: { type: "boolean", default: false },
  },
  strict: true,
});
if (a.help) {
  console.log(`usage: bun bench/peers.ts [--only SCENARIO-SUBSTRING] [--servers ${SERVERS.join(",")}] [--duration 20] [--warmup 5] [--drain 10] [--rounds 1]
       [--quiet-pct 25] [--quiet-wait 300] [--json-out bench/results/peers.jsonl] [--timeline] [--ws-client raw|bun]
scenarios: ${SCENARIOS.map((s) => `${s.name} (${s.what})`).join("; ")}`);
  process.exit(0);
}
const servers = a.servers!.split(",").map((s) => s.trim()) as ServerName[];
for (const s of servers) if (!SERVERS.includes(s)) throw new Error(`--servers: unknown ${s}; one of ${SERVERS.join(", ")}`);
const scenarios = SCENARIOS.filter((s) => s.name.includes(a.only!));
const quietPct = Number(a["quiet-pct"]);
const quietWait = Number(a["quiet-wait"]);
const rounds = Number(a.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error("--rounds: 1..20");

/** Whole-machine busy % (0–100, all CPUs) over `ms`, from /proc/stat. */
async function busyPct(ms = 3000): Promise<number> {
  const x = sampleMachine();
  await Bun.sleep(ms);
  const y = sampleMachine();
  return Math.round(((y.busy - x.busy) / Math.max(1, y.total - x.total)) * 100);
}

/** Waits (at most `quietWait` s) for the machine to be under `quietPct` % busy, then runs anyway. */
async function waitQuiet(): Promise<{ waited_s: number; busy_pct: number; quiet: boolean }> {
  const begin = performance.now();
  for (;;) {
    const p = await busyPct();
    const waited = Math.round((performance.now() - begin) / 1000);
    if (p < quietPct) return { waited_s: waited, busy_pct: p, quiet: true };
    if (waited >= quietWait) {
      console.error(`[peers] still ${p}% busy after ${waited} s; running anyway (see machine_cpu in the result)`);
      return { waited_s: waited, busy_pct: p, quiet: false };
    }
    console.error(`[peers] machine ${p}% busy, waiting for < ${quietPct}%`);
  }
}

async function start(name: ServerName, bin: string | undefined): Promise<{ server: Server; driver: Driver; metricsUrls: string[] }> {
  switch (name) {
    case "bun-pubsub":
    case "bun-pubsub-300b": {
      const server = await startBunPubSub();
      return { server, driver: bunPubSubDriver(server.base), metricsUrls: [] };
    }
    case "centrifugo": {
      const server = await startCentrifugo(bin!);
      return { server, driver: centrifugoDriver(server.base, server.secret), metricsUrls: [] };
    }
    case "chat": {
      const server = await startStandaloneServer(CHAT_ENV, false);
      return { server, driver: chatDriver({ base: server.base, secret: server.secret, via: "header", setupConcurrency: 16 }), metricsUrls: [`${server.base}/v1/metrics`] };
    }
  }
}

function options(s: (typeof SCENARIOS)[number], server: ServerName): Options {
  const o = parseOptions([], {}, {
    ...s.args,
    duration: a.duration,
    warmup: a.warmup,
    drain: a.drain,
    label: `peers-${s.name}-${server}`,
    timeline: a.timeline ? "true" : "false",
    "ws-client": a["ws-client"],
    ...(server === "bun-pubsub-300b" ? { size: "300" } : {}),
  } as Partial<Record<Name, string>>);
  if (o === "help") throw new Error("unreachable");
  if (server === "chat") o.serverEnv = { ...CHAT_ENV };
  return o;
}

const bin = servers.includes("centrifugo") ? centrifugoBinary() : undefined;
const commit = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"]).stdout.toString().trim();
const runs: { round: number; scenario: string; server: ServerName; quiet: Awaited<ReturnType<typeof waitQuiet>>; result: Result }[] = [];
for (let round = 1; round <= rounds; round++) {
  for (const s of scenarios) {
    // rotated each round, so that no server always runs first (or right after another's backlog)
    const order = servers.map((_, i) => servers[(i + round - 1) % servers.length]!);
    for (const name of order) {
      const quiet = await waitQuiet();
      console.error(`[peers] round ${round}/${rounds}: ${s.name} on ${name} (machine ${quiet.busy_pct}% busy before)`);
      const { server, driver, metricsUrls } = await start(name, bin);
      try {
        const result = await runLoad(options(s, name), { name, procs: [{ name, pid: server.pid! }], metricsUrls, logFile: server.logFile }, driver);
        printSummary(result, a.timeline!);
        runs.push({ round, scenario: s.name, server: name, quiet, result });
      } finally {
        await server.stop();
      }
    }
  }
}

// ---- the table: absolute numbers (medians over the rounds), then ours / peer
const row = (r: Result) => ({
  accepted_per_s: r.accepted_per_s,
  e2e_p50_ms: r.e2e_ms.p50,
  e2e_p99_ms: r.e2e_ms.p99,
  ack_p50_ms: r.ack_ms.p50,
  ack_p99_ms: r.ack_ms.p99,
  deliveries_per_s: r.received_in_window_per_s, // arrivals within the measured window: the sustained rate
  missing: r.missing_deliveries,
  server_closes: Object.values(r.server_closes).reduce((n, x) => n + x, 0),
  server_cpu_pct: r.server[0]?.cpu_pct ?? 0,
  // CPU time per delivered frame: comparable even when the loader, not the server, is the limit
  server_cpu_us_per_delivery: r.received_in_window_per_s > 0 ? Math.round(((r.server[0]?.cpu_pct ?? 0) * 1e4) / r.received_in_window_per_s * 100) / 100 : 0,
  server_rss_mib: r.server[0]?.hwm_mib ?? 0,
  bytes_per_delivery: r.totals.bytes_in_per_delivery ?? 0, // what the loader reads per message frame (acks and pings included)
  loader_cpu_pct: r.loader.cpu_pct,
  loader_lag_p99_ms: r.loader.loop_lag_ms.p99,
  other_cpu_pct: r.machine_cpu.other_processes_pct,
});
type Row = ReturnType<typeof row>;
const median = (xs: number[]) => {
  const v = [...xs].sort((p, q) => p - q);
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : Math.round(((v[m - 1]! + v[m]!) / 2) * 1000) / 1000;
};
const table = scenarios.flatMap((s) =>
  servers.flatMap((server) => {
    const rows = runs.filter((x) => x.scenario === s.name && x.server === server).map((x) => row(x.result));
    if (!rows.length) return [];
    const med = Object.fromEntries(Object.keys(rows[0]!).map((k) => [k, median(rows.map((r) => r[k as keyof Row]))])) as Row;
    return [{ scenario: s.name, server, rounds: rows.length, ...med }];
  }),
);
const ratio = (n: number, d: number) => (d > 0 ? Math.round((n / d) * 100) / 100 : null);
const ratios = scenarios.flatMap((s) => {
  const ours = table.find((r) => r.scenario === s.name && r.server === "chat");
  if (!ours) return [];
  return (["bun-pubsub", "bun-pubsub-300b", "centrifugo"] as const).flatMap((peer) => {
    const p = table.find((r) => r.scenario === s.name && r.server === peer);
    return p ? [{ scenario: s.name, of: `chat / ${peer}`, e2e_p50: ratio(ours.e2e_p50_ms, p.e2e_p50_ms), e2e_p99: ratio(ours.e2e_p99_ms, p.e2e_p99_ms), deliveries_per_s: ratio(ours.deliveries_per_s, p.deliveries_per_s), server_cpu: ratio(ours.server_cpu_pct, p.server_cpu_pct), server_cpu_per_delivery: ratio(ours.server_cpu_us_per_delivery, p.server_cpu_us_per_delivery) }] : [];
  });
});

/** Server closes by code, summed over the rounds (e.g. "1013 ×194"). */
const closes = (scenario: string, server: string) => {
  const by: Record<string, number> = {};
  for (const x of runs) if (x.scenario === scenario && x.server === server) for (const [k, n] of Object.entries(x.result.server_closes)) by[k] = (by[k] ?? 0) + n;
  const parts = Object.entries(by).map(([k, n]) => `${k} ×${n}`);
  return parts.length ? `${parts.join(", ")}${rounds > 1 ? ` (${rounds} rounds)` : ""}` : "0";
};
const fmt = (x: number | null) => (x === null ? "–" : x >= 1000 ? Math.round(x).toLocaleString("en-US") : String(x));
const lines = [
  "",
  `${rounds > 1 ? `medians of ${rounds} rounds; ` : ""}deliveries/s = frames that arrived within the measured window; CPU in % of one core (200 % = the machine)`,
  "",
  "| scenario | server | accepted msg/s | e2e ms p50 / p99 | ack ms p50 / p99 | deliveries/s | missing | server closes |",
  "|---|---|---:|---|---|---:|---:|---|",
  ...table.map((r) => `| ${r.scenario} | ${r.server} | ${fmt(r.accepted_per_s)} | ${fmt(r.e2e_p50_ms)} / ${fmt(r.e2e_p99_ms)} | ${fmt(r.ack_p50_ms)} / ${fmt(r.ack_p99_ms)} | ${fmt(r.deliveries_per_s)} | ${fmt(r.missing)} | ${closes(r.scenario, r.server)} |`),
  "",
  "| scenario | server | server CPU % | server CPU µs / delivery | server peak RSS MiB | bytes read / delivery | loader CPU % (lag p99 ms) | other CPU % |",
  "|---|---|---:|---:|---:|---:|---|---:|",
  ...table.map((r) => `| ${r.scenario} | ${r.server} | ${fmt(r.server_cpu_pct)} | ${fmt(r.server_cpu_us_per_delivery)} | ${fmt(r.server_rss_mib)} | ${fmt(r.bytes_per_delivery)} | ${fmt(r.loader_cpu_pct)} (${fmt(r.loader_lag_p99_ms)}) | ${fmt(r.other_cpu_pct)} |`),
  "",
  "| scenario | ratio | e2e p50 | e2e p99 | deliveries/s | server CPU | server CPU / delivery |",
  "|---|---|---:|---:|---:|---:|---:|",
  ...ratios.map((r) => `| ${r.scenario} | ${r.of} | ${fmt(r.e2e_p50)} | ${fmt(r.e2e_p99)} | ${fmt(r.deliveries_per_s)} | ${fmt(r.server_cpu)} | ${fmt(r.server_cpu_per_delivery)} |`),
  "",
];
console.log(lines.join("\n"));

const out = {
  label: "peers",
  at: new Date().toISOString(),
  commit,
  machine: machine(),
  command: `bun bench/peers.ts ${process.argv.slice(2).join(" ")}`.trim(),
  quiet_pct: quietPct,
  rounds,
  table,
  ratios,
  runs,
};
const line = JSON.stringify(out);
mkdirSync(dirname(a["json-out"]!), { recursive: true });
appendFileSync(a["json-out"]!, line + "\n");
console.log(line);
process.exit(0);
