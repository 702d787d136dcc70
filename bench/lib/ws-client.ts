/**
 * The load generator's WebSocket client. Two implementations behind one small interface:
 *
 * - `bun`: the runtime's `WebSocket` (what browsers and our SDK use). Every frame is a `MessageEvent`
 *   dispatched on its own; at a few hundred thousand frames a second that dispatch is most of the
 *   load generator's CPU, and when a burst fans out to a thousand sockets the last ones are read
 *   ~1 ms after the first whatever the server did: the harness measures itself.
 * - `raw` (RFC 6455 over `Bun.connect`): one read hands over every frame the kernel has for a socket,
 *   parsed in place; only the text of each frame becomes a string. The instrument costs a fraction
 *   of the above per frame, so fan-out latency and saturation say more about the server. No TLS, no
 *   extensions (it never offers permessage-deflate, like the `bun` client against our servers).
 *
 * Both are driven the same way: `onopen`, `onmessage({ data })`, `onclose({ code, reason })`,
 * `send(text)`, `close(code?, reason?)`.
 */
import { randomBytes } from "node:crypto";
import type { Socket } from "bun";

export type WsClientKind = "bun" | "raw";

export interface WsLike {
  onopen: (() => void) | null;
  onmessage: ((e: { data: string }) => void) | null;
  onclose: ((e: { code: number; reason: string }) => void) | null;
  send(text: string): void;
  close(code?: number, reason?: string): void;
}

export function dial(kind: WsClientKind, url: string, headers?: Record<string, string>): WsLike {
  if (kind === "raw") return new RawWebSocket(url, headers);
  return (headers ? new WebSocket(url, { headers } as unknown as string[]) : new WebSocket(url)) as unknown as WsLike;
}

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const OP_CONT = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const HEADER_LIMIT = 16 * 1024;
const CLOSE_WAIT_MS = 2_000;

const enum State {
  Connecting,
  Open,
  Closing,
  Closed,
}

/** A WebSocket client (RFC 6455) on a plain TCP socket: ws:// only, no extensions. */
export class RawWebSocket implements WsLike {
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;

  private state = State.Connecting;
  private sock: Socket<undefined> | undefined;
  private handshake = true;
  private readonly key = randomBytes(16).toString("base64");
  /** Bytes read but not yet parsed (a partial header or frame). */
  private rest: Buffer | undefined;
  /** Bytes the kernel did not take yet, written on `drain`. */
  private out: Uint8Array[] = [];
  /** A fragmented message's parts so far. */
  private parts: Buffer[] | undefined;
  private closeCode = 1006;
  private closeReason = "";
  private closeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(url: string, headers: Record<string, string> = {}) {
    const u = new URL(url);
    if (u.protocol !== "ws:") throw new Error(`raw WebSocket client: ${u.protocol} is not supported (ws: only)`);
    const port = Number(u.port || 80);
    let request = `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${this.key}\r\nSec-WebSocket-Version: 13\r\n`;
    for (const [k, v] of Object.entries(headers)) request += `${k}: ${v}\r\n`;
    request += "\r\n";
    const self = this;
    Bun.connect({
      hostname: u.hostname,
      port,
      socket: {
        open(sock) {
          self.sock = sock;
          if (self.state !== State.Connecting) return void sock.end(); // closed before it connected
          self.write(Buffer.from(request));
        },
        data(_sock, data) {
          self.onData(data);
        },
        drain() {
          self.flush();
        },
        close() {
          self.finish();
        },
        error(_sock, err) {
          self.closeReason ||= String(err);
        },
        connectError(_sock, err) {
          self.closeReason = String(err);
          self.finish();
        },
      },
    }).catch((err: unknown) => {
      this.closeReason = String(err);
      this.finish();
    });
  }

  send(text: string): void {
    if (this.state !== State.Open) return; // like a browser's after closing: silently dropped
    this.frame(OP_TEXT, Buffer.from(text));
  }

  close(code = 1000, reason = ""): void {
    if (this.state === State.Closing || this.state === State.Closed) return;
    if (this.state === State.Connecting) {
      this.state = State.Closing;
      this.closeCode = 1006;
      this.sock?.end();
      return;
    }
    this.state = State.Closing;
    const r = Buffer.from(reason);
    const payload = Buffer.allocUnsafe(2 + r.length);
    payload.writeUInt16BE(code, 0);
    r.copy(payload, 2);
    this.frame(OP_CLOSE, payload);
    // The server answers with its close frame and ends the connection; if it does not, we do.
    this.closeTimer = setTimeout(() => this.abort(), CLOSE_WAIT_MS);
  }

  private onData(data: Buffer): void {
    let d = data;
    if (this.rest) {
      d = Buffer.concat([this.rest, data]);
      this.rest = undefined;
    }
    let off = 0;
    if (this.handshake) {
      if (this.state !== State.Connecting) return; // closed while connecting: a late 101 opens nothing
      const end = d.indexOf("\r\n\r\n");
      if (end < 0) {
        if (d.length > HEADER_LIMIT) return this.fail("handshake: response headers too long");
        this.rest = Buffer.from(d);
        return;
      }
      if (!this.accept(d.toString("latin1", 0, end))) return;
      off = end + 4;
      this.handshake = false;
      this.state = State.Open;
      this.onopen?.(); // may close it: the frames below are still parsed (a partial one kept), none delivered
      if ((this.state as State) === State.Closed) return;
    }
    const n = d.length;
    while (n - off >= 2) {
      const b0 = d[off]!;
      const b1 = d[off + 1]!;
      let len = b1 & 0x7f;
      let h = 2;
      if (len === 126) {
        if (n - off < 4) break;
        len = d.readUInt16BE(off + 2);
        h = 4;
      } else if (len === 127) {
        if (n - off < 10) break;
        len = d.readUInt32BE(off + 2) * 2 ** 32 + d.readUInt32BE(off + 6);
        h = 10;
      }
      if (b1 & 0x80) return this.fail("a masked frame from the server", 1002);
      if (n - off < h + len) break;
      const start = off + h;
      off = start + len;
      this.onFrame(b0, d, start, off);
      if (this.state === State.Closed) return;
    }
    if (off < n) this.rest = Buffer.from(d.subarray(off)); // a copy: the read buffer is not ours to keep
  }

