import type { Config } from "@chat/common/config";
import { AppError, toAppError } from "@chat/common/errors";
import { objectId } from "@chat/common/ids";
import type { Logger } from "@chat/common/log";
import type { LogEntry } from "@chat/common/message";
import { clientMsgIdOf, parseFrameObject, parseSend } from "./parse";
import type { Metrics } from "@chat/common/metrics";
import type { Appender } from "./appender";
import { authorizeSend, type MembershipCache } from "./channel-cache";
import type { AckInfo, Dedupe } from "./dedupe";
import type { MessageOps } from "./ops/message-ops";
import { ackFrame, errorFrame } from "./frames";
import type { SocketRegistry } from "./registry";
import type { DeliveryLag } from "./backpressure";
import type { TokenLifetime } from "./token-lifetime";
import type { WS } from "./socket";
import type { Watch } from "./verdicts";
import { verdictOf, type LookupGate, type VerifierTiming } from "./verifier";

export interface InboundDeps {
  limits: Config["limits"];
  sockets: SocketRegistry;
  cache: MembershipCache;
  appender: Appender;
  dedupe: Dedupe;
  /** Store reads of the message held under a sender's client_msg_id (any relay's), bounded per relay. */
  lookups: LookupGate;
  /** What the controller streams tell about an append (see Verdicts). */
  watch: (channelId: string, id: string) => Watch;
  verifier: VerifierTiming;
  /** How long a client waits for a verdict before it is told `unavailable` (and resends). */
  verdictWaitMs: number;
  tokens: TokenLifetime;
  /** edit, delete, react, read, and the thread root of a reply (PROTOCOL section 9). */
  messageOps: MessageOps;
  /** Further ops by name (typing). */
  ops?: Record<string, OpHandler>;
  logger: Logger;
  metrics: Metrics;
  /** How far behind the controllers are: sends are refused while too far. */
  lag: DeliveryLag;
  /** True once the relay is shutting down: frames are answered `unavailable`, to be resent elsewhere. */
  draining: () => boolean;
}

/**
 * What happens to a frame a client sends: size check, parse, rate limit, authorization against
 * the team as stored, `client_msg_id` dedupe, stamping (`id`, `from`, `ts`), append to the log,
 * and the ack once it is durable — or one error frame that echoes the frame's `client_msg_id`.
 * A bad frame never closes the socket and never reaches anyone else.
 */
type OpHandler = (ws: WS, frame: Record<string, unknown>, clientMsgId: string | undefined) => Promise<void>;

export class Inbound {
  /** Frames with `op`, by op; a frame without one is a send. */
  private readonly ops: Record<string, OpHandler>;

  constructor(private readonly deps: InboundDeps) {
    this.ops = { refresh: (ws, frame, id) => deps.tokens.refresh(ws, frame, id), ...deps.messageOps.handlers(), ...deps.ops };
  }

  /** Called by Bun for every frame; frames before `ready` wait in the socket's inbox. */
  receive(ws: WS, raw: string | Buffer): void {
    ws.data.framesIn++;
    if (typeof raw !== "string") {
      const allowed = ws.data.bucket.take(); // charged like any frame
      return this.deps.sockets.send(ws, allowed ? errorFrame("invalid_message", "frames must be JSON text") : errorFrame("rate_limited", "slow down"));
    }
    if (!ws.data.ready) {
      if (ws.data.inbox.length < this.deps.limits.rateBurst) ws.data.inbox.push(raw);
      else this.deps.sockets.send(ws, errorFrame("rate_limited", "too many frames before ready"));
      return;
    }
    void this.handle(ws, raw);
  }

  async handle(ws: WS, raw: string): Promise<void> {
    const { limits, sockets, metrics } = this.deps;
    // Every frame is charged, malformed or oversize ones too: a flood of garbage is limited like any other.
    const allowed = ws.data.bucket.take();
    const bytes = raw.length * 3 <= limits.frameBytes ? raw.length : Buffer.byteLength(raw);
    if (bytes > limits.frameBytes) {
      metrics.messagesIn.inc({ outcome: allowed ? "too_large" : "rate_limited" });
      return sockets.send(ws, allowed ? errorFrame("too_large", `frame exceeds ${limits.frameBytes} bytes`) : errorFrame("rate_limited", "slow down"));
    }
    let clientMsgId: string | undefined;
    try {
      const frame = parseFrameObject(raw);
      clientMsgId = clientMsgIdOf(frame);
      if (!allowed) throw new AppError("rate_limited", "slow down");
      if (this.deps.draining()) throw new AppError("unavailable", "server shutting down; resend after reconnecting");
      if (frame.op === undefined) await this.send(ws, frame, clientMsgId);
      else {
        const handler = typeof frame.op === "string" && Object.hasOwn(this.ops, frame.op) ? this.ops[frame.op]! : undefined;
        if (!handler) throw new AppError("invalid_message", "unknown op");
        await handler(ws, frame, clientMsgId);
      }
    } catch (err) {
      const app = toAppError(err);
      if (app.code === "internal") this.deps.logger.error("message handling failed", { err });
      metrics.messagesIn.inc({ outcome: allowed ? app.code : "rate_limited" });
      // The error of a failed log batch is shared by all its messages: the id comes from this frame, never from the error.
      if (!ws.data.closed) sockets.send(ws, allowed ? errorFrame(app.code, app.message, clientMsgId) : errorFrame("rate_limited", "slow down", clientMsgId));
    }
  }

