/**
 * The fault suite: the distributed stack (scripts/dist.sh) under steady chat load, and one piece at a
 * time killed with SIGKILL for a while, then started again with the project's own scripts. Per
 * scenario: sent / acked / unavailable / lost after ack (deliveries, history) / duplicates / order
 * violations / time to recover, and readiness seen going down and coming back. Exits 1 on any loss,
 * duplicate, disorder or readiness miss, and when live chat stopped while the database was down.
 *
 *   bun run test:faults                      # every scenario, 10 s outages
 *   FAULT_OUTAGE_SEC=8 bun run test:faults   # the short form CI runs
 * FAULT_SCENARIOS=controller,relay,kafka,database,s3 picks scenarios; DIST_PORT_OFFSET (default 700)
 * and INFRA_STATE (default /tmp/chat-faults) keep the stack apart from others; FAULT_KEEP=1 leaves it up.
 */
import { join } from "node:path";
import { signDevToken } from "@chat/common/auth";
import { Member, type Stats } from "./member";

const ROOT = join(import.meta.dir, "../..");
const O = Number(process.env.DIST_PORT_OFFSET ?? 700);
const STATE = process.env.INFRA_STATE ?? "/tmp/chat-faults";
const OUTAGE_MS = Number(process.env.FAULT_OUTAGE_SEC ?? 10) * 1000;
const RATE = Number(process.env.FAULT_RATE_PER_USER ?? 4); // messages per second per user
const TEAMS = Number(process.env.FAULT_TEAMS ?? 3);
const USERS = Number(process.env.FAULT_USERS_PER_TEAM ?? 6);
const SCENARIOS = (process.env.FAULT_SCENARIOS ?? "controller,relay,kafka,database,s3").split(",");

const PORTS = {
  nginx: 8088 + O,
  relays: [8181 + O, 8182 + O],
  controllerOps: [9051 + O, 9052 + O],
  management: 8190 + O,
  kafka: 19092 + O,
  kafkaController: 19093 + O,
  ferretdb: 27018 + O,
  s3: 17070 + O,
};
const env: Record<string, string> = {
  ...(process.env as Record<string, string>),
  DIST_PORT_OFFSET: String(O),
  INFRA_STATE: STATE,
  KAFKA_PORT: String(PORTS.kafka),
  KAFKA_CONTROLLER_PORT: String(PORTS.kafkaController),
  FERRETDB_PORT: String(PORTS.ferretdb),
  S3_PORT: String(PORTS.s3),
  LOG_LEVEL: "info",
  // A killed controller's partitions stall for the consumer session: 10 s here (30 s by default).
  KAFKA_SESSION_TIMEOUT_SEC: process.env.KAFKA_SESSION_TIMEOUT_SEC ?? "10",
};
const log = (...a: unknown[]) => console.error(`[faults ${new Date().toISOString().slice(11, 23)}]`, ...a);

