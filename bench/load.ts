#!/usr/bin/env bun
/**
 * Load generator for the chat service (PROTOCOL.md): creates teams over REST, opens WebSockets,
 * sends text messages and measures acks, fan-out deliveries, errors and server-side closes.
 *
 *   bun bench/load.ts --standalone --teams 100 --members 10 --rate 500 --duration 30
 *   AUTH_JWT_SECRET=... bun bench/load.ts --url http://127.0.0.1:8088 --teams 20 --members 10 --rate 200
 *
 * `bun bench/load.ts --help` lists every option; each has a BENCH_* environment equivalent.
 * Only loopback targets are accepted (see bench/README.md).
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import type { Subprocess } from "bun";
import { signDevToken } from "@chat/common/auth";
import { Histogram, type Summary } from "./hist";

const ROOT = join(import.meta.dir, "..");

// ---------------------------------------------------------------- options

type Kind = "string" | "number" | "boolean" | "list";
interface Spec {
  kind: Kind;
  env?: string;
  def?: string | number | boolean;
  min?: number;
  max?: number;
  help: string;
}

const SPECS = {
  standalone: { kind: "boolean", env: "BENCH_STANDALONE", def: false, help: "start a standalone server (temp DATA_DIR, free port, own secret); the default when no --url is given" },
  url: { kind: "string", env: "BENCH_URL", help: "base URL of a running server (loopback only), e.g. http://127.0.0.1:8088; AUTH_JWT_SECRET must be set. Falls back to E2E_BASE_URL" },
  teams: { kind: "number", env: "BENCH_TEAMS", def: 10, min: 1, max: 100_000, help: "teams to create" },
  members: { kind: "number", env: "BENCH_MEMBERS", def: 10, min: 1, max: 10_000, help: "members per team (owner included); every user is in exactly one team" },
  sockets: { kind: "number", env: "BENCH_SOCKETS", min: 0, max: 60_000, help: "WebSockets to open (default teams*members: one per user; more = extra connections per user)" },
  senders: { kind: "number", env: "BENCH_SENDERS", min: 0, max: 60_000, help: "sockets that send (default all), spread evenly over the sockets" },
  rate: { kind: "number", env: "BENCH_RATE", def: 100, min: 0, max: 1_000_000, help: "open loop: total messages/s over all senders (0 = idle sockets only)" },
  "closed-loop": { kind: "boolean", env: "BENCH_CLOSED_LOOP", def: false, help: "closed loop: each sender keeps --window messages in flight, sending the next on ack/error (ignores --rate)" },
  window: { kind: "number", env: "BENCH_WINDOW", def: 1, min: 1, max: 1000, help: "closed loop: messages in flight per sender" },
  size: { kind: "number", env: "BENCH_SIZE", def: 64, min: 32, max: 4000, help: "bytes of `data` per message (ASCII)" },
  dm: { kind: "number", env: "BENCH_DM", def: 0, min: 0, max: 1, help: "fraction of messages sent as DMs to a random teammate instead of `*`" },
  duration: { kind: "number", env: "BENCH_DURATION", def: 20, min: 1, max: 3600, help: "measured seconds" },
  warmup: { kind: "number", env: "BENCH_WARMUP", def: 5, min: 0, max: 600, help: "seconds of traffic before measuring" },
  drain: { kind: "number", env: "BENCH_DRAIN", def: 10, min: 0, max: 120, help: "max seconds to wait for outstanding acks/deliveries after sending stops" },
  via: { kind: "string", env: "BENCH_VIA", def: "header", help: "how sockets present the token: header | query (?access_token=)" },
  "connect-concurrency": { kind: "number", env: "BENCH_CONNECT_CONCURRENCY", def: 64, min: 1, max: 2000, help: "sockets connecting at once" },
  "setup-concurrency": { kind: "number", env: "BENCH_SETUP_CONCURRENCY", def: 16, min: 1, max: 512, help: "teams being created over REST at once" },
  "ack-timeout": { kind: "number", env: "BENCH_ACK_TIMEOUT", def: 10, min: 1, max: 600, help: "closed loop: seconds without progress before a sender's window is given up" },
  "server-env": { kind: "list", help: "KEY=VALUE for the --standalone server (repeatable), e.g. LIMIT_RATE_PER_SEC=100000" },
  "server-pids": { kind: "string", env: "BENCH_SERVER_PIDS", help: "pids (or name:pid) of an external server's processes, comma-separated, to sample RSS and CPU from /proc" },
  "metrics-url": { kind: "list", env: "BENCH_METRICS_URLS", help: "Prometheus endpoints to diff before/after (repeatable or comma-separated; default <url>/v1/metrics)" },
  label: { kind: "string", env: "BENCH_LABEL", def: "", help: "scenario name, copied into the JSON result" },
  "json-out": { kind: "string", env: "BENCH_JSON_OUT", help: "also append the JSON result line to this file" },
  timeline: { kind: "boolean", env: "BENCH_TIMELINE", def: false, help: "print a per-second timeline in the summary" },
  "keep-data": { kind: "boolean", def: false, help: "keep the --standalone DATA_DIR (and its server.log) afterwards" },
  help: { kind: "boolean", def: false, help: "this text" },
} satisfies Record<string, Spec>;

type Name = keyof typeof SPECS;
export interface Options {
  standalone: boolean;
  url?: string;
  teams: number;
  members: number;
  sockets: number;
  senders: number;
  rate: number;
  closedLoop: boolean;
  window: number;
  size: number;
  dm: number;
  duration: number;
  warmup: number;
  drain: number;
  via: "header" | "query";
  connectConcurrency: number;
  setupConcurrency: number;
  ackTimeout: number;
  serverEnv: Record<string, string>;
  serverPids: { name: string; pid: number }[];
  metricsUrls: string[];
  label: string;
  jsonOut?: string;
  timeline: boolean;
  keepData: boolean;
}

function usage(): string {
  const lines = ["usage: bun bench/load.ts [options]", ""];
  for (const [name, s] of Object.entries(SPECS) as [Name, Spec][]) {
    const flag = `--${name}${s.kind === "boolean" ? "" : s.kind === "list" ? " <v> (repeatable)" : " <v>"}`;
    const extra = [s.env ? `env ${s.env}` : "", s.def !== undefined && s.def !== "" ? `default ${s.def}` : ""].filter(Boolean).join(", ");
    lines.push(`  ${flag.padEnd(34)} ${s.help}${extra ? ` [${extra}]` : ""}`);
  }
  return lines.join("\n");
}

/** Flags win over BENCH_* variables, which win over defaults; every value is range-checked. */
export function parseOptions(argv: string[], env: Record<string, string | undefined> = process.env, overrides: Partial<Record<Name, string>> = {}): Options | "help" {
  const parsed = parseArgs({
    args: argv,
    options: Object.fromEntries(
      (Object.entries(SPECS) as [Name, Spec][]).map(([n, s]) => [n, { type: s.kind === "boolean" ? ("boolean" as const) : ("string" as const), multiple: s.kind === "list" }]),
    ),
    strict: true,
    allowPositionals: false,
  }).values as Record<string, string | boolean | string[] | undefined>;
  if (parsed.help) return "help";

  const raw = (n: Name): string | boolean | string[] | undefined => {
    const s: Spec = SPECS[n];
    if (parsed[n] !== undefined) return parsed[n];
    if (s.env && env[s.env] !== undefined && env[s.env] !== "") return s.kind === "list" ? env[s.env]!.split(",") : env[s.env];
    if (overrides[n] !== undefined) return overrides[n];
    return s.def as string | boolean | undefined;
  };
  const num = (n: Name): number | undefined => {
    const v = raw(n);
    if (v === undefined) return undefined;
    const x = Number(v);
    const s: Spec = SPECS[n];
    if (!Number.isFinite(x) || (s.min !== undefined && x < s.min) || (s.max !== undefined && x > s.max))
      throw new Error(`--${n}: expected a number in [${s.min}, ${s.max}], got ${JSON.stringify(v)}`);
    return x;
  };
  const str = (n: Name) => {
    const v = raw(n);
    return v === undefined ? undefined : String(v);
  };
  const bool = (n: Name) => {
    const v = raw(n);
    return v === true || v === "1" || v === "true";
  };
  const list = (n: Name) => {
    const v = raw(n);
    return (Array.isArray(v) ? v : typeof v === "string" ? [v] : []).flatMap((x) => x.split(",")).map((x) => x.trim()).filter(Boolean);
  };

  const url = str("url") ?? (bool("standalone") ? undefined : env.E2E_BASE_URL);
  const teams = Math.floor(num("teams")!);
  const members = Math.floor(num("members")!);
  const sockets = Math.floor(num("sockets") ?? teams * members);
  const via = str("via");
  if (via !== "header" && via !== "query") throw new Error("--via: header or query");
  const serverEnv: Record<string, string> = {};
  for (const kv of list("server-env")) {
    const i = kv.indexOf("=");
    if (i <= 0) throw new Error(`--server-env: expected KEY=VALUE, got ${kv}`);
    serverEnv[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const serverPids = list("server-pids").map((p) => {
    const [name, pid] = p.includes(":") ? p.split(":") : [p, p];
    if (!/^\d+$/.test(pid ?? "")) throw new Error(`--server-pids: not a pid: ${p}`);
    return { name: name!, pid: Number(pid) };
  });
  if (url) assertLoopback(url);
  const metricsUrls = list("metrics-url");
  for (const m of metricsUrls) assertLoopback(m);
  return {
    standalone: !url,
    url: url?.replace(/\/+$/, ""),
    teams,
    members,
    sockets,
    senders: Math.min(sockets, Math.floor(num("senders") ?? sockets)),
    rate: num("rate")!,
    closedLoop: bool("closed-loop"),
    window: Math.floor(num("window")!),
    size: Math.floor(num("size")!),
    dm: num("dm")!,
    duration: num("duration")!,
    warmup: num("warmup")!,
    drain: num("drain")!,
    via,
    connectConcurrency: Math.floor(num("connect-concurrency")!),
    setupConcurrency: Math.floor(num("setup-concurrency")!),
    ackTimeout: num("ack-timeout")!,
    serverEnv,
    serverPids,
    metricsUrls,
    label: str("label") ?? "",
    jsonOut: str("json-out"),
    timeline: bool("timeline"),
    keepData: bool("keep-data"),
  };
}

/** Load is only ever aimed at servers on this machine. */
function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (!["127.0.0.1", "localhost", "[::1]", "::1"].includes(host)) throw new Error(`refusing to load a non-loopback target: ${host}`);
}

// ---------------------------------------------------------------- /proc sampling

const CLK_TCK = (() => {
  try {
    return Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

interface ProcSample {
  rssKiB: number;
  hwmKiB: number;
  cpuTicks: number;
}

function sampleProc(pid: number): ProcSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields from #3 (state) on
    return { rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM"), cpuTicks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

/** Busy and total jiffies of the whole machine (all CPUs), from /proc/stat. */
function sampleMachine(): { busy: number; total: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

function machine() {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const mem = readFileSync("/proc/meminfo", "utf8");
  return {
    nproc: navigator.hardwareConcurrency,
    cpu_model: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    mem_total_gib: Math.round(Number(/^MemTotal:\s+(\d+)/m.exec(mem)?.[1] ?? 0) / 1024 / 1024),
    bun: Bun.version,
    loadavg_at_start: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
  };
}

// ---------------------------------------------------------------- metrics scraping

const WATCHED = /^(chat_messages_in_total|chat_ws_slow_consumers_closed_total|chat_frames_out_total|chat_ws_upgrades_refused_total|chat_log_append_seconds_sum|chat_log_append_seconds_count|chat_messages_persisted_total)(\{[^}]*\})?\s+([0-9.eE+-]+)$/;

async function scrape(urls: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  await Promise.all(
    urls.map(async (u) => {
      try {
        const res = await fetch(u, { signal: AbortSignal.timeout(5000) });
        if (!res.ok) return;
        for (const line of (await res.text()).split("\n")) {
          const m = WATCHED.exec(line);
          if (m) out.set(m[1]! + (m[2] ?? ""), (out.get(m[1]! + (m[2] ?? "")) ?? 0) + Number(m[3]));
        }
      } catch {}
    }),
  );
  return out;
}

function diffMetrics(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d !== 0) out[k] = Math.round(d * 1e6) / 1e6;
  }
  return out;
}

// ---------------------------------------------------------------- standalone server

interface Server {
  base: string;
  secret: string;
  pid?: number;
  logFile?: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

async function startStandaloneServer(extraEnv: Record<string, string>, keepData: boolean): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), "chat-bench-"));
  const secret = randomBytes(36).toString("base64url");
  const port = await freePort();
  const logFile = join(dataDir, "server.log");
  const proc: Subprocess = Bun.spawn(["bun", "standalone/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir, AUTH_JWT_SECRET: secret, LOG_LEVEL: "info", ...extraEnv },
    stdout: Bun.file(logFile),
    stderr: Bun.file(join(dataDir, "server.err")),
    stdin: "ignore",
  });
  const kill = () => proc.kill("SIGKILL");
  process.on("exit", kill);
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) {
      let err = "";
      try {
        err = readFileSync(join(dataDir, "server.err"), "utf8").trim();
      } catch {}
      throw new Error(`standalone server exited (${proc.exitCode}): ${err || `see ${dataDir}`}`);
    }
    try {
      if ((await fetch(`${base}/v1/ready`, { signal: AbortSignal.timeout(1000) })).ok) break;
    } catch {}
    if (Date.now() > deadline) {
      kill();
      throw new Error(`standalone server not ready after 30 s; see ${dataDir}`);
    }
    await Bun.sleep(100);
  }
  return {
    base,
    secret,
    pid: proc.pid,
    logFile,
    async stop() {
      proc.kill("SIGTERM");
      await Promise.race([proc.exited, Bun.sleep(15_000)]);
      if (proc.exitCode === null) kill();
      process.off("exit", kill);
      if (!keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** warn/error lines of the server's JSON log, grouped by message. */
function logProblems(file: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (!file) return out;
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return out;
  }
  for (const line of text.split("\n")) {
    if (!line.includes('"level":"warn"') && !line.includes('"level":"error"')) continue;
    try {
      const e = JSON.parse(line) as { level: string; msg: string };
      const k = `${e.level}: ${e.msg}`;
      out[k] = (out[k] ?? 0) + 1;
    } catch {}
  }
  return out;
}

// ---------------------------------------------------------------- helpers

async function pool<T>(items: T[], concurrency: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

async function rest(base: string, method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let json: any = text;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json };
}

/** Reads a decimal integer starting at `i`; `readEnd` is left on the first non-digit. */
let readEnd = 0;
function readInt(s: string, i: number): number {
  let n = 0;
  const start = i;
  for (;;) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
    i++;
  }
  readEnd = i;
  return i === start ? -1 : n;
}

const inc = (rec: Record<string, number>, k: string, by = 1) => {
  rec[k] = (rec[k] ?? 0) + by;
};

// ---------------------------------------------------------------- the run

interface Sock {
  idx: number;
  user: number;
  team: number;
  ws: WebSocket | undefined;
  open: boolean;
  ready: boolean;
  closedByUs: boolean;
  inflight: number;
  counter: number;
  lastSeq: number;
  lastProgress: number;
  pausedUntil: number;
}

const ACK_PREFIX = '{"event":"ack","client_msg_id":"';
const MSG_PREFIX = '{"event":"message"';

export async function run(o: Options) {
  const info = machine();
  const runId = Date.now().toString(36) + randomBytes(2).toString("hex");
  const log = (s: string) => console.error(`[load ${((performance.now() - started) / 1000).toFixed(1)}s] ${s}`);
  const started = performance.now();

  let server: Server;
  if (o.standalone) {
    server = await startStandaloneServer(o.serverEnv, o.keepData);
    log(`standalone server pid ${server.pid} at ${server.base}`);
  } else {
    const secret = process.env.AUTH_JWT_SECRET;
    if (!secret) throw new Error("--url needs AUTH_JWT_SECRET (the server's HS256 secret) to mint tokens");
    server = { base: o.url!, secret, stop: async () => {} };
  }
  const procs = o.standalone ? [{ name: "standalone", pid: server.pid! }] : o.serverPids;
  const metricsUrls = o.metricsUrls.length ? o.metricsUrls : [`${server.base}/v1/metrics`];
  const wsBase = server.base.replace(/^http/, "ws") + "/v1/ws";
  const limitRate = Number(o.serverEnv.LIMIT_RATE_PER_SEC ?? (o.standalone ? 20 : NaN));
  if (!o.closedLoop && o.senders > 0 && o.rate / o.senders > (Number.isNaN(limitRate) ? 20 : limitRate))
    log(`warning: ${(o.rate / o.senders).toFixed(1)} msg/s per sender exceeds the server's per-connection limit (default 20/s, burst 40); expect rate_limited`);

  try {
    // ---- setup: users, tokens, teams
    const U = o.teams * o.members;
    const users = Array.from({ length: U }, (_, u) => `b${runId}-t${Math.floor(u / o.members)}-u${u}@bench.dev`);
    const ttl = Math.ceil(o.warmup + o.duration + o.drain) + 3600;
    const tokens = await Promise.all(users.map((u) => signDevToken(server.secret, u, ttl)));
    const teamIds: string[] = new Array(o.teams);
    const restErrors: Record<string, number> = {};
    const tSetup = performance.now();
    await pool(
      Array.from({ length: o.teams }, (_, t) => t),
      o.setupConcurrency,
      async (t) => {
        const owner = t * o.members;
        const r = await rest(server.base, "POST", "/v1/teams", tokens[owner]!, { name: `bench ${runId} ${t}`, meta_tags: ["bench"] });
        if (r.status !== 201) {
          inc(restErrors, `POST /v1/teams ${r.status}`);
          throw new Error(`create team: ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
        }
        teamIds[t] = r.json.data.id;
        for (let m = 1; m < o.members; m++) {
          const a = await rest(server.base, "POST", `/v1/teams/${teamIds[t]}/members`, tokens[owner]!, { user_id: users[owner + m] });
          if (a.status !== 201) {
            inc(restErrors, `POST members ${a.status}`);
            throw new Error(`add member: ${a.status} ${JSON.stringify(a.json).slice(0, 300)}`);
          }
        }
      },
    );
    const setupSec = (performance.now() - tSetup) / 1000;
    const restCalls = o.teams * o.members;
    log(`setup: ${o.teams} teams, ${U} users, ${restCalls} REST calls in ${setupSec.toFixed(1)} s (${(restCalls / setupSec).toFixed(0)} req/s)`);
    await Bun.sleep(500);
    const procSetup = procs.map((p) => sampleProc(p.pid));

    // ---- connect
    const socks: Sock[] = Array.from({ length: o.sockets }, (_, idx) => {
      const user = idx % U;
      return { idx, user, team: Math.floor(user / o.members), ws: undefined, open: false, ready: false, closedByUs: false, inflight: 0, counter: 0, lastSeq: -1, lastProgress: 0, pausedUntil: 0 };
    });
    const userSockets = new Int32Array(U);
    const teamSockets = new Int32Array(o.teams);
    const errors: Record<string, number> = {};
    const serverCloses: Record<string, number> = {};
    const connectFailures: Record<string, number> = {};
    const ackHist = new Histogram();
    const e2eHist = new Histogram();
    const connectHist = new Histogram();

    // Measurement window by *send* time (µs on this process's clock, which stamps and receives).
    let t0 = Infinity; // µs, first send
    let mStart = Infinity;
    let mEnd = Infinity;
    let sending = false;
    const seconds = Math.ceil(o.warmup + o.duration + o.drain) + 5;
    const tl = { sent: new Uint32Array(seconds), acked: new Uint32Array(seconds), delivered: new Uint32Array(seconds), errors: new Uint32Array(seconds), closes: new Uint32Array(seconds), ackMaxUs: new Float64Array(seconds), e2eMaxUs: new Float64Array(seconds) };
    const sec = (us: number) => (us < t0 ? 0 : Math.min(seconds - 1, Math.floor((us - t0) / 1e6)));
    const inWindow = (tUs: number) => tUs >= mStart && tUs < mEnd;
    const nowUs = () => Math.floor(performance.now() * 1000);
    let sentTotal = 0;
    let sentInWindow = 0;
    let acked = 0;
    let ackedTotal = 0;
    let rejectedInWindow = 0;
    let delivered = 0;
    let deliveredTotal = 0;
    let expected = 0;
    let orderViolations = 0;
    let foreignFrames = 0;
    let timedOut = 0;
    let lastDeliveryAt = 0;

    const PAD = "x".repeat(o.size);
    const send = (s: Sock) => {
      if (!s.open || !s.ws) return;
      const t = nowUs();
      let target = -1;
      if (o.dm > 0 && o.members > 1 && Math.random() < o.dm) {
        const base = s.team * o.members;
        target = base + Math.floor(Math.random() * (o.members - 1));
        if (target >= s.user) target++;
      }
      const head = `${t}:${s.idx}:`;
      const data = head.length >= o.size ? head : head + PAD.slice(0, o.size - head.length);
      // client_msg_id carries the send time and the recipient so the ack needs no lookup table.
      s.ws.send(`{"channel_id":"${teamIds[s.team]}","to":"${target < 0 ? "*" : users[target]}","type":"text","data":"${data}","client_msg_id":"${t}.${target + 1}.${s.idx}.${++s.counter}"}`);
      s.inflight++;
      sentTotal++;
      tl.sent[sec(t)]!++;
      if (inWindow(t)) sentInWindow++;
    };

    const afterReply = (s: Sock, rateLimited: boolean) => {
      s.inflight = Math.max(0, s.inflight - 1);
      s.lastProgress = performance.now();
      if (!o.closedLoop || !sending) return;
      if (rateLimited) {
        if (s.pausedUntil > performance.now()) return;
        s.pausedUntil = performance.now() + 100;
        setTimeout(() => sending && refill(s), 100);
      } else send(s);
    };
    const refill = (s: Sock) => {
      while (sending && s.open && s.inflight < o.window) send(s);
    };

    const onAck = (s: Sock, t: number, target: number) => {
      const now = nowUs();
      ackedTotal++;
      const i = sec(now);
      tl.acked[i]!++;
      const lat = now - t;
      if (lat > tl.ackMaxUs[i]!) tl.ackMaxUs[i] = lat;
      if (inWindow(t)) {
        acked++;
        ackHist.record(lat);
        expected += target < 0 ? teamSockets[s.team]! : userSockets[target]! + userSockets[s.user]!;
      }
      afterReply(s, false);
    };

    const onDelivery = (s: Sock, seq: number, t: number, from: number) => {
      const now = nowUs();
      if (seq <= s.lastSeq) orderViolations++;
      else s.lastSeq = seq;
      deliveredTotal++;
      lastDeliveryAt = now;
      const i = sec(now);
      tl.delivered[i]!++;
      if (!inWindow(t)) return;
      delivered++;
      if (from !== s.idx) {
        e2eHist.record(now - t);
        if (now - t > tl.e2eMaxUs[i]!) tl.e2eMaxUs[i] = now - t;
      }
    };

    const onOther = (s: Sock, raw: string, f: Record<string, any>) => {
      switch (f.event) {
        case "ready":
          s.ready = true;
          return;
        case "error": {
          const code = String(f.code);
          inc(errors, code);
          tl.errors[sec(nowUs())]!++;
          const cmid = typeof f.client_msg_id === "string" ? f.client_msg_id : "";
          const t = readInt(cmid, 0);
          if (t > 0) {
            if (inWindow(t)) rejectedInWindow++;
            afterReply(s, code === "rate_limited");
          }
          return;
        }
        case "ack": {
          const cmid = String(f.client_msg_id ?? "");
          const t = readInt(cmid, 0);
          const target = readInt(cmid, readEnd + 1) - 1;
          if (t > 0) onAck(s, t, target);
          return;
        }
        case "message": {
          const data = String(f.data ?? "");
          const t = readInt(data, 0);
          const from = data.charCodeAt(readEnd) === 58 ? readInt(data, readEnd + 1) : -1;
          if (t > 0 && from >= 0) onDelivery(s, Number(f.seq), t, from);
          else foreignFrames++;
          return;
        }
        default:
          foreignFrames++; // membership events etc.; none are expected once the run starts
          void raw;
      }
    };

    // The hot path reads acks and message frames by position instead of JSON.parse.
    const onFrame = (s: Sock, raw: string) => {
      if (raw.startsWith(ACK_PREFIX)) {
        const t = readInt(raw, ACK_PREFIX.length);
        if (t > 0 && raw.charCodeAt(readEnd) === 46) {
          const target = readInt(raw, readEnd + 1) - 1;
          return onAck(s, t, target);
        }
      } else if (raw.startsWith(MSG_PREFIX)) {
        const q = raw.indexOf('"seq":', MSG_PREFIX.length);
        const d = raw.indexOf('"data":"', q);
        if (q > 0 && d > 0) {
          const seq = readInt(raw, q + 6);
          const t = readInt(raw, d + 8);
          if (t > 0 && raw.charCodeAt(readEnd) === 58) {
            const from = readInt(raw, readEnd + 1);
            return onDelivery(s, seq, t, from);
          }
        }
      }
      let f: Record<string, any>;
      try {
        f = JSON.parse(raw);
      } catch {
        foreignFrames++;
        return;
      }
      onOther(s, raw, f);
    };

    const connect = (s: Sock) =>
      new Promise<void>((resolve) => {
        const tok = tokens[s.user]!;
        const begin = performance.now();
        const ws =
          o.via === "header"
            ? new WebSocket(wsBase, { headers: { authorization: `Bearer ${tok}` } } as unknown as string[])
            : new WebSocket(`${wsBase}?access_token=${encodeURIComponent(tok)}`);
        s.ws = ws;
        let settled = false;
        const timer = setTimeout(() => finish("timeout"), 20_000);
        function finish(failure?: string) {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (failure) {
            inc(connectFailures, failure);
            s.closedByUs = true;
            ws.close();
          } else connectHist.record((performance.now() - begin) * 1000);
          resolve();
        }
        ws.onopen = () => {
          s.open = true;
          userSockets[s.user]!++;
          teamSockets[s.team]!++;
        };
        ws.onmessage = (e) => {
          onFrame(s, e.data as string);
          if (!settled && s.ready) finish();
        };
        ws.onclose = (e) => {
          if (s.open) {
            userSockets[s.user]!--;
            teamSockets[s.team]!--;
          }
          s.open = false;
          if (!settled) return finish(`closed ${e.code} before ready`);
          if (!s.closedByUs) {
            inc(serverCloses, `${e.code}${e.reason ? " " + e.reason : ""}`);
            tl.closes[sec(nowUs())]!++;
          }
        };
      });

    const metricsBefore0 = await scrape(metricsUrls);
    const tConnect = performance.now();
    await pool(socks, o.connectConcurrency, connect);
    const connectSec = (performance.now() - tConnect) / 1000;
    const ready = socks.filter((s) => s.ready && s.open).length;
    log(`connected ${ready}/${o.sockets} sockets in ${connectSec.toFixed(1)} s${Object.keys(connectFailures).length ? ` (failures: ${JSON.stringify(connectFailures)})` : ""}`);
    await Bun.sleep(2000); // let the server settle before the idle-memory sample
    const procConnected = procs.map((p) => sampleProc(p.pid));
    const loaderConnected = sampleProc(process.pid);

    // ---- traffic
    const step = o.senders > 0 ? o.sockets / o.senders : 0;
    const senders = Array.from({ length: o.senders }, (_, k) => socks[Math.floor(k * step)]!);
    const idle = o.rate === 0 && !o.closedLoop;
    let schedulerSkipped = 0;
    let loopLagMaxMs = 0;
    const loopLag = new Histogram();
    let lagPrev = performance.now();
    const lagTimer = setInterval(() => {
      const now = performance.now();
      const lag = Math.max(0, now - lagPrev - 50);
      lagPrev = now;
      if (sending) {
        loopLag.record(lag * 1000);
        loopLagMaxMs = Math.max(loopLagMaxMs, lag);
      }
    }, 50);

    t0 = nowUs();
    mStart = t0 + o.warmup * 1e6;
    mEnd = mStart + o.duration * 1e6;
    sending = true;
    let metricsBefore = metricsBefore0;
    let procBefore: (ProcSample | undefined)[] = procConnected;
    let cpuBefore = process.cpuUsage();
    let machineBefore = sampleMachine();
    const warmupDone = (async () => {
      await Bun.sleep(o.warmup * 1000);
      metricsBefore = await scrape(metricsUrls);
      procBefore = procs.map((p) => sampleProc(p.pid));
      cpuBefore = process.cpuUsage();
      machineBefore = sampleMachine();
    })();

    let scheduler: Timer | undefined;
    let watchdog: Timer | undefined;
    if (!idle) {
      log(`${o.closedLoop ? `closed loop, window ${o.window}` : `open loop at ${o.rate} msg/s`}, ${o.senders} senders, ${o.size} B, warmup ${o.warmup} s, measuring ${o.duration} s`);
      if (o.closedLoop) {
        for (const s of senders) refill(s);
        watchdog = setInterval(() => {
          const now = performance.now();
          for (const s of senders)
            if (s.inflight > 0 && now - s.lastProgress > o.ackTimeout * 1000) {
              timedOut += s.inflight;
              s.inflight = 0;
              s.lastProgress = now;
              refill(s);
            }
        }, 1000);
      } else {
        let scheduled = 0;
        let rr = 0;
        const startMs = performance.now();
        scheduler = setInterval(() => {
          const elapsed = performance.now() - startMs;
          let due = Math.floor((elapsed * o.rate) / 1000) - scheduled;
          if (due > o.rate) {
            // more than a second behind: the generator is saturated; drop instead of bursting
            schedulerSkipped += due - Math.ceil(o.rate);
            scheduled += due - Math.ceil(o.rate);
            due = Math.ceil(o.rate);
          }
          for (let k = 0; k < due; k++) {
            let tries = senders.length;
            let s = senders[rr++ % senders.length]!;
            while (!s.open && --tries > 0) s = senders[rr++ % senders.length]!;
            if (s.open) send(s);
          }
          scheduled += due;
        }, 5);
      }
    } else log(`idle: holding ${ready} sockets for ${o.warmup + o.duration} s`);

    await warmupDone;
    await Bun.sleep(o.duration * 1000);
    sending = false;
    clearInterval(scheduler);
    clearInterval(watchdog);
    const cpuMeasured = process.cpuUsage(cpuBefore);
    const machineAfter = sampleMachine();
    const procAfter = procs.map((p) => sampleProc(p.pid));
    const loaderAfter = sampleProc(process.pid);

    // ---- drain: outstanding acks, then deliveries going quiet
    const drainUntil = performance.now() + o.drain * 1000;
    const inflight = () => socks.reduce((n, s) => n + (s.open ? s.inflight : 0), 0);
    while (performance.now() < drainUntil && (inflight() > 0 || nowUs() - lastDeliveryAt < 500_000)) await Bun.sleep(50);
    const unacked = inflight();
    const metricsAfter = await scrape(metricsUrls);
    clearInterval(lagTimer);

    // ---- teardown
    for (const s of socks) {
      s.closedByUs = true;
      s.ws?.close(1000);
    }
    const closeUntil = performance.now() + 5000;
    while (performance.now() < closeUntil && socks.some((s) => s.open)) await Bun.sleep(50);

    const D = o.duration;
    const cpuPct = (a: ProcSample | undefined, b: ProcSample | undefined) => (a && b ? Math.round(((b.cpuTicks - a.cpuTicks) / CLK_TCK / D) * 1000) / 10 : null);
    const mib = (kib: number | undefined) => (kib === undefined ? null : Math.round(kib / 102.4) / 10);
    const perSocketKiB = (a: ProcSample | undefined, b: ProcSample | undefined) => (a && b && ready ? Math.round(((b.rssKiB - a.rssKiB) / ready) * 10) / 10 : null);
    const round = (x: number) => Math.round(x * 10) / 10;
    const appendSum = Object.entries(diffMetrics(metricsBefore, metricsAfter));
    // Everything on the machine, in "percent of one CPU" like the per-process figures (2 CPUs = 200%).
    const machineBusyPct = round(((machineAfter.busy - machineBefore.busy) / Math.max(1, machineAfter.total - machineBefore.total)) * info.nproc * 100);
    const loaderCpuPct = round(((cpuMeasured.user + cpuMeasured.system) / 1e6 / D) * 100);
    const serverCpuPct = procs.reduce((n, _, i) => n + (cpuPct(procBefore[i], procAfter[i]) ?? 0), 0);

    const result = {
      label: o.label,
      at: new Date().toISOString(),
      machine: info,
      target: o.standalone ? "standalone" : o.url,
      config: {
        teams: o.teams,
        members: o.members,
        sockets: o.sockets,
        senders: o.senders,
        mode: idle ? "idle" : o.closedLoop ? "closed" : "open",
        rate: o.closedLoop ? null : o.rate,
        window: o.closedLoop ? o.window : null,
        size: o.size,
        dm: o.dm,
        duration: o.duration,
        warmup: o.warmup,
        via: o.via,
        server_env: o.serverEnv,
      },
      setup: { seconds: Math.round(setupSec * 100) / 100, rest_calls: restCalls, rest_errors: restErrors },
      connect: { ready, failed: connectFailures, seconds: Math.round(connectSec * 100) / 100, per_s: round(ready / connectSec), latency_ms: connectHist.summary() },
      sent: sentInWindow,
      accepted: acked,
      accepted_per_s: round(acked / D),
      rejected: rejectedInWindow,
      unacked_after_drain: unacked,
      timed_out: timedOut,
      ack_ms: ackHist.summary(),
      e2e_ms: e2eHist.summary(),
      deliveries: delivered,
      deliveries_per_s: round(delivered / D),
      expected_deliveries: expected,
      missing_deliveries: expected - delivered,
      seq_order_violations: orderViolations,
      other_frames: foreignFrames,
      errors,
      server_closes: serverCloses,
      totals: { sent: sentTotal, acked: ackedTotal, delivered: deliveredTotal },
      server: procs.map((p, i) => ({
        name: p.name,
        pid: p.pid,
        rss_mib_setup: mib(procSetup[i]?.rssKiB),
        rss_mib_connected: mib(procConnected[i]?.rssKiB),
        rss_mib_end: mib(procAfter[i]?.rssKiB),
        hwm_mib: mib(procAfter[i]?.hwmKiB),
        rss_kib_per_socket: perSocketKiB(procSetup[i], procConnected[i]),
        cpu_pct: cpuPct(procBefore[i], procAfter[i]),
      })),
      server_metrics_delta: Object.fromEntries(appendSum),
      loader: {
        cpu_pct: loaderCpuPct,
        rss_mib_connected: mib(loaderConnected?.rssKiB),
        rss_mib_end: mib(loaderAfter?.rssKiB),
        loop_lag_ms: { p99: loopLag.summary().p99, max: round(loopLagMaxMs) },
        scheduler_skipped: schedulerSkipped,
      },
      machine_cpu: { busy_pct: machineBusyPct, of_pct: info.nproc * 100, other_processes_pct: round(Math.max(0, machineBusyPct - loaderCpuPct - serverCpuPct)) },
      server_log: logProblems(server.logFile),
      loadavg_at_end: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
      timeline: Array.from({ length: Math.min(seconds, Math.ceil(o.warmup + o.duration + 1)) }, (_, i) => ({
        s: i,
        sent: tl.sent[i],
        acked: tl.acked[i],
        delivered: tl.delivered[i],
        errors: tl.errors[i],
        closes: tl.closes[i],
        ack_max_ms: Math.round(tl.ackMaxUs[i]! / 100) / 10,
        e2e_max_ms: Math.round(tl.e2eMaxUs[i]! / 100) / 10,
      })),
    };
    printSummary(result, o.timeline);
    const line = JSON.stringify(result);
    console.log(line);
    if (o.jsonOut) appendFileSync(o.jsonOut, line + "\n");
    return result;
  } finally {
    await server.stop();
  }
}

type Result = Awaited<ReturnType<typeof run>>;

function printSummary(r: Result, timeline: boolean): void {
  const h = (s: Summary) => `p50 ${s.p50}  p95 ${s.p95}  p99 ${s.p99}  p99.9 ${s.p999}  max ${s.max}  (n=${s.count})`;
  const c = r.config;
  const lines = [
    `== ${r.label || "load"} — ${r.target}, ${r.machine.nproc} cpu ${r.machine.cpu_model}, bun ${r.machine.bun}`,
    `   ${c.teams} teams × ${c.members} members, ${c.sockets} sockets, ${c.senders} senders, ${c.mode}${c.rate !== null ? ` ${c.rate} msg/s` : ""}${c.window !== null ? ` window ${c.window}` : ""}, ${c.size} B, dm ${c.dm}, ${c.duration} s (+${c.warmup} s warmup)`,
    `   setup ${r.setup.seconds} s; connected ${r.connect.ready} in ${r.connect.seconds} s (${r.connect.per_s}/s, p99 ${r.connect.latency_ms.p99} ms)${Object.keys(r.connect.failed).length ? ` failures ${JSON.stringify(r.connect.failed)}` : ""}`,
  ];
  if (c.mode !== "idle") {
    lines.push(
      `   accepted ${r.accepted} (${r.accepted_per_s} msg/s) of ${r.sent} sent; rejected ${r.rejected}; unacked ${r.unacked_after_drain}; timed out ${r.timed_out}`,
      `   ack ms   ${h(r.ack_ms)}`,
      `   e2e ms   ${h(r.e2e_ms)}`,
      `   deliveries ${r.deliveries} (${r.deliveries_per_s}/s), expected ${r.expected_deliveries}, missing ${r.missing_deliveries}, seq order violations ${r.seq_order_violations}`,
    );
  }
  lines.push(
    `   errors ${JSON.stringify(r.errors)}; server closes ${JSON.stringify(r.server_closes)}`,
    ...r.server.map(
      (s) => `   server ${s.name}(${s.pid}): rss setup ${s.rss_mib_setup} MiB, connected ${s.rss_mib_connected} MiB (${s.rss_kib_per_socket} KiB/socket), end ${s.rss_mib_end} MiB, peak ${s.hwm_mib} MiB, cpu ${s.cpu_pct}%`,
    ),
    `   machine cpu busy ${r.machine_cpu.busy_pct}% of ${r.machine_cpu.of_pct}% (other processes ~${r.machine_cpu.other_processes_pct}%); load avg ${r.machine.loadavg_at_start} -> ${r.loadavg_at_end}`,
    `   loader: cpu ${r.loader.cpu_pct}%, rss ${r.loader.rss_mib_end} MiB, loop lag p99 ${r.loader.loop_lag_ms.p99} ms max ${r.loader.loop_lag_ms.max} ms, scheduler skipped ${r.loader.scheduler_skipped}`,
  );
  if (Object.keys(r.server_metrics_delta).length) lines.push(`   server metrics Δ ${JSON.stringify(r.server_metrics_delta)}`);
  if (Object.keys(r.server_log).length) lines.push(`   server log ${JSON.stringify(r.server_log)}`);
  if (timeline) {
    lines.push("   s  sent  acked  delivered  err  close  ack_max_ms  e2e_max_ms");
    for (const t of r.timeline) lines.push(`   ${String(t.s).padStart(2)} ${String(t.sent).padStart(5)} ${String(t.acked).padStart(6)} ${String(t.delivered).padStart(10)} ${String(t.errors).padStart(4)} ${String(t.closes).padStart(6)} ${String(t.ack_max_ms).padStart(11)} ${String(t.e2e_max_ms).padStart(11)}`);
  }
  console.log(lines.join("\n"));
}

export async function main(argv = process.argv.slice(2), overrides: Partial<Record<Name, string>> = {}): Promise<void> {
  let o: Options | "help";
  try {
    o = parseOptions(argv, process.env, overrides);
  } catch (err) {
    console.error(`load: ${(err as Error).message}\n\n${usage()}`);
    process.exit(2);
  }
  if (o === "help") {
    console.log(usage());
    return;
  }
  try {
    await run(o);
    process.exit(0);
  } catch (err) {
    console.error(`load: ${(err as Error).stack ?? err}`);
    process.exit(1);
  }
}

if (import.meta.main) await main();
