/**
 * Soak: mixed load with connection churn on the distributed stack for a while, sampling RSS, open
 * file descriptors and event-loop lag (the latency of /v1/health, which waits for the loop) of every
 * process, and failing if any grows without bound (last quarter well above the second quarter).
 *
 *   eval "$(DIST_PORT_OFFSET=500 INFRA_STATE=/tmp/x scripts/dist.sh start)"
 *   DIST_PORT_OFFSET=500 INFRA_STATE=/tmp/x bun bench/soak.ts [--minutes=10]
 * Load: SOAK_TEAMS teams x SOAK_USERS members on both relays sending SOAK_RATE msg/s each (some DMs,
 * edits, reactions), SOAK_CHURN sockets per second closed and reopened with ?since, SOAK_HISTORY history
 * reads per second (at most 5).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { signDevToken } from "@chat/common/auth";
import { machine, sampleProc } from "./lib/sys";

const arg = (name: string, def: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? def);
const MINUTES = arg("minutes", 10);
const O = Number(process.env.DIST_PORT_OFFSET ?? 0);
const STATE = process.env.INFRA_STATE ?? "/tmp/chat-infra";
const TEAMS = Number(process.env.SOAK_TEAMS ?? 20);
const USERS = Number(process.env.SOAK_USERS ?? 10);
const RATE = Number(process.env.SOAK_RATE ?? 0.5);
const CHURN = Number(process.env.SOAK_CHURN ?? 5);
const HISTORY = Number(process.env.SOAK_HISTORY ?? 5); // history reads per second
const BASE = `http://127.0.0.1:${8088 + O}`;
const RELAYS = [8181 + O, 8182 + O];
const secret = process.env.AUTH_JWT_SECRET ?? readFileSync(join(STATE, "dist", "jwt"), "utf8").trim();

/** Every process of the stack: pid file, and where its /v1/health answers (Bun services only). */
const PROCS: { name: string; pidFile: string; health?: string }[] = [
  { name: "relay1", pidFile: "dist/relay1.pid", health: `http://127.0.0.1:${8181 + O}/v1/health` },
  { name: "relay2", pidFile: "dist/relay2.pid", health: `http://127.0.0.1:${8182 + O}/v1/health` },
  { name: "controller1", pidFile: "dist/controller1.pid", health: `http://127.0.0.1:${9051 + O}/v1/health` },
  { name: "controller2", pidFile: "dist/controller2.pid", health: `http://127.0.0.1:${9052 + O}/v1/health` },
  { name: "management", pidFile: "dist/management.pid", health: `http://127.0.0.1:${8190 + O}/v1/health` },
  { name: "kafka", pidFile: "kafka/kafka.pid" },
  { name: "ferretdb", pidFile: "ferretdb/ferretdb.pid" },
  { name: "versitygw", pidFile: "versitygw/versitygw.pid" },
  { name: "nginx", pidFile: "nginx/nginx.pid" },
];
const pidOf = (f: string) => Number(readFileSync(join(STATE, f), "utf8").trim());
const fds = (pid: number) => {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
};
async function lagMs(url: string): Promise<number> {
  const t0 = performance.now();
  try {
    await fetch(url, { signal: AbortSignal.timeout(5000) }).then((r) => r.text());
  } catch {
    return NaN;
  }
  return performance.now() - t0;
}

async function api(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(BASE + path, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, body: (await res.json().catch(() => undefined)) as any };
}

const stats = { sent: 0, acked: 0, errors: 0, reconnects: 0, history: 0, ops: 0, delivered: 0 };

class Sock {
  ws: WebSocket | undefined;
  lastSeq = 0;
  n = 0;
  constructor(
    readonly user: string,
    readonly team: string,
    readonly peers: string[],
    readonly relay: number,
  ) {}
  async open(): Promise<void> {
    const since = this.lastSeq ? `?since=${this.team}:${this.lastSeq}` : "";
    const ws = new WebSocket(`ws://127.0.0.1:${RELAYS[this.relay]}/v1/ws${since}`, { headers: { authorization: `Bearer ${await signDevToken(secret, this.user)}` } } as any);
    await new Promise<void>((resolve, reject) => {
      ws.onmessage = (e) => {
        const f = JSON.parse(String(e.data));
        if (f.event === "ready") resolve();
        else if (f.event === "ack") {
          stats.acked++;
          if (f.id && Math.random() < 0.1) this.op(f.id);
        } else if (f.event === "error") stats.errors++;
        else if (f.event === "message") {
          stats.delivered++;
          if (f.channel_id === this.team) this.lastSeq = Math.max(this.lastSeq, f.seq);
        }
      };
      ws.onclose = () => reject(new Error("closed"));
      ws.onerror = () => undefined;
    });
    this.ws = ws;
  }
  send(): void {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    const dm = Math.random() < 0.2;
    const to = dm ? this.peers[Math.floor(Math.random() * this.peers.length)]! : "*";
    this.ws.send(JSON.stringify({ channel_id: this.team, to, type: "text", data: `soak ${++this.n} ${"x".repeat(Math.floor(Math.random() * 200))}`, client_msg_id: `${this.user}-${this.n}` }));
    stats.sent++;
  }
  /** An edit or a reaction on one of our own messages. */
  op(id: string): void {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    const edit = Math.random() < 0.5;
    this.ws.send(JSON.stringify(edit ? { op: "edit", channel_id: this.team, id, data: "edited", client_msg_id: `e-${id}` } : { op: "react", channel_id: this.team, id, emoji: "👍", on: true, client_msg_id: `r-${id}` }));
    stats.ops++;
  }
  async churn(): Promise<void> {
    const ws = this.ws;
    this.ws = undefined;
    ws?.close();
    stats.reconnects++;
    await this.open().catch(() => undefined);
  }
}

