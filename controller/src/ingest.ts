import type { Logger } from "@chat/common/log";
import { isLifecycleEntry } from "@chat/common/lifecycle";
import { type Sequenced } from "@chat/common/lifecycle-apply";
import type { LogEntry } from "@chat/common/message";
import type { ConsumedRecord, ConsumePosition, MessageLog, MessageStore, StoreEntry } from "@chat/common/ports";
import { retry } from "@chat/common/retry";
import { withTimeout } from "@chat/common/timeout";
import type { Event } from "@chat/proto/chat/v1/controller_pb";
import { toEvent } from "./events";
import type { Hub } from "./hub";
import type { Metrics } from "@chat/common/metrics";

export interface IngestDeps {
  log: MessageLog;
  messages: MessageStore;
  hub: Hub;
  logger: Logger;
  metrics: Metrics;
  group: string;
}

/**
 * A persistence attempt still unanswered after this is abandoned and retried. After a FerretDB
 * restart one driver call was seen never to settle (no reply, no error), which stalled its partition
 * for good. Attempts are idempotent (claims and messages by id, lifecycle state by $set), so a late
 * one finishing beside its retry writes the same thing.
 */
const PERSIST_ATTEMPT_MS = 30_000;

/**
 * One consumed batch: persist it (messages idempotently by id, lifecycle entries by seq), then hand
 * the hub every event in log order — lifecycle events only where they took effect, so nothing about
 * a deleted message, a second identical reaction or a backwards read marker is ever published.
 */
export async function ingestBatch(
  deps: Pick<IngestDeps, "messages" | "hub" | "logger" | "metrics">,
  batch: ConsumedRecord[],
  position: ConsumePosition,
  signal: AbortSignal,
): Promise<void> {
  const entries: Sequenced<LogEntry>[] = [];
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
    entries.push(x);
    if (entry.kind === "message" || isLifecycleEntry(entry)) toStore.push(x as Sequenced<StoreEntry>);
  }
  // Persistence never gives up on a batch: the position is committed only after it succeeds.
  const applied = toStore.length
    ? await retry(() => withTimeout(deps.messages.applyBatch(toStore), PERSIST_ATTEMPT_MS, "persist"), {
        signal,
        onRetry: (err, attempt, delay) => deps.logger.warn("persist failed, retrying", { attempt, delay_ms: delay, err }),
      })
    : [];
  const effective = new Map<Sequenced<LogEntry>, StoreEntry | null>(toStore.map((x, i) => [x, applied[i] ?? null]));
  const events: Event[] = [];
  for (const x of entries) {
    const e = effective.has(x) ? effective.get(x) : x.entry;
    if (e) events.push(toEvent(e, x.seq));
  }
  deps.metrics.persisted.inc(toStore.length);
  deps.hub.publish(events);
  deps.metrics.published.inc(events.length);
  deps.metrics.logLag.set({ partition: position.partition }, position.lag);
}

export function runIngest(deps: IngestDeps, signal: AbortSignal): Promise<void> {
  return deps.log.consume({ group: deps.group, signal, handle: (batch, position) => ingestBatch(deps, batch, position, signal) });
}
