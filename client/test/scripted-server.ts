import type { Server, ServerWebSocket } from "bun";

/** One socket the scripted server accepted: its URL, the frames the client sent, and a way to answer. */
export class ScriptedSocket {
  readonly received: Record<string, any>[] = [];
  closed = false;
  private waiters: (() => void)[] = [];
  constructor(
    readonly ws: ServerWebSocket<{ id: number }>,
    readonly url: URL,
  ) {}
  get token(): string | null {
    return this.url.searchParams.get("access_token");
  }
  get since(): string[] {
    return this.url.searchParams.getAll("since");
  }
  push(frame: object): void {
    this.ws.send(JSON.stringify(frame));
  }
  close(code = 1001, reason = "scripted"): void {
    this.ws.close(code, reason);
  }
  /** The next frame from the client matching `pred` (among all received so far, then new ones). */
  async frame(pred: (f: Record<string, any>) => boolean = () => true, timeoutMs = 3000): Promise<Record<string, any>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.received.find(pred);
      if (f) return f;
      if (Date.now() > deadline) throw new Error(`no matching frame; got ${JSON.stringify(this.received)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }
  /** @internal */
  got(f: Record<string, any>): void {
    this.received.push(f);
    for (const w of this.waiters.splice(0)) w();
  }
}

/**
 * A Bun.serve that plays the chat server's side for client tests: it accepts (or refuses) upgrades
 * at /v1/ws as the test says, records every frame, and answers `GET /v1/teams` for the client's
 * diagnosis of refused upgrades.
 */
export class ScriptedServer {
  readonly sockets: ScriptedSocket[] = [];
  /** Decides each upgrade: a status to refuse it, or undefined to accept. */
  admit: (url: URL) => number | undefined = () => undefined;
  /** Answers GET /v1/teams: 200 with no teams, or this status. */
  teamsStatus: (token: string | undefined) => number = () => 200;
  private readonly server: Server<{ id: number }>;
  private waiters: (() => void)[] = [];
  private n = 0;

  constructor() {
    const byWs = new Map<ServerWebSocket<{ id: number }>, ScriptedSocket>();
    const pendingUrls = new Map<number, URL>();
    this.server = Bun.serve<{ id: number }>({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req, srv) => {
        const url = new URL(req.url);
        if (url.pathname === "/v1/teams") {
          const token = req.headers.get("authorization")?.replace(/^Bearer /, "");
          const status = this.teamsStatus(token);
          return status === 200 ? Response.json({ data: [], next: null }) : Response.json({ error: { code: "unauthenticated", message: "invalid token" } }, { status });
        }
        if (url.pathname !== "/v1/ws") return new Response("not found", { status: 404 });
        const refused = this.admit(url);
        if (refused) return Response.json({ error: { code: "unauthenticated", message: "refused" } }, { status: refused });
        const id = ++this.n;
        pendingUrls.set(id, url);
        return srv.upgrade(req, { data: { id } }) ? undefined : new Response("upgrade failed", { status: 400 });
      },
      websocket: {
        open: (ws) => {
          const s = new ScriptedSocket(ws, pendingUrls.get(ws.data.id)!);
          pendingUrls.delete(ws.data.id);
          byWs.set(ws, s);
          this.sockets.push(s);
          for (const w of this.waiters.splice(0)) w();
        },
        message: (ws, m) => byWs.get(ws)?.got(JSON.parse(String(m))),
        close: (ws) => {
          const s = byWs.get(ws);
          if (s) s.closed = true;
        },
      },
    });
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.server.port}`;
  }

  /** The n-th accepted socket (0-based), waiting for it. */
  async socket(n: number, timeoutMs = 5000): Promise<ScriptedSocket> {
    const deadline = Date.now() + timeoutMs;
    while (!this.sockets[n]) {
      if (Date.now() > deadline) throw new Error(`socket ${n} never connected (have ${this.sockets.length})`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
    return this.sockets[n]!;
  }

  stop(): void {
    this.server.stop(true);
  }
}

/** A JWT-shaped token (unsigned: the scripted server does not verify) with this `sub` and `exp`. */
export function fakeToken(sub: string, expMs: number, tag = ""): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub, exp: Math.floor(expMs / 1000), tag })}.sig`;
}

export const until = async (cond: () => boolean, timeoutMs = 3000, what = "condition"): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
};
