import { connect as tcpConnect, type Socket } from "node:net";
import { randomBytes } from "node:crypto";

/**
 * A WebSocket client on a raw TCP socket that stops reading after the handshake, so the kernel
 * buffers fill and the server sees real backpressure. When resumed it skims the frames that were
 * queued (without keeping them) for the server's close frame.
 */
export class StalledReader {
  private readonly sock: Socket;
  private handshake = true;
  private pending: Buffer = Buffer.alloc(0);
  private skip = 0;
  bytes = 0;
  closeCode: number | undefined;
  ended = false;

  constructor(base: string, token: string) {
    const u = new URL(base);
    this.sock = tcpConnect(Number(u.port || 80), u.hostname);
    this.sock.on("data", (d: Buffer) => this.onData(d));
    this.sock.on("close", () => (this.ended = true));
    this.sock.on("error", () => (this.ended = true));
    this.sock.write(
      `GET /v1/ws HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${token}\r\n\r\n`,
    );
  }

  /** Resolves once the server answered the upgrade (true for 101), then stops reading. */
  async stall(timeoutMs = 10_000): Promise<boolean> {
    const until = performance.now() + timeoutMs;
    while (this.handshake && !this.ended && performance.now() < until) await Bun.sleep(20);
    this.sock.pause();
    return !this.handshake && !this.ended;
  }

  resume(): void {
    this.sock.resume();
  }

  destroy(): void {
    this.sock.destroy();
  }

  private onData(d: Buffer): void {
    this.bytes += d.length;
    let buf = this.pending.length ? Buffer.concat([this.pending, d]) : d;
    this.pending = Buffer.alloc(0);
    if (this.handshake) {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return void (this.pending = buf);
      if (!buf.subarray(0, 12).toString().includes("101")) return void (this.ended = true);
      this.handshake = false;
      buf = buf.subarray(end + 4);
    }
    // Server frames are unmasked: 2-byte header, then 2 or 8 bytes of extended length.
    while (buf.length) {
      if (this.skip) {
        const n = Math.min(this.skip, buf.length);
        this.skip -= n;
        buf = buf.subarray(n);
        continue;
      }
      if (buf.length < 2) break;
      const opcode = buf[0]! & 0x0f;
      let len = buf[1]! & 0x7f;
      let head = 2;
      if (len === 126) {
        if (buf.length < 4) break;
        len = buf.readUInt16BE(2);
        head = 4;
      } else if (len === 127) {
        if (buf.length < 10) break;
        len = Number(buf.readBigUInt64BE(2));
        head = 10;
      }
      if (opcode === 0x8) {
        if (buf.length < head + Math.min(len, 2)) break;
        this.closeCode = len >= 2 ? buf.readUInt16BE(head) : 1005;
      }
      buf = buf.subarray(head);
      this.skip = len;
    }
    if (buf.length) this.pending = Buffer.from(buf);
  }
}
