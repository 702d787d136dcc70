/**
 * Presence and typing load (PROTOCOL section 10), not a test: prints a summary and one JSON line.
 *
 *   bun bench/presence.ts                                   # its own standalone server
 *   AUTH_JWT_SECRET=... bun bench/presence.ts --url http://127.0.0.1:8388 \
 *       --relays http://127.0.0.1:8481,http://127.0.0.1:8482 --pids relay1:PID,relay2:PID,controller1:PID,controller2:PID
 *
 * Phases: setup (teams × members over REST), connect in waves, a reconnect wave within the grace,
 * disconnect in waves (presence frames per second, CPU of each server process per phase), then
 * typing at --typing-rate ops/s (DMs, so every op has one recipient; latency from the typist's send
 * to the recipient's frame, one process, one clock) and a broadcast typing run at --typing-bcast ops/s.
 */
import { signDevToken } from "@chat/common/auth";
import { Histogram } from "./lib/hist";
import { startStandaloneServer } from "./lib/standalone";
import { CLK_TCK, machine, sampleMachine, sampleProc } from "./lib/sys";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "");
const num = (k: string, d: number) => Number(args.get(k) ?? d);
const TEAMS = num("teams", 10);
const MEMBERS = num("members", 1000);
const WAVES = num("waves", 5);
const WAVE_GAP_MS = num("wave-gap-ms", 2000);
const TYPING_RATE = num("typing-rate", 1000);
const TYPING_SECONDS = num("typing-seconds", 10);
const TYPING_BCAST = num("typing-bcast", 20);

let base = args.get("url") ?? "";
let secret = process.env.AUTH_JWT_SECRET ?? "";
const pids = new Map<string, number>();
for (const kv of (args.get("pids") ?? "").split(",").filter(Boolean)) pids.set(kv.split(":")[0]!, Number(kv.split(":")[1]));
let server: Awaited<ReturnType<typeof startStandaloneServer>> | undefined;
if (!base) {
  server = await startStandaloneServer({ LIMIT_REST_PER_SEC: "100000", LIMIT_REST_BURST: "100000", LOG_LEVEL: "warn" }, false);
  base = server.base;
  secret = server.secret;
  pids.set("standalone", server.pid!);
}
if (!/^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?$/.test(base)) throw new Error("loopback targets only");
const relays = (args.get("relays") ?? base).split(",");
const run = Date.now().toString(36);
const user = (t: number, m: number) => `p${run}-t${t}-u${m}@bench.dev`;
const tokens = new Map<string, string>();
const token = async (u: string) => tokens.get(u) ?? (tokens.set(u, await signDevToken(secret, u, 3600)), tokens.get(u)!);

async function rest(method: string, path: string, as: string, body?: unknown) {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(base + path, { method, headers: { authorization: `Bearer ${await token(as)}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    if (r.status === 429 && attempt < 50) {
      await Bun.sleep(Number(r.headers.get("retry-after") ?? 1) * 1000);
      continue;
    }
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return (await r.json()) as any;
  }
}

// ---------------------------------------------------------------- setup
const t0 = performance.now();
const teams: string[] = await Promise.all(
  Array.from({ length: TEAMS }, async (_, t) => {
    const id = (await rest("POST", "/v1/teams", user(t, 0), { name: `presence ${t}` })).data.id as string;
    const next = { m: 1 };
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next.m < MEMBERS) await rest("POST", `/v1/teams/${id}/members`, user(t, 0), { user_id: user(t, next.m++) });
    }));
    return id;
  }),
);
console.error(`setup: ${TEAMS} teams × ${MEMBERS} members in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

// ---------------------------------------------------------------- sockets
interface Sock {
  ws: WebSocket;
  team: number;
  m: number;
  open: boolean;
}
const sockets: Sock[] = [];
let presenceFrames = 0;
let presenceEntries = 0;
const presenceBySecond = new Map<number, number>();
let typingLatency = new Histogram();
let typingReceived = 0;
/** `${channel}\n${typist}` → send time (µs) of the typing op that the receivers should see. */
const typingSent = new Map<string, number>();
let phase = "connect";
const perSocketMax = { frames: 0 };

function connect(team: number, m: number): Promise<Sock> {
  return new Promise(async (resolve, reject) => {
    const relay = relays[(team * MEMBERS + m) % relays.length]!;
    const ws = new WebSocket(relay.replace(/^http/, "ws") + "/v1/ws", { headers: { authorization: `Bearer ${await token(user(team, m))}` } } as any);
    const s: Sock = { ws, team, m, open: false };
    let perSecond = 0;
    let second = 0;
    ws.onmessage = (e) => {
      const text = String(e.data);
      if (text.startsWith('{"event":"presence"')) {
        presenceFrames++;
        const sec = Math.floor(performance.now() / 1000);
        presenceBySecond.set(sec, (presenceBySecond.get(sec) ?? 0) + 1);
        if (sec !== second) (second = sec), (perSecond = 0);
        if (++perSecond > perSocketMax.frames) perSocketMax.frames = perSecond;
        if (s.m === 0) presenceEntries += (JSON.parse(text).online.length as number) + (JSON.parse(text).offline.length as number);
      } else if (text.startsWith('{"event":"typing"')) {
        const f = JSON.parse(text);
        const sent = typingSent.get(`${f.channel_id}\n${f.user}`);
        if (sent !== undefined) typingLatency.record(Math.max(0, Math.round(performance.now() * 1000 - sent)));
        typingReceived++;
      } else if (text.startsWith('{"event":"ready"')) {
        s.open = true;
        resolve(s);
      }
    };
    ws.onerror = () => reject(new Error("socket failed"));
  });
}

function cpu(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, pid] of pids) out[name] = sampleProc(pid)?.cpuTicks ?? 0;
  return out;
}
async function measured<T>(name: string, fn: () => Promise<T>) {
  const [c0, m0, f0, w0] = [cpu(), sampleMachine(), presenceFrames, performance.now()];
  const r = await fn();
  const [c1, m1, secs] = [cpu(), sampleMachine(), (performance.now() - w0) / 1000];
  const cpuPct = Object.fromEntries([...pids.keys()].map((k) => [k, Math.round(((c1[k]! - c0[k]!) / CLK_TCK / secs) * 100)]));
  const row = { phase: name, seconds: +secs.toFixed(1), presence_frames_received: presenceFrames - f0, per_second: Math.round((presenceFrames - f0) / secs), cpu_pct: cpuPct, machine_busy_pct: Math.round(((m1.busy - m0.busy) / (m1.total - m0.total)) * 100) };
  console.error(JSON.stringify(row));
  results.push(row);
  return r;
}
const results: Record<string, unknown>[] = [];
const all = Array.from({ length: TEAMS * MEMBERS }, (_, i) => [Math.floor(i / MEMBERS), i % MEMBERS] as const);
const waves = <T>(xs: readonly T[]) => Array.from({ length: WAVES }, (_, w) => xs.filter((_, i) => i % WAVES === w));
async function pool<T>(xs: readonly T[], n: number, f: (x: T) => Promise<void>) {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (i < xs.length) await f(xs[i++]!);
  }));
}
const settle = () => Bun.sleep(7_000); // the grace (5 s) and the last batch

