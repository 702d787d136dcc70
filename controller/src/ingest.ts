import type { Logger } from "@chat/common/log";
import { isLifecycleEntry, type MessageInfo } from "@chat/common/lifecycle";
import { type Sequenced } from "@chat/common/lifecycle-apply";
import type { LogEntry } from "@chat/common/message";
import type { Accepted, ConsumedRecord, ConsumePosition, MessageLog, MessageStore, StoreEntry } from "@chat/common/ports";
import { retry, wakeOrAbort } from "@chat/common/retry";
import { withTimeout } from "@chat/common/timeout";
import type { Event } from "@chat/proto/chat/v1/controller_pb";
import type { Metrics } from "@chat/common/metrics";
import { ClaimMemory } from "./claims";
import { toEvent } from "./events";
import type { Hub } from "./hub";
import { Unstored } from "./unstored";

export interface IngestDeps {
  log: MessageLog;
  messages: MessageStore;
  hub: Hub;
  logger: Logger;
  metrics: Metrics;
  group: string;
  /** The client_msg_id dedupe window (claims older than this are pruned from the store). */
  dedupeWindowMs: number;
  /** Records consumed but not yet stored at most; past it consumption waits for the store. */
  maxUnstored: number;
}

/**
 * A persistence attempt still unanswered after this is abandoned and retried. After a FerretDB
 * restart one driver call was seen never to settle (no reply, no error), which stalled its partition
 * for good. Attempts are idempotent (claims and messages by id, lifecycle state by $set), so a late
 * one finishing beside its retry writes the same thing.
 */
const PERSIST_ATTEMPT_MS = 30_000;
const PERSIST_RETRY_MAX_MS = 1000;
/** Claims are kept in memory this much longer than the store keeps them (it prunes once a minute). */
const CLAIM_MARGIN_MS = 5 * 60_000;
const MAX_CLAIMS = 1_000_000;
/**
 * Batches whose records all went out already are gathered this long and stored together (one
 * transaction: on SQLite each commit rewrites the pages it touched, so fewer, larger ones cost far
 * less). Delivery does not wait for it; a batch with records that wait for the store is stored at once.
 */
const STORE_GATHER_MS = 10;
/** At most this many entries in one store call. */
const STORE_MAX_ENTRIES = 5000;