async function main() {
  const socks: Sock[] = [];
  const stamp = Date.now().toString(36);
  for (let t = 0; t < TEAMS; t++) {
    const users = Array.from({ length: USERS }, (_, i) => `soak-${stamp}-${t}-${i}@soak.dev`);
    const owner = await signDevToken(secret, users[0]!);
    const team = (await api("POST", "/v1/teams", owner, { name: `soak ${t}` })).body.data.id as string;
    for (const u of users.slice(1)) await api("POST", `/v1/teams/${team}/members`, owner, { user_id: u });
    users.forEach((u, i) => socks.push(new Sock(u, team, users.filter((x) => x !== u), (t + i) % 2)));
  }
  await Promise.all(socks.map((s) => s.open()));
  console.error(`soak: ${socks.length} sockets in ${TEAMS} teams, ${(socks.length * RATE).toFixed(0)} msg/s, ${CHURN} reconnects/s, ${MINUTES} min`);

  const timers = [
    setInterval(() => {
      for (const s of socks) if (Math.random() < RATE / 10) s.send();
    }, 100),
    setInterval(() => {
      // CHURN per second on average, fractions included (a loop to CHURN / 10 made any rate under 10 a rate of 10).
      for (let k = CHURN / 10; k > 0; k--) if (k >= 1 || Math.random() < k) void socks[Math.floor(Math.random() * socks.length)]!.churn();
    }, 100),
    setInterval(async () => {
      if (Math.random() >= HISTORY / 5) return;
      const s = socks[Math.floor(Math.random() * socks.length)]!;
      await api("GET", `/v1/teams/${s.team}/messages?limit=50`, await signDevToken(secret, s.user)).catch(() => undefined);
      stats.history++;
    }, 200),
  ];

  type Sample = { t: number; rssMiB: number; fds: number; lagMs: number };
  const samples = new Map<string, Sample[]>(PROCS.map((p) => [p.name, []]));
  const t0 = Date.now();
  const end = t0 + MINUTES * 60_000;
  while (Date.now() < end) {
    await Promise.all(
      PROCS.map(async (p) => {
        const pid = pidOf(p.pidFile);
        const proc = sampleProc(pid);
        samples.get(p.name)!.push({ t: (Date.now() - t0) / 1000, rssMiB: (proc?.rssKiB ?? NaN) / 1024, fds: fds(pid), lagMs: p.health ? await lagMs(p.health) : NaN });
      }),
    );
    await Bun.sleep(5000);
    const m = (Date.now() - t0) / 60_000;
    console.error(`  ${m.toFixed(1)} min  sent ${stats.sent} acked ${stats.acked} errors ${stats.errors} reconnects ${stats.reconnects}`);
  }
  for (const t of timers) clearInterval(t);
  for (const s of socks) s.ws?.close();

  const quarter = (xs: Sample[], q: number, k: keyof Sample) => {
    const part = xs.slice(Math.floor((xs.length * q) / 4), Math.floor((xs.length * (q + 1)) / 4)).map((x) => x[k]).filter((v) => !Number.isNaN(v));
    return part.length ? part.reduce((a, b) => a + b, 0) / part.length : NaN;
  };
  const max = (xs: number[]) => Math.max(...xs.filter((v) => !Number.isNaN(v)));
  const p99 = (xs: number[]) => {
    const s = xs.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
    return s.length ? s[Math.floor(s.length * 0.99)]! : NaN;
  };
  let bounded = true;
  const rows = PROCS.map((p) => {
    const xs = samples.get(p.name)!;
    const [rss2, rss4, fd2, fd4] = [quarter(xs, 1, "rssMiB"), quarter(xs, 3, "rssMiB"), quarter(xs, 1, "fds"), quarter(xs, 3, "fds")];
    // Bounded: the last quarter's mean within 25% (+16 MiB / +16 fds of slack) of the second quarter's.
    const ok = rss4 <= rss2 * 1.25 + 16 && fd4 <= fd2 * 1.25 + 16;
    bounded &&= ok;
    const lags = xs.map((x) => x.lagMs);
    return `| ${p.name} | ${xs[0]?.rssMiB.toFixed(0)} | ${rss2.toFixed(0)} | ${rss4.toFixed(0)} | ${max(xs.map((x) => x.rssMiB)).toFixed(0)} | ${xs[0]?.fds} | ${fd2.toFixed(0)} | ${fd4.toFixed(0)} | ${p.health ? `${quarter(xs, 3, "lagMs").toFixed(1)} / ${p99(lags).toFixed(1)} / ${max(lags).toFixed(1)}` : "—"} | ${ok ? "bounded" : "GROWING"} |`;
  });
  console.log(`\nSoak ${MINUTES} min: ${socks.length} sockets in ${TEAMS} teams; sent ${stats.sent}, acked ${stats.acked}, errors ${stats.errors}, delivered ${stats.delivered}, reconnects ${stats.reconnects}, edits/reactions ${stats.ops}, history reads ${stats.history}`);
  console.log(`machine: ${JSON.stringify(machine())}\n`);
  console.log("| process | RSS MiB start | RSS MiB Q2 mean | RSS MiB Q4 mean | RSS MiB max | fds start | fds Q2 | fds Q4 | /v1/health ms Q4 mean / p99 / max | verdict |");
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) console.log(r);
  process.exit(bounded ? 0 : 1);
}

await main();
