import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { signDevToken } from "@chat/common/auth";

export const SECRET = "e2e-secret-".padEnd(48, "x");
const ROOT = join(import.meta.dir, "..");
const children = new Set<Subprocess>();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

/** A chat server under test: the standalone process, or the distributed stack named by E2E_BASE_URL. */
export interface Target {
  base: string; // http://host:port
  ws: string; // ws://host:port/v1/ws
  token(user: string, ttl?: number): Promise<string>;
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  restart(): Promise<void>;
  logs: string[];
}

/** Starts `bun standalone/main.ts` on a free port with its own DATA_DIR and waits for its "listening" line. */
export async function startStandalone(env: Record<string, string> = {}, dataDir = mkdtempSync(join(tmpdir(), "chat-e2e-"))): Promise<Target> {
  const logs: string[] = [];
  let proc: Subprocess<"ignore", "pipe", "inherit">;
  let port = 0;
  const spawn = async () => {
    proc = Bun.spawn(["bun", "standalone/main.ts"], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir, AUTH_JWT_SECRET: SECRET, LOG_LEVEL: "info", ...env },
      stdout: "pipe",
      stderr: "inherit",
    });
    children.add(proc);
    void proc.exited.then(() => children.delete(proc));
    port = await waitForListening(proc, logs);
  };
  await spawn();
  const target: Target = {
    get base() {
      return `http://127.0.0.1:${port}`;
    },
    get ws() {
      return `ws://127.0.0.1:${port}/v1/ws`;
    },
    token: (user, ttl) => signDevToken(SECRET, user, ttl),
    async stop(signal = "SIGTERM") {
      proc.kill(signal);
      await proc.exited;
    },
    async restart() {
      await spawn();
    },
    logs,
  };
  return target;
}

