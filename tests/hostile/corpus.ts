/**
 * Shared by the hostile-input corpus (tests/hostile/*.e2e.test.ts): tables of cases, each asserting the
 * documented answer and that nothing was stored or delivered; pacing so the corpus itself stays under the
 * rate limits it does not test (per user, per address, per socket) in both modes.
 */
import { expect, test } from "bun:test";
import { SECRET, type Target } from "../harness";

export const distributed = Boolean(process.env.E2E_BASE_URL);
/** The secret tokens are signed with, in either mode (hand-made tokens need it). */
export const signingSecret = (): string => (distributed ? process.env.AUTH_JWT_SECRET! : SECRET);

/** Registers one test per case; `skipped` ones are reported as skipped, with the reason in their name. */
export function table<C extends { name: string }>(group: string, cases: C[], run: (c: C) => Promise<void>, skipped: { cases: C[]; why: string } = { cases: [], why: "" }): void {
  for (const c of cases) test(`${group}: ${c.name}`, () => run(c));
  for (const c of skipped.cases) test.skip(`${group} [${skipped.why}]: ${c.name}`, () => run(c));
}

/** A client-side token bucket, a little under the server's, so pacing never makes a case fail. */
export class Pacer {
  private tokens: number;
  private at = performance.now();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }
  async take(): Promise<void> {
    for (;;) {
      const now = performance.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate);
      this.at = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await Bun.sleep(Math.ceil(((1 - this.tokens) / this.rate) * 1000));
    }
  }
}

/** REST: 50/s burst 100 per user and per address (PROTOCOL §7); the corpus keeps well under it. */
const pacers = new Map<string, Pacer>();
const pacer = (key: string) => pacers.get(key) ?? (pacers.set(key, new Pacer(30, 60)), pacers.get(key)!);

export interface Raw {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

export interface RestCall {
  method?: string;
  /** Sent as `Authorization: Bearer <token>` unless `authorization` is given. */
  token?: string;
  authorization?: string;
  /** An object is sent as JSON with `content-type: application/json` unless `headers` say otherwise. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Pacing key: the user, or "anonymous" (charged per address). */
  as?: string;
  /** A 429 is this case's answer: do not retry it. */
  expect429?: boolean;
}

/** One REST request, paced per identity; a 429 it did not ask for is waited out and retried (it was refused before any handler). */
export async function rest(t: Target, path: string, c: RestCall = {}): Promise<Raw> {
  const headers: Record<string, string> = { ...c.headers };
  if (c.authorization !== undefined) headers.authorization = c.authorization;
  else if (c.token) headers.authorization = `Bearer ${c.token}`;
  let body: string | Uint8Array | ReadableStream | undefined;
  if (typeof c.body === "string" || c.body instanceof Uint8Array || c.body instanceof ReadableStream) body = c.body as string | Uint8Array | ReadableStream;
  else if (c.body !== undefined) {
    body = JSON.stringify(c.body);
    headers["content-type"] ??= "application/json";
  }
  for (let attempt = 0; ; attempt++) {
    await pacer(c.as ?? (c.token ? c.token.slice(-16) : "anonymous")).take();
    const res = await fetch(t.base + path, { method: c.method ?? "GET", headers, body, redirect: "manual" });
    const text = await res.text();
    if (res.status === 429 && !c.expect429 && attempt < 5 && typeof body !== "object") {
      await Bun.sleep(1000 * Number(res.headers.get("retry-after") ?? 1));
      continue;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: res.status, headers: res.headers, text, json };
  }
}

/** The documented failure: status, catalog code, the JSON envelope, never a page or a trace. */
export function expectEnvelope(where: string, r: Raw, status: number, code?: string): void {
  expect({ where, status: r.status, code: r.json?.error?.code, message: typeof r.json?.error?.message }).toEqual({
    where,
    status,
    code: code ?? r.json?.error?.code,
    message: "string",
  });
  expect({ where, type: r.headers.get("content-type")?.split(";")[0] }).toEqual({ where, type: "application/json" });
  expectNoLeak(where, r.text);
}

/** No stack trace, source excerpt, file path or HTML in an answer. */
export function expectNoLeak(where: string, text: string): void {
  for (const needle of ["<html", "<!DOCTYPE", "    at ", ".ts:", "node_modules", "/work/", "Error: "])
    expect({ where, needle, found: text.includes(needle) }).toEqual({ where, needle, found: false });
}

export const upgradeHeaders = { upgrade: "websocket", connection: "Upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" };

/** A WebSocket upgrade that must be refused: the HTTP answer (no socket is opened). */
export async function upgrade(t: Target, query: string, headers: Record<string, string> = {}): Promise<Raw> {
  await pacer("upgrade").take();
  const res = await fetch(t.ws.replace(/^ws/, "http") + query, { headers: { ...upgradeHeaders, ...headers } });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, text, json };
}

