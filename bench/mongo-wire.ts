#!/usr/bin/env bun
/**
 * The store under the service's own access paths (issue 13): MongoStore (common/src/adapters) on a
 * MongoDB-wire server (FerretDB on SQLite or PostgreSQL, or MongoDB), or the standalone SqliteStore,
 * driven only through the MessageStore / TeamStore ports.
 *
 *   bun bench/mongo-wire.ts --url mongodb://127.0.0.1:27018 --label ferretdb-pg concurrency
 *   bun bench/mongo-wire.ts --url mongodb://127.0.0.1:27018 --label ferretdb-pg history --sizes 10000,100000,1000000
 *   bun bench/mongo-wire.ts --sqlite /tmp/dir --label sqlite-standalone history
 *
 * concurrency: N workers (1, 8, 32) for --seconds each, on a fresh database per run:
 *   batches  — applyBatch of --batch new messages, each worker in its own channel (the consumer's write);
 *   teams    — add a member to the worker's own team: get, applyTeamOp, replace(version), retried on a lost race;
 *   contended — the same on ONE team shared by all workers: the conditional replace under contention.
 *   After each team run, every team's version and member count must equal its successful replaces
 *   (a lost update fails the run: exit 1).
 * history: one channel grown to each size (insertMany, --load-parallel inserters, bounded by
 *   --load-deadline seconds in all), then history() pages of 50 as a member: the first page and a deep
 *   one (before = seq 1001, the oldest thousand); the median of --reps runs (fewer if one page alone
 *   takes longer than --page-budget seconds). Then the consumer's write at that size: applyBatch of
 *   --batch new keyed messages (spread over the 1000 other channels, above their seqs), the median
 *   of up to 200 batches. With --spread the paged channel holds 2000 messages and
 *   the rest of each size is spread over 1000 other channels (the collection grows, the channel not).
 * Prints a table and one JSON line per result. Every loop is bounded by a count and a deadline.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Sequenced } from "../common/src/lifecycle-apply";
import { MongoStore } from "../common/src/adapters/mongo-store";
import { SqliteStore } from "../common/src/adapters/sqlite-store";
import { objectId } from "../common/src/ids";
import type { Logger } from "../common/src/log";
import type { StoredMessage } from "../common/src/message";
import type { MessageStore, StoreEntry, TeamStore } from "../common/src/ports";
import { newTeam } from "../common/src/teams";
import { changeTeam, createTeam } from "../common/src/membership";
import { AppError } from "../common/src/errors";

const { values: o, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: {
    url: { type: "string" },
    sqlite: { type: "string" },
    label: { type: "string", default: "" },
    concurrency: { type: "string", default: "1,8,32" },
    seconds: { type: "string", default: "6" },
    batch: { type: "string", default: "10" },
    sizes: { type: "string", default: "10000,100000,1000000" },
    "load-parallel": { type: "string", default: "4" },
    "load-deadline": { type: "string", default: "600" },
    reps: { type: "string", default: "5" },
    "page-budget": { type: "string", default: "20" },
    keep: { type: "boolean", default: false },
    spread: { type: "boolean", default: false },
  },
});
const mode = positionals[0];
if ((mode !== "concurrency" && mode !== "history") || !!o.url === !!o.sqlite) {
  console.error("usage: bun bench/mongo-wire.ts (--url mongodb://... | --sqlite DIR) [--label L] concurrency|history [options]; see the header");
  process.exit(2);
}
const num = (s: string | undefined) => {
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`not a positive number: ${s}`);
  return n;
};
const label = o.label || (o.url ? "mongo-wire" : "sqlite");
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
type Store = MessageStore & TeamStore;

/** A fresh store: its own database (dropped at close unless --keep), or a fresh SQLite dir. */
async function open(): Promise<{ store: Store; done: () => Promise<void> }> {
  if (o.url) {
    const url = new URL(o.url);
    if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) throw new Error("loopback servers only");
    const store = await MongoStore.connect({ url: o.url, db: `bench_${objectId()}` }, quiet, { maxPoolSize: 64 });
    return {
      store,
      done: async () => {
        if (!o.keep) await store.db.dropDatabase().catch(() => undefined);
        await store.close();
      },
    };
  }
  const dir = mkdtempSync(join(o.sqlite!, "mongo-wire-"));
  const store = new SqliteStore(dir);
  return {
    store,
    done: async () => {
      await store.close();
      if (!o.keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}

const msg = (channel: string, seq: number, from = "a@x.dev"): StoredMessage => ({
  id: objectId(),
  channel_id: channel,
  seq,
  from,
  to: "*",
  type: "text",
  data: `message ${seq} ${"lorem ipsum ".repeat(4)}`,
  ts: new Date().toISOString(),
});

function emit(result: Record<string, unknown>) {
  console.log(JSON.stringify({ bench: "mongo-wire", label, ...result }));
}

/** Runs `op` in `n` workers until the deadline; returns completed ops and the elapsed seconds. */
async function closedLoop(n: number, seconds: number, op: (worker: number) => Promise<void>) {
  let ops = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: n }, async (_, w) => {
      for (let i = 0; i < 10_000_000 && performance.now() < end; i++) {
        await op(w);
        ops++;
      }
    }),
  );
  return { ops, secs: (performance.now() - t0) / 1000 };
}

