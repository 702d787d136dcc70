/**
 * The load harness: one process drives thousands of WebSockets through a protocol `Driver`,
 * sends on an open or closed loop, and measures acks, deliveries (send time carried in the
 * message), errors, server-side closes and the server's /proc and Prometheus figures.
 * bench/load.ts runs it against this service; bench/peers.ts against this service and its peers.
 */
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { Histogram, type Summary } from "./hist";
import type { Options } from "./options";
import type { StalledReader } from "./stalled";
import { CLK_TCK, diffMetrics, logProblems, machine, sampleMachine, sampleProc, scrape, type ProcSample } from "./sys";
import type { Driver, DriverSock, FrameEvents, Target } from "./driver";
import { EMOJI, MsgRing, OP_KINDS, ReactRing, chooseKind, type OpKind, type OpRef } from "./lifecycle";
import { inc, pool } from "./util";
import { dial } from "./ws-client";

/** Actual fractions of sends, edits and reacts (3 decimals). */
function shares(send: number, edit: number, react: number) {
  const n = Math.max(1, send + edit + react);
  const r = (x: number) => Math.round((x / n) * 1000) / 1000;
  return { send: r(send), edit: r(edit), react: r(react) };
}

/** Least-squares slope of y over x (one decimal), null with fewer than two distinct x. */
function slope(points: [number, number][]): number | null {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  const sxx = points.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
  if (n < 2 || sxx === 0) return null;
  return Math.round((points.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0) / sxx) * 10) / 10;
}

interface Sock extends DriverSock {
  open: boolean;
  ready: boolean;
  closedByUs: boolean;
  inflight: number;
  counter: number;
  lastSeq: number;
  lastProgress: number;
  pausedUntil: number;
  /** --mix only: own recently acked messages (edit targets) and recently received ones (react targets) */
  own?: MsgRing;
  rx?: ReactRing;
}

/** Per lifecycle op kind, counted like plain sends (by send time in the window). */
function opStats() {
  return { sent: 0, accepted: 0, rejected: 0, expected: 0, delivered: 0, errors: {} as Record<string, number>, ackHist: new Histogram(), e2eHist: new Histogram() };
}
function opReport(k: ReturnType<typeof opStats>) {
  return { sent: k.sent, accepted: k.accepted, rejected: k.rejected, ack_ms: k.ackHist.summary(), e2e_ms: k.e2eHist.summary(), deliveries: k.delivered, expected_deliveries: k.expected, missing_deliveries: k.expected - k.delivered, errors: k.errors };
}
/** Ring sizes per socket: a few seconds of history at realistic rates; bounded whatever the run length. */
const OWN_RING = 16;
const RX_RING = 64; // ops pick from the newer half: ≥ 32 deliveries before a reacted-to message can leave it