async function sh(args: string[], extra: Record<string, string> = {}): Promise<string> {
  const p = Bun.spawn(args, { cwd: ROOT, env: { ...env, ...extra }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${args.join(" ")} failed (${code}):\n${err.split("\n").slice(-20).join("\n")}`);
  return out;
}

/** What each scenario kills, how it finds its pid, how it comes back, and who must report not ready meanwhile. */
interface Fault {
  name: string;
  pidFile: string;
  /** Part of the process's command line, to find it if its pid file is stale. */
  marker: string;
  restart: string[];
  /** ready URLs that must go false while it is down and true again after. */
  notReady: string[];
  uploads?: boolean;
  /** Live chat must go on while it is down: no gap in deliveries longer than LIVE_GAP_MS. */
  live?: boolean;
}
const LIVE_GAP_MS = 2000;
const relayReady = PORTS.relays.map((p) => `http://127.0.0.1:${p}/v1/ready`);
const controllerReady = PORTS.controllerOps.map((p) => `http://127.0.0.1:${p}/v1/ready`);
const managementReady = `http://127.0.0.1:${PORTS.management}/v1/ready`;
const FAULTS: Record<string, Fault> = {
  controller: { name: "controller1", pidFile: `${STATE}/dist/controller1.pid`, marker: "controller/src/main.ts", restart: ["bash", "scripts/dist.sh", "restart", "controller1"], notReady: [] },
  relay: { name: "relay1", pidFile: `${STATE}/dist/relay1.pid`, marker: "relay/src/main.ts", restart: ["bash", "scripts/dist.sh", "restart", "relay1"], notReady: [] },
  kafka: { name: "kafka", pidFile: `${STATE}/kafka/kafka.pid`, marker: "kafka.Kafka", restart: ["bash", "scripts/infra/kafka.sh", "start"], notReady: [...relayReady, ...controllerReady, managementReady] },
  database: { name: "ferretdb", pidFile: `${STATE}/ferretdb/ferretdb.pid`, marker: "chat-ferretdb", restart: ["bash", "scripts/infra/ferretdb.sh", "start"], notReady: [...controllerReady, managementReady], live: true },
  s3: { name: "versitygw", pidFile: `${STATE}/versitygw/versitygw.pid`, marker: "versitygw", restart: ["bash", "scripts/infra/versitygw.sh", "start"], notReady: [managementReady], uploads: true },
};

/** The pid of a piece of the stack: its pid file if that is really it, else a scan of /proc (setsid may fork). */
async function pidOf(f: Fault): Promise<number> {
  const cmdline = async (pid: number) => (await Bun.file(`/proc/${pid}/cmdline`).text().catch(() => "")).replaceAll("\0", " ");
  const fromFile = Number((await Bun.file(f.pidFile).text().catch(() => "")).trim());
  const ours = async (pid: number) => {
    const c = await cmdline(pid);
    return c.includes(STATE) && c.includes(f.marker);
  };
  if (fromFile && (await ours(fromFile))) return fromFile;
  if (f.pidFile.includes("/dist/")) throw new Error(`no running ${f.name}`); // two relays share a command line: only the pid file tells them apart
  const { readdirSync } = await import("node:fs");
  for (const d of readdirSync("/proc")) if (/^\d+$/.test(d) && (await ours(Number(d)))) return Number(d);
  throw new Error(`no running ${f.name}`);
}

async function ready(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(1500) })).status === 200;
  } catch {
    return false;
  }
}

/** Watches ready URLs: whether each went false at some point, and when each was last seen false. */
function watchReadiness(urls: string[]) {
  const wentDown = new Set<string>();
  const lastDown = new Map<string, number>();
  let on = true;
  const loop = (async () => {
    while (on) {
      await Promise.all(
        urls.map(async (u) => {
          if (!(await ready(u))) wentDown.add(u), lastDown.set(u, Date.now());
        }),
      );
      await Bun.sleep(250);
    }
  })();
  return {
    wentDown,
    lastDown,
    stop: async () => {
      on = false;
      await loop;
    },
  };
}

