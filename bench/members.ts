// Growth: members (issue 13). On a fresh standalone server: one team grown to each size (bulk rows
// written straight into the server's SQLite store, which it opens in WAL mode), then over REST:
// add and remove a member (p50/p99), GET /v1/teams/:id (bytes, time), a members page (time).
//   bun bench/members.ts [--sizes 1000,10000,100000] [--ops 200]
// --chat N adds a chat phase per size (each size then on a fresh server of its own): N of the team's
// members connect through the load harness (lib/harness.ts, `--team <id> --users m{n}@bench.dev`,
// no REST setup) and broadcast --rate msg/s in total for --duration s after --warmup s; then the same
// phase against a plain N-member team made by load.ts's usual REST setup, on a fresh server, for the ratio.
//   bun bench/members.ts --sizes 1000,100000 --ops 50 --chat 1000 [--rate 200 --duration 15 --warmup 5] [--json-out bench/results/members.jsonl]
import { appendFileSync } from "node:fs";
import { SqliteStore } from "@chat/common/adapters/sqlite-store";
import { signDevToken } from "@chat/common/auth";
import { getTeam } from "@chat/common/membership";
import { chatDriver } from "./lib/drivers/chat";
import { printSummary, runLoad, type Result } from "./lib/harness";
import { parseOptions, type Options } from "./lib/options";
import { startStandaloneServer, type Server } from "./lib/standalone";
import { run as runPlain } from "./load";

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const SIZES = arg("sizes", "1000,10000,100000").split(",").map(Number);
const OPS = Number(arg("ops", "200"));
const CHAT = Number(arg("chat", "0"));
const RATE = arg("rate", "200");
const DURATION = arg("duration", "15");
const WARMUP = arg("warmup", "5");
const JSON_OUT = arg("json-out", "");
if (CHAT > 0 && SIZES.some((n) => n < CHAT)) throw new Error(`--chat ${CHAT}: no size may be smaller (members m0 … m${CHAT - 1} connect)`);

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const ms = (x: number) => x.toFixed(2);

const SERVER_ENV = { LIMIT_RATE_PER_SEC: "100000", LIMIT_RATE_BURST: "100000", LIMIT_REST_PER_SEC: "100000", LIMIT_REST_BURST: "100000", LOG_LEVEL: "warn" };

/** The load harness's options for the chat phase (`extra`: how the team is found or made). */
const chatOptions = (label: string, extra: string[]): Options =>
  parseOptions(
    [...extra, "--members", String(CHAT), "--rate", RATE, "--duration", DURATION, "--warmup", WARMUP, "--label", label, ...Object.entries(SERVER_ENV).flatMap(([k, v]) => ["--server-env", `${k}=${v}`])],
    {},
  ) as Options;

/** Bulk seed, then the REST measures; returns the table row and the team's id. */
async function grow(server: Server, store: SqliteStore, size: number): Promise<{ row: string; id: string }> {
  // The members are m0 … m<size-1>: the last is the owner, who creates the team; the rest are bulk rows.
  const owner = `m${size - 1}@bench.dev`;
  const auth = { authorization: `Bearer ${await signDevToken(server.secret, owner)}`, "content-type": "application/json" };
  const call = async (method: string, path: string, body?: unknown) => {
    const t0 = performance.now();
    const r = await fetch(server.base + path, { method, headers: auth, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, text, ms: performance.now() - t0 };
  };
  const created = await call("POST", "/v1/teams", { name: `Bench ${size}` });
  const id = JSON.parse(created.text).data.id as string;
  // Bulk: size - 1 rows beside the owner's, then the header's member_count in one conditional write.
  const t0 = performance.now();
  for (let i = 0; i < size - 1; i += 10_000) {
    const batch = Array.from({ length: Math.min(10_000, size - 1 - i) }, (_, j) => ({ user: `m${i + j}@bench.dev`, role: "user" as const }));
    await store.writeRows(id, 1, batch);
  }
  const team = (await getTeam(store, id))!;
  if (!(await store.commit({ ...team, member_count: size, version: team.version + 1 }, team.version))) throw new Error("seed raced");
  const seedMs = performance.now() - t0;
  const add: number[] = [];
  const remove: number[] = [];
  for (let i = 0; i < OPS; i++) {
    const user = `x${i}-${size}@bench.dev`;
    const a = await call("POST", `/v1/teams/${id}/members`, { user_id: user });
    if (a.status !== 201) throw new Error(`add: ${a.status} ${a.text}`);
    add.push(a.ms);
    const d = await call("DELETE", `/v1/teams/${id}/members/${encodeURIComponent(user)}`);
    if (d.status !== 200) throw new Error(`remove: ${d.status} ${d.text}`);
    remove.push(d.ms);
  }
  const gets: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 50; i++) {
    const g = await call("GET", `/v1/teams/${id}`);
    gets.push(g.ms);
    bytes = Buffer.byteLength(g.text);
  }
  const pages: number[] = [];
  for (let i = 0; i < 50; i++) pages.push((await call("GET", `/v1/teams/${id}/members?limit=100&cursor=${encodeURIComponent(`m${(i * 997) % size}@bench.dev`)}`)).ms);
  const row = `| ${size.toLocaleString("en")} | ${ms(pct(add, 50))} / ${ms(pct(add, 99))} | ${ms(pct(remove, 50))} / ${ms(pct(remove, 99))} | ${bytes.toLocaleString("en")} B, ${ms(pct(gets, 50))} | ${ms(pct(pages, 50))} | ${(seedMs / 1000).toFixed(1)} s |`;
  return { row, id };
}

