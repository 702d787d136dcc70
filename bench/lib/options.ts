/** load.ts options: each a flag and a BENCH_* variable, range-checked. */
import { parseArgs } from "node:util";
import { parseMix, type Mix } from "./lifecycle";
import type { WsClientKind } from "./ws-client";

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
  teams: { kind: "number", env: "BENCH_TEAMS", def: 10, min: 1, max: 100_000, help: "teams to create (1 with --team)" },
  team: { kind: "string", env: "BENCH_TEAM", help: "chat in this existing team instead of creating teams over REST (no setup calls); needs --users, and --members is how many of its users connect" },
  users: { kind: "string", env: "BENCH_USERS", help: "with --team: the ids of its existing members, `{n}` standing for 0 … members-1, e.g. m{n}@bench.dev" },
  members: { kind: "number", env: "BENCH_MEMBERS", def: 10, min: 1, max: 10_000, help: "members per team (owner included); every user is in exactly one team" },
  sockets: { kind: "number", env: "BENCH_SOCKETS", min: 0, max: 60_000, help: "WebSockets to open (default teams*members: one per user; more = extra connections per user)" },
  senders: { kind: "number", env: "BENCH_SENDERS", min: 0, max: 60_000, help: "sockets that send (default all), spread evenly over the sockets" },
  rate: { kind: "number", env: "BENCH_RATE", def: 100, min: 0, max: 1_000_000, help: "open loop: total messages/s over all senders (0 = idle sockets only)" },
  "closed-loop": { kind: "boolean", env: "BENCH_CLOSED_LOOP", def: false, help: "closed loop: each sender keeps --window messages in flight, sending the next on ack/error (ignores --rate)" },
  window: { kind: "number", env: "BENCH_WINDOW", def: 1, min: 1, max: 1000, help: "closed loop: messages in flight per sender" },
  size: { kind: "number", env: "BENCH_SIZE", def: 64, min: 32, max: 4000, help: "bytes of `data` per message (ASCII)" },
  dm: { kind: "number", env: "BENCH_DM", def: 0, min: 0, max: 1, help: "fraction of messages sent as DMs to a random teammate instead of `*`" },
  mix: { kind: "string", env: "BENCH_MIX", def: "", help: "lifecycle ops mixed into the traffic (chat protocol), as fractions of scheduled operations, e.g. edit=0.15,react=0.15: an edit targets one of the socket's own recently acked messages, a react toggles one of 4 emoji on a message the socket recently received; reported per kind next to plain sends (see bench/README.md)" },
  duration: { kind: "number", env: "BENCH_DURATION", def: 20, min: 1, max: 3600, help: "measured seconds" },
  warmup: { kind: "number", env: "BENCH_WARMUP", def: 5, min: 0, max: 600, help: "seconds of traffic before measuring" },
  drain: { kind: "number", env: "BENCH_DRAIN", def: 10, min: 0, max: 120, help: "max seconds to wait for outstanding acks/deliveries after sending stops" },
  via: { kind: "string", env: "BENCH_VIA", def: "header", help: "how sockets present the token: header | query (?access_token=)" },
  "ws-client": { kind: "string", env: "BENCH_WS_CLIENT", def: "bun", help: "the load generator's WebSocket client: bun (the runtime's WebSocket, a MessageEvent per frame) | raw (RFC 6455 on a TCP socket, frames parsed in place: far less load-generator CPU per frame; see lib/ws-client.ts)" },
  "connect-concurrency": { kind: "number", env: "BENCH_CONNECT_CONCURRENCY", def: 64, min: 1, max: 2000, help: "sockets connecting at once" },
  "setup-concurrency": { kind: "number", env: "BENCH_SETUP_CONCURRENCY", def: 16, min: 1, max: 512, help: "teams being created over REST at once" },
  "stalled-readers": { kind: "number", env: "BENCH_STALLED_READERS", def: 0, min: 0, max: 1000, help: "extra sockets (raw TCP, members of the teams) that stop reading after the handshake, to check that the server closes slow consumers (1013) instead of buffering" },
  steps: { kind: "number", env: "BENCH_STEPS", def: 1, min: 1, max: 100, help: "connect the sockets in this many equal steps, sampling server RSS (after --settle) after each: the slope is the memory per socket" },
  settle: { kind: "number", env: "BENCH_SETTLE", def: 2, min: 0, max: 300, help: "seconds to wait before each server memory sample (after setup, after connecting) so that start-up garbage can be collected" },
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

export type Name = keyof typeof SPECS;
export interface Options {
  standalone: boolean;
  url?: string;
  /** an existing team to chat in (no REST setup), with `users` naming its members */
  team?: string;
  users?: string;
  teams: number;
  members: number;
  sockets: number;
  senders: number;
  rate: number;
  closedLoop: boolean;
  window: number;
  size: number;
  dm: number;
  mix: Mix;
  duration: number;
  warmup: number;
  drain: number;
  via: "header" | "query";
  wsClient: WsClientKind;
  connectConcurrency: number;
  setupConcurrency: number;
  ackTimeout: number;
  settle: number;
  steps: number;
  stalledReaders: number;
  serverEnv: Record<string, string>;
  serverPids: { name: string; pid: number }[];
  metricsUrls: string[];
  label: string;
  jsonOut?: string;
  timeline: boolean;
  keepData: boolean;
}

export function usage(): string {
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
  const team = str("team");
  const users = str("users");
  if (team !== undefined && !users?.includes("{n}")) throw new Error("--team needs --users <pattern with {n}>, e.g. m{n}@bench.dev");
  if (team === undefined && users !== undefined) throw new Error("--users needs --team");
  if (team !== undefined && Number(parsed.teams ?? (env.BENCH_TEAMS || "1")) !== 1) throw new Error("--team: one existing team, so --teams must be 1");
  const teams = team !== undefined ? 1 : Math.floor(num("teams")!);
  const members = Math.floor(num("members")!);
  const sockets = Math.floor(num("sockets") ?? teams * members);
  const via = str("via");
  if (via !== "header" && via !== "query") throw new Error("--via: header or query");
  const wsClient = str("ws-client");
  if (wsClient !== "bun" && wsClient !== "raw") throw new Error("--ws-client: bun or raw");
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
    team,
    users,
    teams,
    members,
    sockets,
    senders: Math.min(sockets, Math.floor(num("senders") ?? sockets)),
    rate: num("rate")!,
    closedLoop: bool("closed-loop"),
    window: Math.floor(num("window")!),
    size: Math.floor(num("size")!),
    dm: num("dm")!,
    mix: parseMix(str("mix") ?? ""),
    duration: num("duration")!,
    warmup: num("warmup")!,
    drain: num("drain")!,
    via,
    wsClient,
    connectConcurrency: Math.floor(num("connect-concurrency")!),
    setupConcurrency: Math.floor(num("setup-concurrency")!),
    ackTimeout: num("ack-timeout")!,
    settle: num("settle")!,
    steps: Math.floor(num("steps")!),
    stalledReaders: Math.floor(num("stalled-readers")!),
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
export function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (!["127.0.0.1", "localhost", "[::1]", "::1"].includes(host)) throw new Error(`refusing to load a non-loopback target: ${host}`);
}