await measured(`connect ${TEAMS * MEMBERS} sockets in ${WAVES} waves`, async () => {
  for (const wave of waves(all)) {
    await pool(wave, 200, async ([t, m]) => void sockets.push(await connect(t, m)));
    await Bun.sleep(WAVE_GAP_MS);
  }
  await settle();
});
await measured("idle (leases renewed only)", () => Bun.sleep(10_000));
const tenth = sockets.filter((_, i) => i % 10 === 0);
await measured(`reconnect ${tenth.length} sockets within the grace`, async () => {
  for (const s of tenth) s.ws.close();
  await pool(tenth, 200, async (s) => void sockets.splice(sockets.indexOf(s), 1, await connect(s.team, s.m)));
  await settle();
});

// ---------------------------------------------------------------- typing
async function typing(rate: number, dm: boolean) {
  const typists = sockets.filter((s) => s.m % 2 === 1);
  const due = rate * TYPING_SECONDS;
  const start = performance.now();
  let sent = 0;
  let k = 0;
  while (sent < due) {
    const target = Math.floor(((performance.now() - start) / 1000) * rate);
    for (; sent < Math.min(target, due); sent++) {
      const s = typists[k++ % typists.length]!; // each typist at most once per typists/rate s (> 2 s throttle)
      const ch = teams[s.team]!;
      const to = dm ? user(s.team, s.m - 1) : "*";
      typingSent.set(`${ch}\n${user(s.team, s.m)}`, Math.round(performance.now() * 1000));
      s.ws.send(JSON.stringify({ op: "typing", channel_id: ch, to }));
    }
    await Bun.sleep(5);
  }
  await Bun.sleep(2_000);
  return { sent, typists: typists.length };
}
const dmRun = await measured(`typing ${TYPING_RATE}/s as DMs for ${TYPING_SECONDS} s`, async () => {
  typingLatency = new Histogram();
  typingReceived = 0;
  const r = await typing(TYPING_RATE, true);
  return { ...r, received: typingReceived, latency_ms: scaled(typingLatency) };
});
console.error(JSON.stringify(dmRun));
const bcast = await measured(`typing ${TYPING_BCAST}/s to "*" for ${TYPING_SECONDS} s`, async () => {
  typingLatency = new Histogram();
  typingReceived = 0;
  const r = await typing(TYPING_BCAST, false);
  return { ...r, received: typingReceived, latency_ms: scaled(typingLatency) };
});
console.error(JSON.stringify(bcast));

await measured(`disconnect ${sockets.length} sockets in ${WAVES} waves`, async () => {
  for (const wave of waves(sockets)) {
    for (const s of wave) if (s.m !== 0) s.ws.close();
    await Bun.sleep(WAVE_GAP_MS);
  }
  await settle();
});
for (const s of sockets) s.ws.close();

function scaled(h: Histogram) {
  const s = h.summary();
  return { count: s.count, p50: s.p50, p99: s.p99, max: s.max }; // already in ms
}
const out = { bench: "presence", at: new Date().toISOString(), target: server ? "standalone" : base, relays: relays.length, teams: TEAMS, members: MEMBERS, machine: machine(), phases: results, typing_dm: dmRun, typing_broadcast: bcast, max_presence_frames_per_socket_second: perSocketMax.frames, presence_entries_seen_by_owners: presenceEntries };
console.log(JSON.stringify(out));
await server?.stop();
process.exit(0);
