import { AppError } from "@chat/common/errors";
import type { AckInfo } from "./dedupe";
import type { StreamVerdict, Watch } from "./verdicts";

/** A store read of the message held under a sender's client_msg_id (any relay's); throws when the store cannot answer. */
export type ClientMessageLookup = (channelId: string, user: string, clientMsgId: string) => Promise<AckInfo | null>;

export interface VerifierTiming {
  /** First store read for an append whose verdict the streams have not told (a quiet channel, or a stalled partition). */
  firstCheckMs: number;
  /** Those reads back off to this. */
  maxCheckMs: number;
  /** A verdict not known by then fails: the key turns suspect and its next resend is appended again. */
  giveUpMs: number;
  /** Store reads in flight at once, per relay. */
  concurrency: number;
  /** Speculative reads (no stream told anything yet) per second, per relay, when no other read waits. */
  sparePerSec: number;
}

export const VERIFIER_TIMING: VerifierTiming = { firstCheckMs: 500, maxCheckMs: 15_000, giveUpMs: 60_000, concurrency: 4, sparePerSec: 10 };

/**
 * Store reads for client_msg_id verdicts, bounded per relay: at most `concurrency` at once, and
 * speculative ones only within a small budget while nothing else waits — so keys that wait on a
 * partition without a consumer cost timers, not database load (a serialised store must keep up
 * with the controllers' writes first).
 */
export class LookupGate {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  private tokens: number;
  private refilled = performance.now();
  /** Reads made and speculative reads skipped, for tests and metrics. */
  readonly counts = { made: 0, skipped: 0 };

  constructor(
    private readonly lookup: ClientMessageLookup,
    private readonly concurrency: number,
    private readonly sparePerSec: number,
  ) {
    this.tokens = sparePerSec;
  }

  /** A read whose answer is needed (queued behind others if need be). */
  async needed(ch: string, user: string, clientMsgId: string): Promise<AckInfo | null> {
    if (this.active >= this.concurrency) await new Promise<void>((r) => this.queue.push(r));
    else this.active++;
    try {
      this.counts.made++;
      return await this.lookup(ch, user, clientMsgId);
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.active--;
    }
  }

  /** A read that may well find nothing yet: made only when idle capacity and budget allow, else `undefined`. */
  spare(ch: string, user: string, clientMsgId: string): Promise<AckInfo | null> | undefined {
    const now = performance.now();
    this.tokens = Math.min(this.sparePerSec, this.tokens + ((now - this.refilled) / 1000) * this.sparePerSec);
    this.refilled = now;
    if (this.queue.length > 0 || this.active >= this.concurrency || this.tokens < 1) {
      this.counts.skipped++;
      return undefined;
    }
    this.tokens--;
    return this.needed(ch, user, clientMsgId);
  }
}

/**
 * The verdict on an append made for a client_msg_id that another attempt may already hold (a resend
 * after a reconnect, possibly through another relay, or after a failure): the ack of whichever
 * message the controller stored under the key. Mostly told by the streams (`mine`, or `passed` and one
 * read); otherwise the store is asked with backoff through the gate. It runs until known or
 * `giveUpMs`, whoever waits on it: a client told `unavailable` meanwhile resends, and the resend waits
 * for this same verdict instead of appending again.
 */
export async function verdictOf(
  gate: LookupGate,
  watch: Watch,
  key: { channelId: string; user: string; clientMsgId: string },
  mine: AckInfo,
  timing: VerifierTiming = VERIFIER_TIMING,
): Promise<AckInfo> {
  const { channelId, user, clientMsgId } = key;
  const ask = async (read: Promise<AckInfo | null> | undefined) => {
    try {
      return (await read) ?? null;
    } catch {
      return null; // the store could not answer: ask again later
    }
  };
  const deadline = performance.now() + timing.giveUpMs;
  let stream: Promise<StreamVerdict> | undefined = watch.verdict;
  try {
    for (let delay = timing.firstCheckMs; ; delay = Math.min(delay * 2, timing.maxCheckMs)) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const slept = new Promise<undefined>((r) => {
        timer = setTimeout(() => r(undefined), Math.min(delay, left));
      });
      const told = await (stream ? Promise.race([stream, slept]) : slept);
      clearTimeout(timer);
      if (told === "mine") return mine;
      // `passed` and nothing stored would mean a claim pruned early: from then on, reads with backoff only.
      if (told === "passed") stream = undefined;
      const found = await ask(told === "passed" ? gate.needed(channelId, user, clientMsgId) : gate.spare(channelId, user, clientMsgId));
      if (found) return found;
    }
    throw new AppError("unavailable", "message accepted but not stored yet; resend it with the same client_msg_id");
  } finally {
    watch.cancel();
  }
}
