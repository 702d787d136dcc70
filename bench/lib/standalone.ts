/** `--standalone`: a fresh `bun standalone/main.ts` on a free loopback port, with its own DATA_DIR and secret. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { Subprocess } from "bun";
import { freePort } from "./util";

const ROOT = join(import.meta.dir, "..", "..");

export interface Server {
  base: string;
  secret: string;
  /** The server's DATA_DIR (a bench may seed its store directly). */
  dataDir?: string;
  pid?: number;
  logFile?: string;
  stop(): Promise<void>;
}

export async function startStandaloneServer(extraEnv: Record<string, string>, keepData: boolean): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), "chat-bench-"));
  const secret = randomBytes(36).toString("base64url");
  const port = await freePort();
  const logFile = join(dataDir, "server.log");
  const proc: Subprocess = Bun.spawn(["bun", "standalone/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir, AUTH_JWT_SECRET: secret, METRICS_TOKEN: metricsToken(), LOG_LEVEL: "info", ...extraEnv },
    stdout: Bun.file(logFile),
    stderr: Bun.file(join(dataDir, "server.err")),
    stdin: "ignore",
  });
  const kill = () => proc.kill("SIGKILL");
  // The server must not outlive the generator, even when it is interrupted.
  const interrupted = () => {
    kill();
    if (!keepData) rmSync(dataDir, { recursive: true, force: true });
    process.exit(130);
  };
  process.on("exit", kill);
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
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
    dataDir,
    pid: proc.pid,
    logFile,
    async stop() {
      proc.kill("SIGTERM");
      await Promise.race([proc.exited, Bun.sleep(15_000)]);
      if (proc.exitCode === null) kill();
      process.off("exit", kill);
      process.off("SIGINT", interrupted);
      process.off("SIGTERM", interrupted);
      if (!keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** One metrics token per bench process, shared with the server it spawns (scrape() sends it). */
function metricsToken(): string {
  return (process.env.METRICS_TOKEN ??= `bench-${crypto.randomUUID()}`);
}
