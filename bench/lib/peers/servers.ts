/**
 * The peers bench/peers.ts compares this service with, each a fresh process on a free loopback
 * port that is stopped afterwards: the bare Bun pub/sub floor and Centrifugo v6 (installed by
 * scripts/infra/centrifugo.sh). This service itself is started by ../standalone.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { freePort } from "../util";
import type { Server } from "../standalone";

const ROOT = join(import.meta.dir, "..", "..", "..");

/** Spawns `cmd` with its output in a temp dir and waits (≤ 30 s) until `readyPath` answers 200. */
async function spawnServer(name: string, cmd: string[], env: Record<string, string>, port: number, readyPath: string, dir: string, secret = ""): Promise<Server> {
  const logFile = join(dir, `${name}.log`);
  const proc = Bun.spawn(cmd, { cwd: ROOT, env: { ...process.env, ...env }, stdout: Bun.file(logFile), stderr: Bun.file(join(dir, `${name}.err`)), stdin: "ignore" });
  const kill = () => proc.kill("SIGKILL");
  process.on("exit", kill); // a peer must not outlive the run, even an interrupted one
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    proc.kill("SIGTERM");
    await Promise.race([proc.exited, Bun.sleep(10_000)]);
    if (proc.exitCode === null) kill();
    process.off("exit", kill);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) {
      let err = "";
      try {
        err = readFileSync(join(dir, `${name}.err`), "utf8").trim() || readFileSync(logFile, "utf8").trim();
      } catch {}
      await stop();
      throw new Error(`${name} exited (${proc.exitCode}): ${err.slice(-2000)}`);
    }
    try {
      if ((await fetch(base + readyPath, { signal: AbortSignal.timeout(1000) })).ok) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${name} not ready after 30 s`);
    }
    await Bun.sleep(100);
  }
  return { base, secret, pid: proc.pid, stop };
}

export async function startBunPubSub(): Promise<Server> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "chat-peer-bun-"));
  return spawnServer("bun-pubsub", ["bun", join(import.meta.dir, "bun-pubsub-server.ts")], { PORT: String(port) }, port, "/", dir);
}

/** The Centrifugo binary, built on first use (a few minutes) and cached by scripts/infra/centrifugo.sh. */
export function centrifugoBinary(): string {
  const r = Bun.spawnSync(["bash", join(ROOT, "scripts/infra/centrifugo.sh"), "path"], { stderr: "inherit" });
  const bin = r.stdout.toString().trim();
  if (r.exitCode !== 0 || !bin) throw new Error("scripts/infra/centrifugo.sh path failed");
  return bin;
}

/**
 * Centrifugo with the memory engine and no history (nothing persisted), HS256 connection JWTs
 * (like this service's auth), and client subscribe + publish allowed in channels without a namespace.
 */
export async function startCentrifugo(bin: string): Promise<Server> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "chat-peer-centrifugo-"));
  const secret = randomBytes(36).toString("base64url");
  const config = {
    http_server: { address: "127.0.0.1", port },
    log: { level: "warn" },
    engine: { type: "memory" },
    health: { enabled: true },
    client: { token: { hmac_secret_key: secret } },
    channel: { without_namespace: { allow_subscribe_for_client: true, allow_publish_for_subscriber: true } },
  };
  writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 2));
  return spawnServer("centrifugo", [bin, "--config", join(dir, "config.json")], {}, port, "/health", dir, secret);
}
