#!/usr/bin/env bun
/**
 * Load generator for the chat service (PROTOCOL.md): creates teams over REST, opens WebSockets,
 * sends text messages and measures acks, fan-out deliveries, errors and server-side closes.
 *
 *   bun bench/load.ts --standalone --teams 100 --members 10 --rate 500 --duration 30
 *   AUTH_JWT_SECRET=... bun bench/load.ts --url http://127.0.0.1:8088 --teams 20 --members 10 --rate 200
 *   AUTH_JWT_SECRET=... bun bench/load.ts --url http://127.0.0.1:8088 --team <id> --users 'm{n}@bench.dev' --members 1000 --rate 200
 *
 * `bun bench/load.ts --help` lists every option; each has a BENCH_* environment equivalent.
 * Only loopback targets are accepted (see bench/README.md). The sockets, traffic and measurement
 * live in lib/harness.ts (shared with bench/peers.ts); this service's protocol in lib/drivers/chat.ts.
 */
import { appendFileSync } from "node:fs";
import { chatDriver } from "./lib/drivers/chat";
import { printSummary, runLoad } from "./lib/harness";
import { parseOptions, usage, type Name, type Options } from "./lib/options";
import { startStandaloneServer, type Server } from "./lib/standalone";

export async function run(o: Options) {
  const started = performance.now();
  const log = (s: string) => console.error(`[load ${((performance.now() - started) / 1000).toFixed(1)}s] ${s}`);

  let server: Server;
  if (o.team && o.standalone) throw new Error("--team needs --url (and AUTH_JWT_SECRET): a fresh standalone server has no existing team");
  if (o.standalone) {
    server = await startStandaloneServer(o.serverEnv, o.keepData);
    log(`standalone server pid ${server.pid} at ${server.base}`);
  } else {
    const secret = process.env.AUTH_JWT_SECRET;
    if (!secret) throw new Error("--url needs AUTH_JWT_SECRET (the server's HS256 secret) to mint tokens");
    server = { base: o.url!, secret, stop: async () => {} };
  }
  const limitRate = Number(o.serverEnv.LIMIT_RATE_PER_SEC ?? (o.standalone ? 20 : NaN));
  if (!o.closedLoop && o.senders > 0 && o.rate / o.senders > (Number.isNaN(limitRate) ? 20 : limitRate))
    log(`warning: ${(o.rate / o.senders).toFixed(1)} msg/s per sender exceeds the server's per-connection limit (default 20/s, burst 40); expect rate_limited`);

  try {
    const target = {
      name: o.standalone ? "standalone" : o.url!,
      procs: o.standalone ? [{ name: "standalone", pid: server.pid! }] : o.serverPids,
      metricsUrls: o.metricsUrls.length ? o.metricsUrls : [`${server.base}/v1/metrics`],
      logFile: server.logFile,
    };
    const trackIds = o.mix.edit + o.mix.react > 0; // only a --mix run reads message ids: an ordinary run's hot path is untouched
    const existing = o.team ? { team: o.team, users: o.users! } : undefined;
    const result = await runLoad(o, target, chatDriver({ base: server.base, secret: server.secret, via: o.via, setupConcurrency: o.setupConcurrency, trackIds, existing }));
    printSummary(result, o.timeline);
    const line = JSON.stringify(result);
    console.log(line);
    if (o.jsonOut) appendFileSync(o.jsonOut, line + "\n");
    return result;
  } finally {
    await server.stop();
  }
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
