// Growth: members (issue 13). On a fresh standalone server: one team grown to each size (bulk rows
// written straight into the server's SQLite store, which it opens in WAL mode), then over REST:
// add and remove a member (p50/p99), GET /v1/teams/:id (bytes, time), a members page (time).
//   bun bench/members.ts [--sizes 1000,10000,100000] [--ops 200]
import { SqliteStore } from "@chat/common/adapters/sqlite-store";
import { signDevToken } from "@chat/common/auth";
import { getTeam } from "@chat/common/membership";
import { startStandaloneServer } from "./lib/standalone";

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const SIZES = arg("sizes", "1000,10000,100000").split(",").map(Number);
const OPS = Number(arg("ops", "200"));

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const ms = (x: number) => x.toFixed(2);

const server = await startStandaloneServer({ LIMIT_RATE_PER_SEC: "100000", LIMIT_RATE_BURST: "100000", LIMIT_REST_PER_SEC: "100000", LIMIT_REST_BURST: "100000", LOG_LEVEL: "warn" }, false);
const owner = "owner@bench.dev";
const auth = { authorization: `Bearer ${await signDevToken(server.secret, owner)}`, "content-type": "application/json" };
const call = async (method: string, path: string, body?: unknown) => {
  const t0 = performance.now();
  const r = await fetch(server.base + path, { method, headers: auth, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, text, ms: performance.now() - t0 };
};
const store = new SqliteStore(server.dataDir!);
const rows: string[] = [];
try {
  for (const size of SIZES) {
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
    console.log(row);
    rows.push(row);
  }
} finally {
  await store.close();
  await server.stop();
}
console.log("\n| members | add p50 / p99 ms | remove p50 / p99 ms | GET /v1/teams/:id size, p50 ms | members page (100) p50 ms | bulk seed |\n|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