async function api(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`http://127.0.0.1:${PORTS.nginx}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    redirect: "manual",
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/** Every message of a team as stored, oldest first (history pages, newest first, through management). */
async function history(team: string, token: string): Promise<any[]> {
  const all: any[] = [];
  let before: number | undefined;
  for (;;) {
    const r = await api("GET", `/v1/teams/${team}/messages?limit=100${before ? `&before=${before}` : ""}`, token);
    if (r.status !== 200) throw new Error(`history ${r.status}`);
    all.push(...r.body.data);
    if (r.body.data.length < 100) break;
    before = r.body.data.at(-1).seq;
  }
  return all.reverse();
}

interface Row {
  scenario: string;
  outageS: number;
  sent: number;
  acked: number;
  unavailable: number;
  lostDelivery: number;
  lostHistory: number;
  duplicates: number;
  ackMismatch: number;
  disorder: number;
  maxAckGapS: number;
  /** The longest time without any delivery while the part was down (after the first second). */
  outageDeliveryGapS: number;
  recoverS: number;
  readiness: string;
  uploads?: string;
  ok: boolean;
}

async function scenario(key: string, secret: string): Promise<Row> {
  const fault = FAULTS[key]!;
  const token = (u: string) => signDevToken(secret, u);
  const stamp = Date.now().toString(36);
  // Teams of USERS members, members split across both relays (nginx is bypassed to pin them).
  const members: Member[] = [];
  const teams: { id: string; owner: string }[] = [];
  for (let t = 0; t < TEAMS; t++) {
    const users = Array.from({ length: USERS }, (_, i) => `f-${key}-${stamp}-${t}-${i}@faults.dev`);
    const r = await api("POST", "/v1/teams", await token(users[0]!), { name: `faults ${key} ${t}` });
    if (r.status !== 201) throw new Error(`create team ${r.status}`);
    const team = r.body.data.id as string;
    for (const u of users.slice(1)) {
      const m = await api("POST", `/v1/teams/${team}/members`, await token(users[0]!), { user_id: u });
      if (m.status !== 201) throw new Error(`add member ${m.status}`);
    }
    teams.push({ id: team, owner: users[0]! });
    users.forEach((u, i) => members.push(new Member(u, team, PORTS.relays, (members.length + i) % 2, token)));
  }
  await Promise.all(members.map((m) => m.start()));
  for (const m of members) m.sendAtRate(RATE);
  const stats = () => members.map((m) => m.stats);

  // Uploads through management to S3 (the s3 scenario): each confirmed PUT must be downloadable afterwards.
  const uploads = { ok: [] as { id: string; body: string }[], failed: 0 };
  let uploading = fault.uploads === true;
  const uploader = (async () => {
    const owner = teams[0]!;
    const tok = await token(owner.owner);
    for (let i = 0; uploading; i++) {
      try {
        const body = `upload ${i} ${stamp}`.padEnd(1024, ".");
        const r = await api("POST", `/v1/teams/${owner.id}/attachments`, tok, { type: "file", content_type: "application/octet-stream", size: body.length, filename: `f${i}.bin` });
        if (r.status !== 201 && r.status !== 200) throw new Error(String(r.status));
        // PROTOCOL section 5: the body and the Content-Type named at creation, no other header.
        const put = await fetch(r.body.data.upload_url, { method: "PUT", headers: { "content-type": "application/octet-stream" }, body, signal: AbortSignal.timeout(5000) });
        if (!put.ok) throw new Error(String(put.status));
        uploads.ok.push({ id: r.body.data.attachment_id, body });
      } catch {
        uploads.failed++;
      }
      await Bun.sleep(200);
    }
  })();

  await Bun.sleep(3000); // steady state first
  const watch = watchReadiness(fault.notReady);
  const pid = await pidOf(fault);
  log(`${key}: SIGKILL ${fault.name} (pid ${pid})`);
  const killedAt = Date.now();
  process.kill(pid, "SIGKILL");
  await Bun.sleep(OUTAGE_MS);
  // Readiness must report the outage (checked below). Detection takes 5 s of refusals plus a dead database's
  // server selection, which on a loaded machine came close to the short form's 8 s: the dependency stays down
  // until every watched URL has said so, at most 10 s more, instead of racing the fixed outage.
  for (const until = Date.now() + 10_000; fault.notReady.some((u) => !watch.wentDown.has(u)) && Date.now() < until; ) await Bun.sleep(100);
  log(`${key}: restarting ${fault.name}`);
  await sh(fault.restart);
  const restartedAt = Date.now();
  // Recovered: every watched ready URL true, and a probe through each relay acked and delivered through the other.
  const probeOk = async () => {
    if (!(await Promise.all([...relayReady, ...controllerReady, managementReady].map(ready))).every(Boolean)) return false;
    return (await Promise.all(members.slice(0, 2).map((m) => m.probe()))).every(Boolean);
  };
  while (!(await probeOk())) {
    if (Date.now() - restartedAt > 120_000) throw new Error(`${key}: not recovered after 120 s`);
    await Bun.sleep(200);
  }
  const recoverS = (Date.now() - restartedAt) / 1000;
  await watch.stop();
  log(`${key}: recovered ${recoverS.toFixed(1)} s after the restart; settling`);
  await Bun.sleep(3000);
  for (const m of members) m.stopSending();
  uploading = false;
  await uploader;
  // Everything sent gets an answer in the end: the clients resend until acked.
  const settleBy = Date.now() + 60_000;
  while (members.some((m) => m.pendingCount > 0) && Date.now() < settleBy) await Bun.sleep(200);
  // Deliveries converge: every member holds every acked message of its team.
  const ackedIds = new Map<string, Set<string>>();
  for (const m of members) for (const a of m.acks.values()) (ackedIds.get(m.team) ?? ackedIds.set(m.team, new Set()).get(m.team)!).add(a.id);
  const missing = () => members.reduce((n, m) => n + [...(ackedIds.get(m.team) ?? [])].filter((id) => !m.delivered.has(id)).length, 0);
  for (const until = Date.now() + 30_000; missing() > 0 && Date.now() < until; ) await Bun.sleep(250);
  const lostDelivery = missing();

  // History may lag live delivery while the store catches up (docs/reliability.md): it must converge too.
  const checkHistory = async () => {
    let missing = 0;
    let dupes = 0;
    for (const t of teams) {
      const stored = await history(t.id, await token(t.owner));
      const ids = new Set(stored.map((m) => m.id));
      missing += [...(ackedIds.get(t.id) ?? [])].filter((id) => !ids.has(id)).length;
      const keys = new Set<string>();
      for (const m of stored)
        if (m.client_msg_id) {
          const k = `${m.from} ${m.client_msg_id}`;
          if (keys.has(k)) dupes++;
          keys.add(k);
        }
    }
    return { missing, dupes };
  };
  const historyFrom = Date.now();
  let hist = await checkHistory();
  for (const until = historyFrom + 30_000; hist.missing > 0 && Date.now() < until; ) {
    await Bun.sleep(500);
    hist = await checkHistory();
  }
  if (Date.now() - historyFrom > 1000) log(`${key}: history ${hist.missing ? `still ${hist.missing} behind` : "complete"} ${((Date.now() - historyFrom) / 1000).toFixed(1)} s after deliveries`);
  const lostHistory = hist.missing;
  const duplicates = hist.dupes;
  let lostUploads = 0;
  for (const u of uploads.ok) {
    const [team, id] = u.id.split("/");
    const r = await api("GET", `/v1/attachments/${team}/${id}`, await token(teams[0]!.owner));
    const url = r.headers.get("location") ?? r.body?.data?.url;
    const got = url ? await fetch(url).then((x) => (x.ok ? x.text() : "")) : "";
    if (got !== u.body) lostUploads++;
  }
  const s = stats().reduce(
    (a: Stats, b: Stats) => ({
      sent: a.sent + b.sent,
      acked: a.acked + b.acked,
      unavailable: a.unavailable + b.unavailable,
      duplicateDeliveries: a.duplicateDeliveries + b.duplicateDeliveries,
      ackMismatch: a.ackMismatch + b.ackMismatch,
      disorder: a.disorder + b.disorder,
      otherErrors: a.otherErrors + b.otherErrors,
    }),
    { sent: 0, acked: 0, unavailable: 0, duplicateDeliveries: 0, ackMismatch: 0, disorder: 0, otherErrors: 0 },
  );
  const acks = members.flatMap((m) => m.ackTimes).sort((a, b) => a - b);
  let maxGap = 0;
  let maxGapAt = 0;
  for (let i = 1; i < acks.length; i++)
    if (acks[i]! > killedAt - 1000 && acks[i]! - acks[i - 1]! > maxGap) (maxGap = acks[i]! - acks[i - 1]!), (maxGapAt = acks[i - 1]! - killedAt);
  log(`${key}: longest ack gap ${(maxGap / 1000).toFixed(1)} s from ${(maxGapAt / 1000).toFixed(1)} s after the kill (restart at ${((restartedAt - killedAt) / 1000).toFixed(1)} s)`);
  // Deliveries while it was down: from a second after the kill (in-flight work settles) to the restart.
  const during = [killedAt + 1000, ...members.flatMap((m) => m.deliveryTimes).filter((t) => t > killedAt + 1000 && t < restartedAt), restartedAt].sort((a, b) => a - b);
  let deliveryGap = 0;
  for (let i = 1; i < during.length; i++) deliveryGap = Math.max(deliveryGap, during[i]! - during[i - 1]!);
  const missedDown = fault.notReady.filter((u) => !watch.wentDown.has(u));
  const readyBackS = Math.max(0, ...fault.notReady.map((u) => ((watch.lastDown.get(u) ?? restartedAt) - restartedAt) / 1000));
  await Promise.all(members.map((m) => m.close()));
  const readiness = fault.notReady.length === 0 ? "n/a" : missedDown.length ? `NOT DOWN: ${missedDown.join(" ")}` : `down, back ${readyBackS.toFixed(1)} s after restart`;
  const row: Row = {
    scenario: key,
    outageS: (restartedAt - killedAt) / 1000,
    sent: s.sent,
    acked: s.acked,
    unavailable: s.unavailable,
    lostDelivery,
    lostHistory,
    duplicates: duplicates + s.duplicateDeliveries,
    ackMismatch: s.ackMismatch,
    disorder: s.disorder,
    maxAckGapS: maxGap / 1000,
    outageDeliveryGapS: deliveryGap / 1000,
    recoverS,
    readiness,
    uploads: fault.uploads ? `${uploads.ok.length} ok, ${uploads.failed} refused, ${lostUploads} lost` : undefined,
    ok: lostDelivery === 0 && lostHistory === 0 && duplicates + s.duplicateDeliveries === 0 && s.ackMismatch === 0 && s.disorder === 0 && s.acked === s.sent && missedDown.length === 0 && readyBackS < 15 && lostUploads === 0 && (!fault.live || deliveryGap <= LIVE_GAP_MS),
  };
  return row;
}

function table(rows: Row[]): string {
  const head = ["scenario", "outage s", "sent", "acked", "unavailable", "lost (deliveries)", "lost (history)", "duplicates", "ack mismatch", "disorder", "longest ack gap s", "longest delivery gap while down s", "recover s", "readiness", "uploads", "result"];
  const lines = rows.map((r) => [
    r.scenario,
    r.outageS.toFixed(1),
    r.sent,
    r.acked,
    r.unavailable,
    r.lostDelivery,
    r.lostHistory,
    r.duplicates,
    r.ackMismatch,
    r.disorder,
    r.maxAckGapS.toFixed(1),
    r.outageDeliveryGapS.toFixed(1),
    r.recoverS.toFixed(1),
    r.readiness,
    r.uploads ?? "",
    r.ok ? "ok" : "FAIL",
  ]);
  return [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...lines.map((l) => `| ${l.join(" | ")} |`)].join("\n");
}

async function main() {
  log(`starting the distributed stack (offset ${O}, state ${STATE})`);
  await sh(["bash", "scripts/dist.sh", "stop"]).catch(() => "");
  // Empty stores and log every run: FerretDB's SQLite backend scans a whole collection for a channel's
  // messages after a seq (resume, recovery), so what earlier runs left would slow this one down.
  const { rmSync } = await import("node:fs");
  for (const piece of ["dist", "kafka", "ferretdb", "versitygw", "nginx"]) rmSync(join(STATE, piece), { recursive: true, force: true });
  const out = await sh(["bash", "scripts/dist.sh", "start"]);
  const secret = /AUTH_JWT_SECRET=(\S+)/.exec(out)![1]!;
  const rows: Row[] = [];
  let failed = false;
  try {
    for (const key of SCENARIOS) {
      if (!FAULTS[key]) throw new Error(`unknown scenario ${key}`);
      const row = await scenario(key, secret);
      rows.push(row);
      log(`${key}: ${row.ok ? "ok" : "FAIL"}`, JSON.stringify(row));
      failed ||= !row.ok;
    }
  } catch (err) {
    failed = true;
    log("aborted:", err);
  } finally {
    console.log(`\nFault suite: ${TEAMS} teams x ${USERS} members over both relays, ${RATE} msg/s per member, outages of ${OUTAGE_MS / 1000} s\n`);
    console.log(table(rows));
    if (process.env.FAULT_KEEP !== "1") await sh(["bash", "scripts/dist.sh", "stop"]).catch((e) => log("stop failed", e));
  }
  process.exit(failed ? 1 : 0);
}

await main();