  /** A chat message: authorized, stamped, appended, acked once durable. */
  private async send(ws: WS, frame: Record<string, unknown>, clientMsgId: string | undefined): Promise<void> {
    const { limits, cache, dedupe, appender, metrics, sockets } = this.deps;
    const { user } = ws.data;
    const msg = parseSend(frame, limits, clientMsgId);
    if (!ws.data.channels.has(msg.channel_id)) throw new AppError("forbidden", "not a member of this team on this connection");
    await authorizeSend(cache, msg.channel_id, user, msg.to, this.deps.logger);
    const replyTo = msg.reply_to && (await this.deps.messageOps.replyRoot(ws, msg.channel_id, msg.to, msg.reply_to));
    this.deps.lag.admit();

    const earlier = clientMsgId ? dedupe.get(user, clientMsgId) : undefined;
    if (earlier) {
      metrics.messagesIn.inc({ outcome: "duplicate" });
      return sockets.send(ws, ackFrame(await this.inTime(earlier), clientMsgId));
    }
    const id = objectId();
    const ts = new Date().toISOString();
    const entry: LogEntry = { kind: "message", id, channel_id: msg.channel_id, to: msg.to, type: msg.type, data: msg.data, from: user, ts };
    if (clientMsgId) entry.client_msg_id = clientMsgId;
    if (replyTo) entry.reply_to = replyTo;
    const t0 = performance.now();
    const append = () =>
      appender.append({ channelId: msg.channel_id, value: JSON.stringify(entry) }).then((seq) => {
        metrics.appendSeconds.observe((performance.now() - t0) / 1000);
        this.deps.lag.acked(msg.channel_id, seq);
        return { id, seq, ts };
      });
    // Whatever relay took the first attempt, the controller stores one message per key; these checks make the ack match it.
    // A socket that just (re)connected, or a key whose earlier attempt failed (it may be stored all the same).
    const reconnecting = performance.now() - ws.data.openedAt < limits.dedupeReconnectMs || (!!clientMsgId && dedupe.suspect(user, clientMsgId));
    const acked = !clientMsgId
      ? append()
      : reconnecting
        ? this.verified(msg.channel_id, user, clientMsgId, id, append)
        : dedupe.mayHaveForgotten(user, clientMsgId)
          ? this.lookedUp(msg.channel_id, user, clientMsgId, append)
          : append();
    if (clientMsgId) dedupe.remember(user, clientMsgId, acked);
    // A keyed send can be resent safely, so its client waits at most verdictWaitMs; a keyless one only gets the append's own answer.
    const ack = clientMsgId ? await this.inTime(acked) : await acked;
    metrics.messagesIn.inc({ outcome: ack.id === id ? "accepted" : "duplicate" });
    if (!ws.data.closed) sockets.send(ws, ackFrame(ack, clientMsgId));
  }

  /** A key this relay may have forgotten: the stored message's ack if there is one, else append. */
  private async lookedUp(ch: string, user: string, clientMsgId: string, append: () => Promise<AckInfo>): Promise<AckInfo> {
    return (await this.deps.lookups.needed(ch, user, clientMsgId)) ?? append();
  }

  /**
   * A send that may resend what another attempt took (a socket that just reconnected, perhaps from
   * a relay that died right after appending; or a key whose earlier attempt failed): append, then
   * ack whichever message the controller stored under the key — learnt from the streams, the store
   * asked only when they cannot tell (verifier.ts). The verdict outlives the client's wait, so its
   * resend waits for it too instead of appending again.
   */
  private async verified(ch: string, user: string, clientMsgId: string, id: string, append: () => Promise<AckInfo>): Promise<AckInfo> {
    // Watching from before the append: the stream may bring the message back before the log's answer.
    const watch = this.deps.watch(ch, id);
    let mine: AckInfo;
    try {
      mine = await append();
    } catch (err) {
      watch.cancel();
      throw err;
    }
    watch.at(mine.seq);
    return verdictOf(this.deps.lookups, watch, { channelId: ch, user, clientMsgId }, mine, this.deps.verifier);
  }

  /** An ack the client waits for at most `verdictWaitMs`; past that `unavailable` (the attempt goes on, a resend joins it). */
  private inTime(ack: Promise<AckInfo>): Promise<AckInfo> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AppError("unavailable", "message accepted but not stored yet; resend it with the same client_msg_id")), this.deps.verdictWaitMs);
    });
    return Promise.race([ack, late]).finally(() => clearTimeout(timer));
  }
}