async function concurrency() {
  const seconds = num(o.seconds);
  const batch = num(o.batch);
  let failed = false;
  const rows: string[] = [];
  for (const n of o.concurrency.split(",").map(num)) {
    // batches: the consumer's write of a batch of new messages, one channel per worker
    {
      const { store, done } = await open();
      const seqs = Array.from({ length: n }, () => 0);
      const channels = Array.from({ length: n }, () => objectId());
      const r = await closedLoop(n, seconds, async (w) => {
        const entries: Sequenced<StoreEntry>[] = Array.from({ length: batch }, () => {
          const m = msg(channels[w]!, ++seqs[w]!);
          const { seq, ...rest } = m;
          return { seq, entry: { kind: "message" as const, ...rest } };
        });
        await store.applyBatch(entries);
      });
      await done();
      rows.push(`batches   c=${String(n).padStart(2)}  ${(r.ops / r.secs).toFixed(1).padStart(8)} batches/s  ${((r.ops * batch) / r.secs).toFixed(0).padStart(7)} msg/s`);
      emit({ test: "applyBatch", concurrency: n, batch, ops: r.ops, secs: r.secs, ops_per_s: r.ops / r.secs, msgs_per_s: (r.ops * batch) / r.secs });
    }
    // teams (own team per worker) and contended (one shared team): the add-member path
    for (const shared of [false, true]) {
      const { store, done } = await open();
      const owner = "owner@x.dev";
      const teams = Array.from({ length: shared ? 1 : n }, () => newTeam(objectId(), owner, { name: "Bench" }));
      for (const t of teams) await createTeam(store, t);
      const wins = teams.map(() => 0);
      let conflicts = 0;
      let counter = 0;
      const r = await closedLoop(n, seconds, async (w) => {
        const k = shared ? 0 : w;
        const user = `u${w}-${counter++}@x.dev`;
        // changeTeam retries a lost race itself (16 times); past that it answers unavailable.
        for (let attempt = 0; attempt < 100; attempt++) {
          try {
            await changeTeam(store, teams[k]!.id, owner, { op: "add_member", user });
            return void wins[k]!++;
          } catch (err) {
            if (!(err instanceof AppError && err.code === "unavailable")) throw err;
            conflicts++;
          }
        }
        throw new Error("100 × 16 lost races in a row");
      });
      let lost = 0;
      for (const [k, t] of teams.entries()) {
        const s = (await store.get(t.id))!;
        if (s.version !== t.version + wins[k]! || s.member_count !== t.member_count + wins[k]!) lost++;
      }
      await done();
      const test = shared ? "contended" : "teams";
      if (lost) failed = true;
      rows.push(
        `${test.padEnd(9)} c=${String(n).padStart(2)}  ${(r.ops / r.secs).toFixed(1).padStart(8)} updates/s  conflicts ${conflicts}${lost ? `  LOST UPDATES in ${lost} team(s)` : ""}`,
      );
      emit({ test, concurrency: n, ops: r.ops, secs: r.secs, ops_per_s: r.ops / r.secs, conflicts, teams_with_lost_updates: lost });
    }
  }
  console.log(`\n${label}: concurrency (${seconds}s per row)\n${rows.join("\n")}`);
  if (failed) {
    console.error("lost updates: a team's version/member count does not match its successful replaces");
    process.exit(1);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function history() {
  const sizes = o.sizes.split(",").map(num).sort((a, b) => a - b);
  const parallel = num(o["load-parallel"]);
  const loadEnd = performance.now() + num(o["load-deadline"]) * 1000;
  const reps = num(o.reps);
  const budget = num(o["page-budget"]) * 1000;
  const { store, done } = await open();
  const ch = objectId();
  const others = Array.from({ length: 1000 }, () => objectId());
  const spread = o.spread ? 2000 : Infinity; // messages in the paged channel; the rest go to `others`
  const viewer = "b@x.dev"; // a member who did not send: sees `to: "*"` messages
  const batch = num(o.batch);
  let writeSeq = 0;
  /** The consumer's write of `batch` new keyed messages, median ms of up to 200 (within the page budget). */
  const write = async () => {
    const times: number[] = [];
    const tEnd = performance.now() + budget;
    for (let i = 0; i < 200 && (i < 5 || performance.now() < tEnd); i++) {
      const entries: Sequenced<StoreEntry>[] = Array.from({ length: batch }, () => {
        writeSeq++;
        const { seq, ...rest } = msg(others[writeSeq % others.length]!, 1e9 + writeSeq);
        return { seq, entry: { kind: "message" as const, ...rest, client_msg_id: `k${seq}` } };
      });
      const t = performance.now();
      await store.applyBatch(entries);
      times.push(performance.now() - t);
    }
    return median(times);
  };
  let loaded = 0;
  const rows: string[] = [];
  try {
    for (const size of sizes) {
      const t0 = performance.now();
      let next = loaded;
      const chunk = 1000;
      await Promise.all(
        Array.from({ length: parallel }, async () => {
          while (next < size && performance.now() < loadEnd) {
            const from = next;
            const to = Math.min(size, from + chunk);
            next = to;
            await store.insertMany(
              Array.from({ length: to - from }, (_, i) => {
                const n = from + i; // 0-based position in the load order
                return n < spread ? msg(ch, n + 1) : msg(others[n % others.length]!, Math.floor(n / others.length) + 1);
              }),
            );
            loaded += to - from;
          }
        }),
      );
      const loadSecs = (performance.now() - t0) / 1000;
      if (loaded < size) {
        rows.push(`${String(size).padStart(8)}: load deadline reached at ${loaded} messages; stopped`);
        emit({ test: "history-load", size, loaded, stopped: "load deadline" });
        break;
      }
      const page = async (before: number | undefined) => {
        const times: number[] = [];
        const tEnd = performance.now() + budget;
        for (let i = 0; i < reps && (i === 0 || performance.now() < tEnd); i++) {
          const t = performance.now();
          const got = await store.history(ch, viewer, { limit: 50, ...(before === undefined ? {} : { before }) });
          times.push(performance.now() - t);
          const top = before === undefined ? Math.min(size, spread) : before - 1;
          if (got.length !== 50 || got[0]!.seq !== top || got[49]!.seq !== top - 49) throw new Error(`wrong page at ${size} before=${before}: ${got.length} ${got[0]?.seq}`);
        }
        return { ms: median(times), runs: times.length };
      };
      const first = await page(undefined);
      const deep = await page(1001);
      const writeMs = await write();
      rows.push(
        `${String(size).padStart(8)}  first ${first.ms.toFixed(1).padStart(9)} ms  deep ${deep.ms.toFixed(1).padStart(9)} ms  write ${batch} ${writeMs.toFixed(2).padStart(7)} ms  (runs ${first.runs}/${deep.runs}; loaded +${size - (sizes[sizes.indexOf(size) - 1] ?? 0)} in ${loadSecs.toFixed(0)} s)`,
      );
      emit({ test: o.spread ? "history-spread" : "history", size, first_ms: first.ms, deep_ms: deep.ms, runs: [first.runs, deep.runs], load_secs: loadSecs, batch, write_ms: writeMs });
    }
  } finally {
    await done();
  }
  const what = o.spread ? "messages in the collection (the paged channel: 2000)" : "messages in the channel";
  console.log(`\n${label}: history page (50, as a member) by ${what}\n${rows.join("\n")}`);
}

if (mode === "concurrency") await concurrency();
else await history();
process.exit(0);