export async function runLoad(o: Options, target: Target, driver: Driver) {
  const info = machine();
  const runId = Date.now().toString(36) + randomBytes(2).toString("hex");
  const started = performance.now();
  const log = (s: string) => console.error(`[load ${((performance.now() - started) / 1000).toFixed(1)}s] ${s}`);
  const procs = target.procs;
  const metricsUrls = target.metricsUrls;
  if (o.dm > 0 && !driver.directMessages) throw new Error(`--dm: the ${driver.name} protocol has no direct messages`);
  if (o.stalledReaders > 0 && !driver.stalledReader) throw new Error(`--stalled-readers: not supported for the ${driver.name} protocol`);
  const mixed = o.mix.edit + o.mix.react > 0;
  if (mixed && !driver.lifecycle) throw new Error(`--mix: the ${driver.name} protocol has no lifecycle ops`);
  if (mixed && o.closedLoop) throw new Error("--mix: open loop only (a closed loop's rate would follow the ops' latency)");

  // ---- setup: users, tokens, channels
  const U = o.teams * o.members;
  const ttlSec = Math.ceil(o.warmup + o.duration + o.drain) + 3600;
  const tSetup = performance.now();
  const setup = await driver.setup({ runId, teams: o.teams, members: o.members, ttlSec });
  const setupSec = (performance.now() - tSetup) / 1000;
  if (setup.calls) log(`setup: ${o.teams} teams, ${U} users, ${setup.calls} REST calls in ${setupSec.toFixed(1)} s (${(setup.calls / setupSec).toFixed(0)} req/s)`);
  await Bun.sleep(o.settle * 1000);
  const procSetup = procs.map((p) => sampleProc(p.pid));

  // ---- connect
  const socks: Sock[] = Array.from({ length: o.sockets }, (_, idx) => {
    const user = idx % U;
    const s: Sock = { idx, user, team: Math.floor(user / o.members), ws: undefined, open: false, ready: false, closedByUs: false, inflight: 0, counter: 0, lastSeq: -1, lastProgress: 0, pausedUntil: 0 };
    if (mixed) {
      s.own = new MsgRing(OWN_RING);
      // A reaction is the user's: only each user's first socket reacts, so its ring is the user's state.
      if (idx < U) s.rx = new ReactRing(RX_RING);
    }
    return s;
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
  const tl = { sent: new Uint32Array(seconds), acked: new Uint32Array(seconds), delivered: new Uint32Array(seconds), errors: new Uint32Array(seconds), closes: new Uint32Array(seconds), ackMaxUs: new Float64Array(seconds), e2eMaxUs: new Float64Array(seconds), serverRssKiB: new Float64Array(seconds) };
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
  let receivedInWindow = 0; // deliveries that *arrived* in the window, whenever sent
  let framesIn = 0;
  let charsIn = 0; // = bytes: every protocol here is ASCII JSON or plain ASCII
  let expected = 0;
  let orderViolations = 0;
  let foreignFrames = 0;
  let timedOut = 0;
  let lastDeliveryAt = 0;
  const ops: Record<OpKind, ReturnType<typeof opStats>> = { edit: opStats(), react: opStats() };
  let unmatchedEvents = 0;
  let fellBack = 0; // ops that found no target and went out as plain sends
  const recipients = (s: Sock, peer: number) => (peer < 0 ? teamSockets[s.team]! : userSockets[peer]! + userSockets[s.user]!);
  const seqCheck = (s: Sock, seq: number) => {
    if (seq >= 0) {
      if (seq <= s.lastSeq) orderViolations++;
      else s.lastSeq = seq;
    }
  };

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
    s.ws.send(driver.publish(s, t, target, ++s.counter, data));
    s.inflight++;
    sentTotal++;
    tl.sent[sec(t)]!++;
    if (inWindow(t)) sentInWindow++;
  };

  // An edit of one of the socket's own acked messages, its send time in the new text.
  const edit = (s: Sock): number => {
    const slot = s.own!.pick(Math.random());
    if (slot < 0) return 0;
    const t = nowUs();
    const head = `${t}:${s.idx}:`;
    const data = head.length >= o.size ? head : head + PAD.slice(0, o.size - head.length);
    s.ws!.send(driver.lifecycle!.edit(s, t, s.own!.peer[slot]!, ++s.counter, s.own!.ids[slot]!, data));
    return t;
  };
  // Toggles one of a few emoji on a message the socket received; not while that toggle is in flight.
  const react = (s: Sock): number => {
    const rx = s.rx;
    const slot = rx ? rx.pick(Math.random()) : -1;
    if (slot < 0) return 0;
    const e = Math.floor(Math.random() * EMOJI.length);
    const t = nowUs();
    const on = rx!.toggle(slot, e, t);
    if (on === null) return 0;
    s.ws!.send(driver.lifecycle!.react(s, t, rx!.peer[slot]!, slot, rx!.gen[slot]!, rx!.ids[slot]!, e, on));
    return t;
  };
  const next = (s: Sock) => {
    if (!mixed || !s.open || !s.ws) return send(s);
    const kind = chooseKind(o.mix, Math.random());
    if (kind === "send") return send(s);
    const t = kind === "edit" ? edit(s) : react(s);
    if (t === 0) {
      fellBack++;
      return send(s);
    }
    s.inflight++;
    sentTotal++;
    tl.sent[sec(t)]!++;
    if (inWindow(t)) ops[kind].sent++;
  };

  const afterReply = (s: Sock, rateLimited: boolean) => {
    s.inflight = Math.max(0, s.inflight - 1);
    s.lastProgress = performance.now();
    if (!o.closedLoop || !sending) return;
    if (rateLimited) {
      if (s.pausedUntil > performance.now()) return;
      s.pausedUntil = performance.now() + 100;
      setTimeout(() => sending && refill(s), 100);
    } else next(s);
  };
  const refill = (s: Sock) => {
    while (sending && s.open && s.inflight < o.window) next(s);
  };

  const ev: FrameEvents = {
    ready(ds) {
      (ds as Sock).ready = true;
    },
    ack(ds, t, target, id) {
      const s = ds as Sock;
      if (id !== undefined) s.own?.push(id, target);
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
    },
    delivery(ds, seq, t, from, id, dm) {
      const s = ds as Sock;
      const now = nowUs();
      seqCheck(s, seq);
      if (id !== undefined && s.rx) {
        // the peer of a DM is its sender; the socket's own DMs are left out (their recipient is not in the frame)
        const fromUser = socks[from]?.user ?? -1;
        if (!dm) s.rx.push(id, -1);
        else if (fromUser >= 0 && fromUser !== s.user) s.rx.push(id, fromUser);
      }
      deliveredTotal++;
      lastDeliveryAt = now;
      if (inWindow(now)) receivedInWindow++;
      const i = sec(now);
      tl.delivered[i]!++;
      if (!inWindow(t)) return;
      delivered++;
      if (from !== s.idx) {
        e2eHist.record(now - t);
        if (now - t > tl.e2eMaxUs[i]!) tl.e2eMaxUs[i] = now - t;
      }
    },
    error(ds, code, t, op) {
      inc(errors, code);
      tl.errors[sec(nowUs())]!++;
      if (op) {
        const k = ops[op.kind];
        inc(k.errors, code);
        if (inWindow(t)) k.rejected++;
        if (op.kind === "react") (ds as Sock).rx?.settle(op.slot, op.gen, op.emoji, op.on, false);
        afterReply(ds as Sock, code === "rate_limited");
      } else if (t > 0) {
        if (inWindow(t)) rejectedInWindow++;
        afterReply(ds as Sock, code === "rate_limited");
      }
    },
    foreign() {
      foreignFrames++;
    },
    opAck(ds, op: OpRef) {
      const s = ds as Sock;
      const now = nowUs();
      ackedTotal++;
      const i = sec(now);
      tl.acked[i]!++;
      const lat = now - op.t;
      if (lat > tl.ackMaxUs[i]!) tl.ackMaxUs[i] = lat;
      if (op.kind === "react") s.rx?.settle(op.slot, op.gen, op.emoji, op.on, true);
      if (inWindow(op.t)) {
        const k = ops[op.kind];
        k.accepted++;
        k.ackHist.record(lat);
        k.expected += recipients(s, op.peer);
      }
      afterReply(s, false);
    },
    edited(ds, seq, t, from) {
      opEvent(ds as Sock, "edit", seq, t, from);
    },
    reaction(ds, seq, id, emoji, on, user) {
      const t = socks[user]?.rx?.sentAt(id, emoji, on) ?? 0;
      if (t <= 0) {
        seqCheck(ds as Sock, seq);
        unmatchedEvents++;
        return;
      }
      opEvent(ds as Sock, "react", seq, t, user); // the reacting socket is the user's first: index = user
    },
  };
  function opEvent(s: Sock, kind: OpKind, seq: number, t: number, from: number) {
    const now = nowUs();
    seqCheck(s, seq);
    lastDeliveryAt = now;
    tl.delivered[sec(now)]!++;
    if (!inWindow(t)) return;
    const k = ops[kind];
    k.delivered++;
    if (from !== s.idx) {
      k.e2eHist.record(now - t);
      if (now - t > tl.e2eMaxUs[sec(now)]!) tl.e2eMaxUs[sec(now)] = now - t;
    }
  }

  const connect = (s: Sock) =>
    new Promise<void>((resolve) => {
      const begin = performance.now();
      const to = driver.open(s);
      const ws = dial(o.wsClient, to.url, to.headers);
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
        driver.onOpen(s, ws);
      };
      ws.onmessage = (e) => {
        framesIn++;
        charsIn += e.data.length;
        driver.onFrame(s, e.data, ev);
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
  const rssNow = () => procs.reduce((n, p) => n + (sampleProc(p.pid)?.rssKiB ?? 0), 0);
  const rssSteps: { sockets: number; rssKiB: number }[] = [{ sockets: 0, rssKiB: rssNow() }];
  let connectSec = 0;
  for (let k = 1; k <= o.steps; k++) {
    const part = socks.slice(Math.floor(((k - 1) * o.sockets) / o.steps), Math.floor((k * o.sockets) / o.steps));
    const tConnect = performance.now();
    await pool(part, o.connectConcurrency, connect);
    connectSec += (performance.now() - tConnect) / 1000;
    if (k < o.steps) {
      await Bun.sleep(o.settle * 1000);
      rssSteps.push({ sockets: socks.filter((s) => s.open).length, rssKiB: rssNow() });
    }
  }
  const stalled: StalledReader[] = [];
  for (let k = 0; k < o.stalledReaders; k++) stalled.push(driver.stalledReader!(Math.floor((k * U) / o.stalledReaders)));
  const stalledOk = (await Promise.all(stalled.map((r) => r.stall()))).filter(Boolean).length;
  if (o.stalledReaders) log(`${stalledOk}/${o.stalledReaders} stalled readers connected and no longer reading`);
  const ready = socks.filter((s) => s.ready && s.open).length;
  log(`connected ${ready}/${o.sockets} sockets in ${connectSec.toFixed(1)} s${Object.keys(connectFailures).length ? ` (failures: ${JSON.stringify(connectFailures)})` : ""}`);
  await Bun.sleep(o.settle * 1000);
  const procConnected = procs.map((p) => sampleProc(p.pid));
  rssSteps.push({ sockets: ready, rssKiB: procConnected.reduce((n, p) => n + (p?.rssKiB ?? 0), 0) });
  const loaderConnected = sampleProc(process.pid);

  // ---- traffic
  const step = o.senders > 0 ? o.sockets / o.senders : 0;
  const senders = Array.from({ length: o.senders }, (_, k) => socks[Math.floor(k * step)]!);
  const idle = o.rate === 0 && !o.closedLoop;
  let schedulerSkipped = 0;
  let loopLagMaxMs = 0;
  const loopLag = new Histogram();
  let lagPrev = performance.now();
  // Server RSS once a second (summed over its processes): growth under load shows up here.
  const rssTimer = setInterval(() => {
    tl.serverRssKiB[sec(nowUs())] = procs.reduce((n, p) => n + (sampleProc(p.pid)?.rssKiB ?? 0), 0);
  }, 1000);
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
          if (s.open) next(s);
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
  clearInterval(rssTimer);

  // ---- teardown
  for (const s of socks) {
    s.closedByUs = true;
    s.ws?.close(1000);
  }
  for (const r of stalled) r.resume();
  const closeUntil = performance.now() + 5000;
  while (performance.now() < closeUntil && (socks.some((s) => s.open) || stalled.some((r) => !r.ended && r.closeCode === undefined))) await Bun.sleep(50);
  const stalledCloses: Record<string, number> = {};
  for (const r of stalled) {
    inc(stalledCloses, r.closeCode !== undefined ? String(r.closeCode) : r.ended ? "tcp closed without close frame" : "still open");
    r.destroy();
  }

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

  return {
    label: o.label,
    at: new Date().toISOString(),
    machine: info,
    target: target.name,
    protocol: driver.name,
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
      mix: mixed ? o.mix : null,
      duration: o.duration,
      warmup: o.warmup,
      via: o.via,
      ws_client: o.wsClient,
      steps: o.steps,
      settle: o.settle,
      stalled_readers: o.stalledReaders,
      server_env: o.serverEnv,
    },
    setup: { seconds: Math.round(setupSec * 100) / 100, rest_calls: setup.calls, rest_errors: setup.errors, rest_ms: setup.latency },
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
    received_in_window_per_s: round(receivedInWindow / D),
    expected_deliveries: expected,
    missing_deliveries: expected - delivered,
    seq_order_violations: orderViolations,
    other_frames: foreignFrames,
    errors,
    server_closes: serverCloses,
    // --mix: the top-level sent … missing_deliveries above count plain sends only; each op kind here.
    lifecycle: mixed
      ? {
          edit: opReport(ops.edit),
          react: opReport(ops.react),
          share_in_window: shares(sentInWindow, ops.edit.sent, ops.react.sent),
          fell_back_to_send: fellBack,
          unmatched_events: unmatchedEvents,
        }
      : null,
    stalled_readers: o.stalledReaders ? { connected: stalledOk, closes: stalledCloses, server_slow_closed: (metricsAfter.get("chat_ws_slow_consumers_closed_total") ?? 0) - (metricsBefore0.get("chat_ws_slow_consumers_closed_total") ?? 0), mib_buffered_per_reader: Math.round(stalled.reduce((n, r) => n + r.bytes, 0) / Math.max(1, stalled.length) / 104857.6) / 10 } : null,
    totals: { sent: sentTotal, acked: ackedTotal, delivered: deliveredTotal, frames_in: framesIn, bytes_in: charsIn, bytes_in_per_delivery: deliveredTotal ? round(charsIn / deliveredTotal) : null },
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
    server_rss_steps: rssSteps.map((r) => ({ sockets: r.sockets, rss_mib: mib(r.rssKiB) })),
    server_rss_kib_per_socket_fit: o.steps > 1 ? slope(rssSteps.map((r) => [r.sockets, r.rssKiB])) : null,
    server_metrics_delta: Object.fromEntries(appendSum),
    loader: {
      cpu_pct: loaderCpuPct,
      rss_mib_connected: mib(loaderConnected?.rssKiB),
      rss_mib_end: mib(loaderAfter?.rssKiB),
      loop_lag_ms: { p99: loopLag.summary().p99, max: round(loopLagMaxMs) },
      scheduler_skipped: schedulerSkipped,
    },
    machine_cpu: { busy_pct: machineBusyPct, of_pct: info.nproc * 100, other_processes_pct: round(Math.max(0, machineBusyPct - loaderCpuPct - serverCpuPct)) },
    server_log: logProblems(target.logFile),
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
      server_rss_mib: mib(tl.serverRssKiB[i] || undefined),
    })),
  };
}

