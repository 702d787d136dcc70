/**
 * One team member as a well-behaved client: one socket to "its" relay (the other one while that is
 * down), reconnecting after any close with `?since=<team>:<last seq seen>`, and resending every
 * unacked message with its client_msg_id until it is acked. It checks what it receives: each
 * message once, seq strictly increasing, and a client_msg_id always acked with the same id.
 */
export interface Stats {
  sent: number;
  acked: number;
  unavailable: number;
  duplicateDeliveries: number;
  ackMismatch: number;
  disorder: number;
  otherErrors: number;
}

interface Pending {
  frame: Record<string, unknown>;
  lastSent: number;
}

export class Member {
  readonly stats: Stats = { sent: 0, acked: 0, unavailable: 0, duplicateDeliveries: 0, ackMismatch: 0, disorder: 0, otherErrors: 0 };
  readonly acks = new Map<string, { id: string; seq: number }>();
  readonly ackTimes: number[] = [];
  readonly delivered = new Set<string>();
  /** When each first delivery arrived (ms). */
  readonly deliveryTimes: number[] = [];
  private readonly pending = new Map<string, Pending>();
  private ws: WebSocket | undefined;
  private open = false;
  private closing = false;
  private lastSeq = 0;
  private n = 0;
  private sender: ReturnType<typeof setInterval> | undefined;
  private resender: ReturnType<typeof setInterval> | undefined;
  private probes = new Map<string, (ok: boolean) => void>();

  constructor(
    readonly user: string,
    readonly team: string,
    private readonly relayPorts: number[],
    private readonly home: number,
    private readonly token: (user: string) => Promise<string>,
  ) {}

  get pendingCount(): number {
    return this.pending.size;
  }

  async start(): Promise<void> {
    await this.connect();
    // Unanswered for 5 s (the relay died holding it, or the answer was lost): send it again.
    this.resender = setInterval(() => {
      const now = Date.now();
      for (const [id, p] of this.pending) if (now - p.lastSent > 5000) this.transmit(id, p);
    }, 1000);
  }

  sendAtRate(perSec: number): void {
    this.sender = setInterval(() => {
      const id = `${this.user.split("@")[0]}-${++this.n}`;
      const p = { frame: { channel_id: this.team, to: "*", type: "text", data: `m${this.n}`, client_msg_id: id }, lastSent: 0 };
      this.pending.set(id, p);
      this.stats.sent++;
      this.transmit(id, p);
    }, 1000 / perSec);
  }

  stopSending(): void {
    clearInterval(this.sender);
  }

  /** A message through this member's socket, acked and delivered back to it: the whole path works for it. */
  probe(timeoutMs = 3000): Promise<boolean> {
    if (!this.open) return Promise.resolve(false);
    const id = `probe-${Math.random().toString(36).slice(2)}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => (this.probes.delete(id), resolve(false)), timeoutMs);
      this.probes.set(id, (ok) => (clearTimeout(timer), this.probes.delete(id), resolve(ok)));
      const p = { frame: { channel_id: this.team, to: "*", type: "text", data: "probe", client_msg_id: id }, lastSent: 0 };
      this.pending.set(id, p);
      this.transmit(id, p);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.sender);
    clearInterval(this.resender);
    this.ws?.close();
  }

  private transmit(_id: string, p: Pending): void {
    p.lastSent = Date.now();
    if (this.open) this.ws!.send(JSON.stringify(p.frame));
  }

  private async connect(): Promise<void> {
    for (let attempt = 0; !this.closing; attempt++) {
      const port = this.relayPorts[(this.home + attempt) % this.relayPorts.length]!;
      try {
        await this.connectTo(port);
        return;
      } catch {
        await Bun.sleep(Math.min(2000, 100 * 2 ** Math.min(attempt, 5)));
      }
    }
  }

  private async connectTo(port: number): Promise<void> {
    const since = this.lastSeq ? `?since=${this.team}:${this.lastSeq}` : "";
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/ws${since}`, { headers: { authorization: `Bearer ${await this.token(this.user)}` } } as any);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => (ws.close(), reject(new Error("no ready"))), 5000);
      ws.onmessage = (e) => {
        const f = JSON.parse(String(e.data));
        if (f.event === "ready") {
          clearTimeout(timer);
          this.ws = ws;
          this.open = true;
          resolve();
          for (const [id, p] of this.pending) this.transmit(id, p); // everything unacked, again
        } else this.frame(f);
      };
      ws.onclose = () => {
        clearTimeout(timer);
        if (this.ws === ws) {
          this.open = false;
          this.ws = undefined;
          if (!this.closing) void this.connect();
        }
        reject(new Error("closed"));
      };
      ws.onerror = () => undefined;
    });
  }

  private frame(f: Record<string, any>): void {
    if (f.event === "ack") {
      const cmid = f.client_msg_id as string;
      const before = this.acks.get(cmid);
      if (before && before.id !== f.id) this.stats.ackMismatch++;
      const probe = this.probes.get(cmid);
      if (!this.pending.delete(cmid) && !before && !probe) return;
      if (cmid.startsWith("probe-")) {
        this.probeAcked.set(cmid, f.id);
        return;
      }
      if (!before) {
        this.acks.set(cmid, { id: f.id, seq: f.seq });
        this.stats.acked++;
        this.ackTimes.push(Date.now());
      }
    } else if (f.event === "error") {
      if (f.code === "unavailable") this.stats.unavailable++;
      else this.stats.otherErrors++;
      const p = f.client_msg_id && this.pending.get(f.client_msg_id);
      if (p) p.lastSent = Date.now() - 4500; // resend in about half a second
    } else if (f.event === "message") {
      if (f.channel_id !== this.team) return;
      if (this.delivered.has(f.id)) this.stats.duplicateDeliveries++;
      else {
        if (f.seq <= this.lastSeq) this.stats.disorder++;
        this.delivered.add(f.id);
        this.deliveryTimes.push(Date.now());
        this.lastSeq = Math.max(this.lastSeq, f.seq);
      }
      for (const [cmid, id] of this.probeAcked)
        if (id === f.id) {
          this.probeAcked.delete(cmid);
          this.probes.get(cmid)?.(true);
        }
    }
  }
  private readonly probeAcked = new Map<string, string>();
}