/** Raw bytes to the server's port, for requests fetch will not send (bad Host, dot segments, odd methods). */
export async function rawHttp(t: Target, request: string, timeoutMs = 5000): Promise<{ status: number; headers: Map<string, string>; body: string; raw: string }> {
  const url = new URL(t.base);
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  let out = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms; got ${JSON.stringify(out)}`)), timeoutMs);
    void Bun.connect({
      hostname: url.hostname,
      port,
      socket: {
        open: (s) => void s.write(request),
        data: (_s, d) => void (out += Buffer.from(d).toString("latin1")),
        close: () => (clearTimeout(timer), resolve()),
        error: () => (clearTimeout(timer), resolve()),
        connectError: (_s, e) => (clearTimeout(timer), reject(e)),
      },
    });
  });
  const split = out.indexOf("\r\n\r\n");
  const [statusLine = "", ...lines] = out.slice(0, split === -1 ? out.length : split).split("\r\n");
  const headers = new Map<string, string>();
  for (const l of lines) {
    const i = l.indexOf(":");
    headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
  }
  let body = split === -1 ? "" : out.slice(split + 4);
  if (headers.get("transfer-encoding") === "chunked") body = unchunk(body);
  return { status: Number(statusLine.split(" ")[1]), headers, body, raw: out };
}

function unchunk(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; ) {
    const nl = s.indexOf("\r\n", i);
    const size = parseInt(s.slice(i, nl), 16);
    if (!(size > 0)) break;
    out += s.slice(nl + 2, nl + 2 + size);
    i = nl + 2 + size + 2;
  }
  return out;
}

/** The Host a raw request names: the target's own authority. */
export const hostOf = (t: Target): string => new URL(t.base).host;

/**
 * A WebSocket client over a raw TCP socket, for frames a WHATWG WebSocket cannot send (invalid UTF-8 in a
 * text frame, a bare continuation): `send` writes one masked frame; `closed` resolves with the close code.
 */
export async function rawWebSocket(t: Target, token: string): Promise<{ send(opcode: number, payload: Uint8Array): void; closed: Promise<number>; text: string[] }> {
  const url = new URL(t.ws);
  const port = Number(url.port || 80);
  let buf = Buffer.alloc(0);
  let upgraded = false;
  const text: string[] = [];
  let resolveOpen!: () => void;
  let rejectOpen!: (e: Error) => void;
  let resolveClosed!: (code: number) => void;
  const opened = new Promise<void>((res, rej) => ((resolveOpen = res), (rejectOpen = rej)));
  const closed = new Promise<number>((res) => (resolveClosed = res));
  const socket = await Bun.connect({
    hostname: url.hostname,
    port,
    socket: {
      open(s) {
        s.write(
          `GET ${url.pathname}?access_token=${encodeURIComponent(token)} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      },
      data(_s, d) {
        buf = Buffer.concat([buf, Buffer.from(d)]);
        if (!upgraded) {
          const end = buf.indexOf("\r\n\r\n");
          if (end === -1) return;
          const head = buf.subarray(0, end).toString("latin1");
          buf = buf.subarray(end + 4);
          if (!head.startsWith("HTTP/1.1 101")) return rejectOpen(new Error(head.split("\r\n")[0]));
          upgraded = true;
          resolveOpen();
        }
        for (;;) {
          if (buf.length < 2) return;
          const opcode = buf[0]! & 0x0f;
          let len = buf[1]! & 0x7f;
          let at = 2;
          if (len === 126) (len = buf.readUInt16BE(2)), (at = 4);
          else if (len === 127) (len = Number(buf.readBigUInt64BE(2))), (at = 10);
          if (buf.length < at + len) return;
          const payload = buf.subarray(at, at + len);
          buf = buf.subarray(at + len);
          if (opcode === 0x1) text.push(payload.toString("utf8"));
          if (opcode === 0x8) resolveClosed(payload.length >= 2 ? payload.readUInt16BE(0) : 1005);
        }
      },
      close: () => resolveClosed(1006),
      error: () => resolveClosed(1006),
    },
  });
  await opened;
  return {
    text,
    closed,
    send(opcode, payload) {
      const mask = crypto.getRandomValues(new Uint8Array(4));
      const len = payload.length;
      const head = len < 126 ? [0x80 | opcode, 0x80 | len] : [0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff];
      const frame = new Uint8Array(head.length + 4 + len);
      frame.set(head, 0);
      frame.set(mask, head.length);
      for (let i = 0; i < len; i++) frame[head.length + 4 + i] = payload[i]! ^ mask[i % 4]!;
      socket.write(frame);
    },
  };
}