async function waitForListening(proc: Subprocess<"ignore", "pipe", "inherit">, logs: string[]): Promise<number> {
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited before listening:\n${logs.join("\n")}`);
    buf += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      logs.push(line);
      if (line.includes('"msg":"listening"')) {
        const port = Number(/:(\d+)$/.exec(JSON.parse(line).url)![1]);
        // keep draining stdout so the child never blocks on a full pipe
        void (async () => {
          for (;;) {
            const r = await reader.read();
            if (r.done) return;
            for (const l of decoder.decode(r.value, { stream: true }).split("\n")) if (l) logs.push(l);
            if (logs.length > 5000) logs.splice(0, logs.length - 5000);
          }
        })();
        return port;
      }
    }
  }
}

/** The distributed stack when E2E_BASE_URL is set (it cannot be restarted from here). */
export function remoteTarget(base: string, secret: string): Target {
  return {
    base,
    ws: base.replace(/^http/, "ws") + "/v1/ws",
    token: (user, ttl) => signDevToken(secret, user, ttl),
    stop: async () => {},
    restart: async () => {},
    logs: [],
  };
}

export async function api(t: Target, method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(t.base + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    redirect: "manual",
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed };
}

/**
 * Waits until the team's history, as `token`'s user sees it, holds message `id`. Controllers publish
 * as they consume and store beside (history may lag live delivery by one store write), and a channel
 * is stored in log order: once `id` is in history, so is everything before it in the team.
 */
export async function stored(t: Target, team: string, token: string, id: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (let pause = 2; ; pause = Math.min(100, pause * 2)) {
    const r = await api(t, "GET", `/v1/teams/${team}/messages?limit=100`, token);
    if (r.status === 200 && r.body.data.some((m: { id: string }) => m.id === id)) return;
    if (Date.now() > deadline) throw new Error(`message ${id} not in the history of ${team} after 15 s (last answer ${r.status})`);
    await Bun.sleep(pause);
  }
}

export type Frame = Record<string, any>;

/** What an upgrade request to `url` is answered (a refused upgrade says why in its status; 0: no answer). */
export async function upgradeStatus(url: string, token?: string): Promise<number> {
  const headers: Record<string, string> = { upgrade: "websocket", connection: "Upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" };
  if (token) headers.authorization = `Bearer ${token}`;
  try {
    const res = await fetch(url.replace(/^ws/, "http"), { headers });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
}

/** Whether `ws` opens (true) or fails before it does (false; the status is not exposed). */
export function opened(ws: WebSocket): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    ws.addEventListener("open", () => resolve(true), { once: true });
    ws.addEventListener("error", () => resolve(false), { once: true });
  });
}

/** A WebSocket client that queues every frame and lets a test await the next one matching a predicate. */
export class Client {
  readonly frames: Frame[] = [];
  private cursor = 0;
  private waiters: (() => void)[] = [];
  closed: { code: number; reason: string } | undefined;
  /** The token it connected with (for REST calls as the same user). */
  token = "";
  private closeWaiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (e) => {
      this.frames.push(JSON.parse(String(e.data)));
      for (const w of this.waiters.splice(0)) w();
    });
    ws.addEventListener("close", (e) => {
      this.closed = { code: e.code, reason: e.reason };
      for (const w of [...this.waiters.splice(0), ...this.closeWaiters.splice(0)]) w();
    });
  }

  /**
   * Opens a socket and waits for its `ready` frame. Behind the balancer, right after a test restarted or
   * killed a relay, an upgrade can meet a moment with no relay to take it (503, `unavailable`), or a relay
   * draining: like any client, this one retries a few times with backoff when the refusal was a 503 or is
   * already gone (the same upgrade, asked again without the socket, is taken: 101); any other fails at once.
   */
  static async connect(t: Target, token: string, query = "", via: "header" | "query" = "header"): Promise<Client> {
    const url = via === "query" ? `${t.ws}?access_token=${encodeURIComponent(token)}${query ? "&" + query : ""}` : `${t.ws}${query ? "?" + query : ""}`;
    for (let attempt = 0; ; attempt++) {
      const ws = via === "header" ? new WebSocket(url, { headers: { authorization: `Bearer ${token}` } } as any) : new WebSocket(url);
      const c = new Client(ws);
      c.token = token;
      if (await opened(ws)) {
        const ready = await c.next((f) => f.event === "ready");
        if (!ready) throw new Error("no ready frame");
        return c;
      }
      const status = await upgradeStatus(url, via === "header" ? token : undefined);
      if ((status !== 503 && status !== 101) || attempt >= 5) throw new Error(`websocket failed to open (upgrade answered ${status})`);
      await Bun.sleep(100 * 2 ** attempt); // backoff before the next attempt, as a client would
    }
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** The next frame (after those already taken) matching `pred`; frames before it that don't match are skipped. */
  next(pred: (f: Frame) => boolean = () => true, timeoutMs = 10_000): Promise<Frame> {
    return this.scan(pred, timeoutMs, () => this.cursor, (i) => (this.cursor = i));
  }

  /** The first frame ever received matching `pred`, waiting for it if needed; independent of `next`'s cursor. */
  find(pred: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    let scanned = 0;
    return this.scan(pred, timeoutMs, () => scanned, (i) => (scanned = i));
  }

  private async scan(pred: (f: Frame) => boolean, timeoutMs: number, from: () => number, moveTo: (i: number) => void): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = from(); i < this.frames.length; ) {
        const f = this.frames[i++]!;
        moveTo(i);
        if (pred(f)) return f;
      }
      if (this.closed) throw new Error(`socket closed (${this.closed.code}) while waiting`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a frame; got ${JSON.stringify(this.frames.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Sends and waits for this message's ack (or error) by client_msg_id. */
  async request(frame: Frame & { client_msg_id: string }): Promise<Frame> {
    this.send(frame);
    return this.find((f) => (f.event === "ack" || f.event === "error") && f.client_msg_id === frame.client_msg_id);
  }

  messages(channel?: string): Frame[] {
    return this.frames.filter((f) => f.event === "message" && (!channel || f.channel_id === channel));
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    const p = new Promise<void>((r) => this.closeWaiters.push(r));
    this.ws.close();
    return p;
  }

  waitClosed(): Promise<{ code: number; reason: string }> {
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((r) => this.closeWaiters.push(() => r(this.closed!)));
  }
}

let seq = 0;
export const uniqueUser = (name: string) => `${name}-${Date.now().toString(36)}-${++seq}@e2e.dev`;

export async function createTeam(t: Target, owner: string, members: string[] = [], name = "Team"): Promise<string> {
  const tok = await t.token(owner);
  const res = await api(t, "POST", "/v1/teams", tok, { name });
  if (res.status !== 201) throw new Error(`create team: ${res.status} ${JSON.stringify(res.body)}`);
  for (const m of members) {
    const r = await api(t, "POST", `/v1/teams/${res.body.data.id}/members`, tok, { user_id: m });
    if (r.status !== 201) throw new Error(`add member: ${r.status} ${JSON.stringify(r.body)}`);
  }
  return res.body.data.id;
}