/** The chat phase in team `id` (already grown on `server`) through the load harness. */
async function chat(server: Server, id: string, size: number): Promise<Result> {
  const o = chatOptions(`members-${size}-chat-${CHAT}-r${RATE}`, ["--team", id, "--users", "m{n}@bench.dev"]);
  const target = { name: "standalone", procs: [{ name: "standalone", pid: server.pid! }], metricsUrls: [`${server.base}/v1/metrics`], logFile: server.logFile };
  const r = await runLoad(o, target, chatDriver({ base: server.base, secret: server.secret, via: o.via, setupConcurrency: 1, existing: { team: id, users: o.users! } }));
  printSummary(r, false);
  const line = JSON.stringify({ ...r, team_members: size });
  console.log(line);
  if (JSON_OUT) appendFileSync(JSON_OUT, line + "\n");
  return r;
}

const rows: string[] = [];
const chats: { size: number | string; r: Result }[] = [];
const once = async (sizes: number[]) => {
  const server = await startStandaloneServer(SERVER_ENV, false);
  const store = new SqliteStore(server.dataDir!);
  try {
    for (const size of sizes) {
      const { row, id } = await grow(server, store, size);
      console.log(row);
      rows.push(row);
      if (CHAT > 0) chats.push({ size, r: await chat(server, id, size) });
    }
  } finally {
    await store.close();
    await server.stop();
  }
};
// Without a chat phase the sizes share one server; with it each size gets a fresh one, so that
// server RSS before and after connecting compares like with like.
if (CHAT > 0) for (const size of SIZES) await once([size]);
else await once(SIZES);
if (CHAT > 0) {
  const o = chatOptions(`plain-1x${CHAT}-chat-r${RATE}`, ["--teams", "1", ...(JSON_OUT ? ["--json-out", JSON_OUT] : [])]);
  const r = await runPlain(o);
  chats.push({ size: `${CHAT} (REST setup)`, r });
}

console.log("\n| members | add p50 / p99 ms | remove p50 / p99 ms | GET /v1/teams/:id size, p50 ms | members page (100) p50 ms | bulk seed |\n|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
if (chats.length) {
  const f = (x: number | null | undefined) => (x === null || x === undefined ? "—" : x.toLocaleString("en"));
  const l = (h: Result["ack_ms"]) => [h.p50, h.p95, h.p99].map((x) => Number(x.toPrecision(3)).toLocaleString("en")).join(" / ");
  console.log(
    `\n| team members | connected | accepted msg/s | ack p50 / p95 / p99 ms | send→delivery p50 / p95 / p99 ms | deliveries/s | missing | server RSS before → after connecting MiB (KiB/socket) | end MiB | server CPU % | loader CPU % (lag p99 / max ms) | other CPU % |\n|---|---|---|---|---|---|---|---|---|---|---|---|`,
  );
  for (const { size, r } of chats) {
    const s = r.server[0]!;
    console.log(
      `| ${typeof size === "number" ? size.toLocaleString("en") : size} | ${r.connect.ready} | ${f(r.accepted_per_s)} | ${l(r.ack_ms)} | ${l(r.e2e_ms)} | ${f(r.deliveries_per_s)} | ${f(r.missing_deliveries)} | ${s.rss_mib_setup} → ${s.rss_mib_connected} (${s.rss_kib_per_socket}) | ${s.rss_mib_end} | ${s.cpu_pct} | ${r.loader.cpu_pct} (${r.loader.loop_lag_ms.p99} / ${r.loader.loop_lag_ms.max}) | ${r.machine_cpu.other_processes_pct} |`,
    );
  }
  const plain = chats[chats.length - 1]!.r;
  const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b ? (a / b).toFixed(2) : "—");
  for (const { size, r } of chats.slice(0, -1)) {
    const d = (x: Result) => (x.server[0]!.rss_mib_connected ?? 0) - (x.server[0]!.rss_mib_setup ?? 0);
    console.log(
      `ratio ${size.toLocaleString("en")}-member team / plain: e2e p50 ${ratio(r.e2e_ms.p50, plain.e2e_ms.p50)}, p99 ${ratio(r.e2e_ms.p99, plain.e2e_ms.p99)}, ack p50 ${ratio(r.ack_ms.p50, plain.ack_ms.p50)}, RSS added by connecting ${ratio(d(r), d(plain))}, RSS after connecting ${ratio(r.server[0]!.rss_mib_connected, plain.server[0]!.rss_mib_connected)}`,
    );
  }
}
process.exit(0);