export type Result = Awaited<ReturnType<typeof runLoad>>;

export function printSummary(r: Result, timeline: boolean): void {
  const h = (s: Summary) => `p50 ${s.p50}  p95 ${s.p95}  p99 ${s.p99}  p99.9 ${s.p999}  max ${s.max}  (n=${s.count})`;
  const c = r.config;
  const lines = [
    `== ${r.label || "load"} — ${r.target}${r.protocol !== "chat" ? ` (${r.protocol} protocol)` : ""}, ${r.machine.nproc} cpu ${r.machine.cpu_model}, bun ${r.machine.bun}`,
    `   ${c.teams} teams × ${c.members} members, ${c.sockets} sockets, ${c.senders} senders, ${c.mode}${c.rate !== null ? ` ${c.rate} msg/s` : ""}${c.window !== null ? ` window ${c.window}` : ""}, ${c.size} B, dm ${c.dm}, ${c.duration} s (+${c.warmup} s warmup), ${c.ws_client ?? "bun"} client`,
    `   setup ${r.setup.seconds} s (REST p50 ${r.setup.rest_ms.p50} ms, p99 ${r.setup.rest_ms.p99} ms); connected ${r.connect.ready} in ${r.connect.seconds} s (${r.connect.per_s}/s, p99 ${r.connect.latency_ms.p99} ms)${Object.keys(r.connect.failed).length ? ` failures ${JSON.stringify(r.connect.failed)}` : ""}`,
  ];
  if (c.mode !== "idle") {
    lines.push(
      `   accepted ${r.accepted} (${r.accepted_per_s} msg/s) of ${r.sent} sent; rejected ${r.rejected}; unacked ${r.unacked_after_drain}; timed out ${r.timed_out}`,
      `   ack ms   ${h(r.ack_ms)}`,
      `   e2e ms   ${h(r.e2e_ms)}`,
      `   deliveries ${r.deliveries} (${r.deliveries_per_s}/s; ${r.received_in_window_per_s}/s arrived in the window), expected ${r.expected_deliveries}, missing ${r.missing_deliveries}, seq order violations ${r.seq_order_violations}`,
    );
    const l = r.lifecycle;
    if (l) {
      lines.push(`   mix (the lines above are plain sends only): send ${l.share_in_window.send} / edit ${l.share_in_window.edit} / react ${l.share_in_window.react} of operations in the window; ${l.fell_back_to_send} ops without a target sent as plain sends; ${l.unmatched_events} unmatched reaction events`);
      for (const kind of OP_KINDS) {
        const k = l[kind];
        lines.push(
          `   ${kind.padEnd(5)} accepted ${k.accepted} of ${k.sent}; rejected ${k.rejected}; errors ${JSON.stringify(k.errors)}; events ${k.deliveries}, expected ${k.expected_deliveries}, missing ${k.missing_deliveries}`,
          `   ${kind.padEnd(5)} ack ms   ${h(k.ack_ms)}`,
          `   ${kind.padEnd(5)} e2e ms   ${h(k.e2e_ms)}`,
        );
      }
    }
  }
  lines.push(
    `   errors ${JSON.stringify(r.errors)}; server closes ${JSON.stringify(r.server_closes)}`,
    ...(r.stalled_readers ? [`   stalled readers: ${r.stalled_readers.connected} connected, ${r.stalled_readers.server_slow_closed} closed as slow by the server (whole run), closes seen ${JSON.stringify(r.stalled_readers.closes)}, ${r.stalled_readers.mib_buffered_per_reader} MiB read per reader after resuming`] : []),
    ...r.server.map(
      (s) => `   server ${s.name}(${s.pid}): rss setup ${s.rss_mib_setup} MiB, connected ${s.rss_mib_connected} MiB (${s.rss_kib_per_socket} KiB/socket), end ${s.rss_mib_end} MiB, peak ${s.hwm_mib} MiB, cpu ${s.cpu_pct}%`,
    ),
    `   machine cpu busy ${r.machine_cpu.busy_pct}% of ${r.machine_cpu.of_pct}% (other processes ~${r.machine_cpu.other_processes_pct}%); load avg ${r.machine.loadavg_at_start} -> ${r.loadavg_at_end}`,
    `   loader: cpu ${r.loader.cpu_pct}%, rss ${r.loader.rss_mib_end} MiB, loop lag p99 ${r.loader.loop_lag_ms.p99} ms max ${r.loader.loop_lag_ms.max} ms, scheduler skipped ${r.loader.scheduler_skipped}`,
  );
  if (r.server_rss_steps.length > 2)
    lines.push(`   server rss by sockets: ${r.server_rss_steps.map((x) => `${x.sockets}→${x.rss_mib} MiB`).join(", ")}; fit ${r.server_rss_kib_per_socket_fit} KiB/socket`);
  if (Object.keys(r.server_metrics_delta).length) lines.push(`   server metrics Δ ${JSON.stringify(r.server_metrics_delta)}`);
  if (Object.keys(r.server_log).length) lines.push(`   server log ${JSON.stringify(r.server_log)}`);
  if (timeline) {
    lines.push("   s  sent  acked  delivered  err  close  ack_max_ms  e2e_max_ms  server_rss_mib");
    for (const t of r.timeline) lines.push(`   ${String(t.s).padStart(2)} ${String(t.sent).padStart(5)} ${String(t.acked).padStart(6)} ${String(t.delivered).padStart(10)} ${String(t.errors).padStart(4)} ${String(t.closes).padStart(6)} ${String(t.ack_max_ms).padStart(11)} ${String(t.e2e_max_ms).padStart(11)} ${String(t.server_rss_mib ?? "-").padStart(14)}`);
  }
  console.log(lines.join("\n"));
}