/** A batch taken in and not stored yet. */
interface Job {
  k: number;
  records: number;
  toStore: Sequenced<StoreEntry>[];
  later: Sequenced<LogEntry>[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * The log is the source of truth, so a consumed message is published to relays at once and stored
 * beside it: live delivery never waits for the database, and a database outage does not stop it.
 * What only the store can decide waits for it, in log order per channel:
 * - a lifecycle entry (edit, delete, reaction, read) takes effect or not depending on the stored
 *   state, and nothing about a deleted message may ever be published;
 * - a message with a client_msg_id that may be a resend (its key seen before, or the claim memory
 *   not complete) is published only if the store keeps it.
 * Once one of a channel's records waits, the channel's later records wait behind it until that
 * batch is stored (relays deliver a channel in seq order). Batches are stored one after another,
 * and a batch's position is committed only once it is stored.
 */
export class Ingest {
  private jobs: Job[] = [];
  private draining = false;
  private gathering: ReturnType<typeof setTimeout> | undefined;
  private batches = 0;
  /** Channels whose records wait for the store, with the last batch holding them back. */
  private readonly held = new Map<string, number>();
  readonly unstored = new Unstored();
  private readonly claims: ClaimMemory;
  private pending = 0;
  private roomWaiters: (() => void)[] = [];

  constructor(private readonly deps: IngestDeps) {
    this.claims = new ClaimMemory({
      windowMs: deps.dedupeWindowMs,
      marginMs: CLAIM_MARGIN_MS,
      max: MAX_CLAIMS,
      load: (since, limit) => deps.messages.claimsSince(since, limit),
      onLoadFailed: (err) => deps.logger.warn("loading client_msg_id claims failed; keyed messages wait for the store", { err: String(err) }),
    });
  }

  run(signal: AbortSignal): Promise<void> {
    return this.deps.log.consume({ group: this.deps.group, signal, handle: (batch, position) => this.accept(batch, position, signal) });
  }

  /** Takes a batch in: publishes what needs no store decision, and stores the batch after the ones before it. */
  async accept(batch: ConsumedRecord[], position: ConsumePosition, signal: AbortSignal): Promise<Accepted> {
    const { deps } = this;
    while (this.pending >= deps.maxUnstored && !signal.aborted) await wakeOrAbort((wake) => this.roomWaiters.push(wake), signal);
    if (signal.aborted) return { settled: Promise.reject(new Error("stopping")) };
    const k = ++this.batches;
    const ready = this.claims.ready(position.assignment);
    const now: Event[] = [];
    const messages: [Event, MessageInfo][] = [];
    const later: Sequenced<LogEntry>[] = [];
    const toStore: Sequenced<StoreEntry>[] = [];
    for (const r of batch) {
      let entry: LogEntry;
      try {
        entry = JSON.parse(r.value) as LogEntry;
      } catch {
        deps.logger.error("skipping undecodable log record", { seq: r.seq, channel_id: r.channelId });
        continue;
      }
      const x = { seq: r.seq, entry };
      const lifecycle = isLifecycleEntry(entry);
      if (entry.kind === "message" || lifecycle) toStore.push(x as Sequenced<StoreEntry>);
      const ch = entry.channel_id;
      // The claim is noted whatever happens to the message: from here on its key is taken.
      const fresh = entry.kind === "message" ? this.claims.fresh(entry, ready) : !lifecycle;
      if (fresh && !this.held.has(ch)) {
        const ev = toEvent(entry, x.seq);
        now.push(ev);
        if (entry.kind === "message") {
          const { id, from, to, type, reply_to } = entry;
          messages.push([ev, { id, channel_id: ch, seq: x.seq, from, to, type, deleted: false, reply_to, emoji: [] }]);
        }
      } else {
        later.push(x);
        this.held.set(ch, k);
      }
    }
    this.unstored.add(k, messages);
    this.publish(now);
    this.pending += batch.length;
    deps.metrics.logLag.set({ partition: position.partition }, position.lag);
    const settled = new Promise<void>((resolve, reject) => this.jobs.push({ k, records: batch.length, toStore, later, resolve, reject }));
    this.schedule(later.length > 0, signal);
    return { settled };
  }

  /** A drain soon: at once when something waits for the store, else after gathering a little. */
  private schedule(urgent: boolean, signal: AbortSignal): void {
    if (this.draining) return; // the running drain takes what arrives meanwhile
    if (urgent || this.pending >= this.deps.maxUnstored) {
      clearTimeout(this.gathering);
      this.gathering = undefined;
      this.draining = true;
      setImmediate(() => void this.drain(signal));
    } else {
      this.gathering ??= setTimeout(() => {
        this.gathering = undefined;
        this.draining = true;
        void this.drain(signal);
      }, STORE_GATHER_MS);
    }
  }

  /** Stores the waiting batches in order, those waiting together in one call; what gathers meanwhile goes next. */
  private async drain(signal: AbortSignal): Promise<void> {
    try {
      while (this.jobs.length) {
        let n = 0;
        let entries = 0;
        while (n < this.jobs.length && (n === 0 || entries + this.jobs[n]!.toStore.length <= STORE_MAX_ENTRIES)) entries += this.jobs[n++]!.toStore.length;
        const jobs = this.jobs.splice(0, n);
        try {
          await this.store(jobs, signal);
        } catch (err) {
          // Only when stopping (persistence retries until then): nothing after these may be committed either.
          for (const j of [...jobs, ...this.jobs.splice(0)]) j.reject(err);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private async store(jobs: Job[], signal: AbortSignal): Promise<void> {
    const { deps } = this;
    const toStore = jobs.length === 1 ? jobs[0]!.toStore : jobs.flatMap((j) => j.toStore);
    // Persistence never gives up on a batch: the position is committed only after it succeeds.
    const applied = toStore.length ? await this.untilDone("persist", () => deps.messages.applyBatch(toStore), signal) : [];
    const effective = new Map<Sequenced<LogEntry>, StoreEntry | null>(toStore.map((x, i) => [x, applied[i] ?? null]));
    const waited = new Set(jobs.flatMap((j) => j.later));
    for (const x of toStore) {
      // Published as new, yet the store kept another message under its key: the claim memory was wrong.
      if (x.entry.kind === "message" && !waited.has(x) && effective.get(x) === null) {
        deps.logger.error("a message published before storing was a resend", { channel_id: x.entry.channel_id, seq: x.seq });
      }
    }
    // Positions are committed only once the store could not lose these batches any more (standalone's
    // SQLite commits are fsync'd later, off the event loop): a crash before that consumes them again.
    const durable = toStore.length ? this.untilDone("store sync", () => deps.messages.synced(), signal) : Promise.resolve();
    for (const { k, later, records, resolve, reject } of jobs) {
      const events: Event[] = [];
      for (const x of later) {
        const e = effective.has(x) ? effective.get(x) : x.entry;
        if (e) events.push(toEvent(e, x.seq));
      }
      this.unstored.drop(k);
      this.publish(events);
      for (const [ch, last] of this.held) if (last === k) this.held.delete(ch);
      this.pending -= records;
      durable.then(resolve, reject); // rejects only when stopping: the positions stay uncommitted
    }
    deps.metrics.persisted.inc(toStore.length);
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * A store call retried until it succeeds or we stop, each attempt abandoned after PERSIST_ATTEMPT_MS;
   * at most a second apart: history catches up within about a second of the database's return (one
   * failed batch a second is no load), not after the default's 5 s.
   */
  private untilDone<T>(what: string, call: () => Promise<T>, signal: AbortSignal): Promise<T> {
    return retry(() => withTimeout(call(), PERSIST_ATTEMPT_MS, what), {
      signal,
      maxMs: PERSIST_RETRY_MAX_MS,
      onRetry: (err, attempt, delay) => this.deps.logger.warn(`${what} failed, retrying`, { attempt, delay_ms: delay, err }),
    });
  }

  private publish(events: Event[]): void {
    if (events.length === 0) return;
    this.deps.hub.publish(events);
    this.deps.metrics.published.inc(events.length);
  }
}
