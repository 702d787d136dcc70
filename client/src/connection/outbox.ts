import type { ClientFrame, ErrorEvent } from "../protocol";
import { SendError, type Ack } from "./types";

interface Outgoing {
  frame: ClientFrame & { client_msg_id: string };
  createdAt: number;
  attempts: number;
  resolve: (ack: Ack) => void;
  reject: (err: SendError) => void;
  retryTimer?: ReturnType<typeof setTimeout>;
}

/**
 * Every send and op until the server acks or refuses it, keyed by `client_msg_id`: resent after
 * each `ready` with the same id (the server dedupes, so nothing is doubled), retried on transient errors.
 */
export class Outbox {
  private readonly pending = new Map<string, Outgoing>();

  constructor(
    private readonly host: {
      /** Whether a frame can go out now (open, with a socket). */
      canSend(): boolean;
      /** Hands a frame to the pacer. */
      send(raw: string): void;
      /** The number of unacked frames changed. */
      changed(pending: number): void;
    },
  ) {}

  get size(): number {
    return this.pending.size;
  }

  add(frame: ClientFrame & { client_msg_id: string }): Promise<Ack> {
    return new Promise<Ack>((resolve, reject) => {
      const o: Outgoing = { frame, createdAt: Date.now(), attempts: 0, resolve, reject };
      this.pending.set(frame.client_msg_id, o);
      this.host.changed(this.pending.size);
      if (this.host.canSend()) this.transmit(o);
    });
  }

  /** After `ready`: everything unacked again, except what is older than the server's dedupe window. */
  resend(windowMs: number): void {
    for (const [id, o] of this.pending) {
      if (Date.now() - o.createdAt > windowMs) this.fail(id, o, new SendError("expired", "not acknowledged within the dedupe window", id));
      else this.transmit(o);
    }
  }

  ack(ack: Ack): void {
    const o = this.pending.get(ack.client_msg_id);
    if (o) this.settle(ack.client_msg_id, o, ack);
  }

  refused(f: ErrorEvent): void {
    const id = f.client_msg_id;
    const o = id ? this.pending.get(id) : undefined;
    if (!id || !o) return;
    if (f.code === "rate_limited" || f.code === "unavailable") {
      // Transient: the same frame again later (same client_msg_id, so never doubled).
      clearTimeout(o.retryTimer);
      o.retryTimer = setTimeout(() => this.transmit(o), Math.min(10_000, 500 * 2 ** Math.min(o.attempts, 5)) * (0.5 + Math.random() / 2));
      return;
    }
    this.fail(id, o, new SendError(f.code, f.message, id));
  }

  failAll(message: string): void {
    for (const [id, o] of this.pending) this.fail(id, o, new SendError("closed", message, id));
  }

  private transmit(o: Outgoing): void {
    clearTimeout(o.retryTimer);
    if (!this.host.canSend() || !this.pending.has(o.frame.client_msg_id)) return;
    o.attempts++;
    this.host.send(JSON.stringify(o.frame));
  }

  private settle(id: string, o: Outgoing, ack: Ack): void {
    clearTimeout(o.retryTimer);
    this.pending.delete(id);
    o.resolve(ack);
    this.host.changed(this.pending.size);
  }

  private fail(id: string, o: Outgoing, err: SendError): void {
    clearTimeout(o.retryTimer);
    this.pending.delete(id);
    o.reject(err);
    this.host.changed(this.pending.size);
  }
}