  private onFrame(b0: number, d: Buffer, start: number, end: number): void {
    const op = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    switch (op) {
      case OP_TEXT:
      case OP_BINARY:
        if (fin) {
          if (this.state === State.Open) this.onmessage?.({ data: d.toString("utf8", start, end) });
        } else this.parts = [Buffer.from(d.subarray(start, end))];
        return;
      case OP_CONT:
        if (!this.parts) return this.fail("a continuation frame without a first part", 1002);
        this.parts.push(Buffer.from(d.subarray(start, end)));
        if (fin) {
          const whole = Buffer.concat(this.parts);
          this.parts = undefined;
          if (this.state === State.Open) this.onmessage?.({ data: whole.toString("utf8") });
        }
        return;
      case OP_PING:
        return this.frame(0xa, Buffer.from(d.subarray(start, end)));
      case OP_CLOSE: {
        this.closeCode = end - start >= 2 ? d.readUInt16BE(start) : 1005;
        this.closeReason = end - start > 2 ? d.toString("utf8", start + 2, end) : "";
        if (this.state === State.Open) {
          // Echo the code, then the server ends the connection (or we do, after a while).
          this.state = State.Closing;
          const payload = end - start >= 2 ? Buffer.from(d.subarray(start, start + 2)) : Buffer.alloc(0);
          this.frame(OP_CLOSE, payload, true);
          this.closeTimer = setTimeout(() => this.abort(), CLOSE_WAIT_MS);
        } else this.sock?.end(); // the answer to our close
        return;
      }
      default: // pong, or reserved opcodes: nothing to do
        return;
    }
  }

  /** Checks the upgrade response; fails the connection and returns false if it is not a valid 101. */
  private accept(head: string): boolean {
    const status = /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1];
    if (status !== "101") {
      this.fail(`handshake: HTTP ${status ?? "?"}`);
      return false;
    }
    const expected = new Bun.CryptoHasher("sha1").update(this.key + GUID).digest("base64");
    const got = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(head)?.[1];
    if (got !== expected) {
      this.fail("handshake: wrong Sec-WebSocket-Accept");
      return false;
    }
    return true;
  }

  /** A client frame: FIN, opcode, a fresh mask, the masked payload (RFC 6455 5.3). */
  private frame(op: number, payload: Buffer, force = false): void {
    if (this.state !== State.Open && !force && op !== OP_CLOSE) return;
    const len = payload.length;
    const h = len < 126 ? 2 : len < 65536 ? 4 : 10;
    const f = Buffer.allocUnsafe(h + 4 + len);
    f[0] = 0x80 | op;
    if (h === 2) f[1] = 0x80 | len;
    else if (h === 4) {
      f[1] = 0x80 | 126;
      f.writeUInt16BE(len, 2);
    } else {
      f[1] = 0x80 | 127;
      f.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
      f.writeUInt32BE(len >>> 0, 6);
    }
    const m = (Math.random() * 2 ** 32) >>> 0;
    f.writeUInt32BE(m, h);
    const k0 = m >>> 24;
    const k1 = (m >>> 16) & 0xff;
    const k2 = (m >>> 8) & 0xff;
    const k3 = m & 0xff;
    const o = h + 4;
    for (let i = 0; i < len; i += 4) {
      f[o + i] = payload[i]! ^ k0;
      if (i + 1 < len) f[o + i + 1] = payload[i + 1]! ^ k1;
      if (i + 2 < len) f[o + i + 2] = payload[i + 2]! ^ k2;
      if (i + 3 < len) f[o + i + 3] = payload[i + 3]! ^ k3;
    }
    this.write(f);
  }

  private write(bytes: Uint8Array): void {
    if (!this.sock) return;
    if (this.out.length) {
      this.out.push(bytes);
      return;
    }
    const n = this.sock.write(bytes);
    if (n < 0) return; // closed: the close handler reports it
    if (n < bytes.length) this.out.push(bytes.subarray(n));
  }

  private flush(): void {
    while (this.out.length && this.sock) {
      const b = this.out[0]!;
      const n = this.sock.write(b);
      if (n < 0) return;
      if (n < b.length) {
        this.out[0] = b.subarray(n);
        return;
      }
      this.out.shift();
    }
  }

  /** Drops the connection without waiting for the peer (`end()` only half-closes) and reports it. */
  private abort(): void {
    this.sock?.terminate();
    this.finish();
  }

  private fail(reason: string, code = 1006): void {
    this.closeReason = reason;
    this.closeCode = code === 1002 ? 1002 : 1006;
    this.state = State.Closing;
    this.sock?.end();
    this.finish();
  }

  /** The connection is gone: report it once. */
  private finish(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    clearTimeout(this.closeTimer);
    this.out = [];
    this.onclose?.({ code: this.closeCode, reason: this.closeReason });
  }
}
