import type { Logger } from "@chat/common/log";
import type { LogEntry, StoredMessage } from "@chat/common/message";
import type { ConsumedRecord, ConsumePosition, MessageLog, MessageStore } from "@chat/common/ports";
import { retry } from "@chat/common/retry";
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

/** One consumed batch: persist its messages (idempotently), then hand every event to the hub. */
export async function ingestBatch(
  deps: Pick<IngestDeps, "messages" | "hub" | "logger" | "metrics">,
  batch: ConsumedRecord[],
  position: ConsumePosition,
  signal: AbortSignal,
): Promise<void> {
  const stored: StoredMessage[] = [];
  const events: Event[] = [];
  for (const r of batch) {
    let entry: LogEntry;
    try {
      entry = JSON.parse(r.value) as LogEntry;
    } catch {
      deps.logger.error("skipping undecodable log record", { seq: r.seq, channel_id: r.channelId });
      continue;
    }
    if (entry.kind === "message") {
      const { kind: _k, ...m } = entry;
      stored.push({ ...m, seq: r.seq });
    }
    events.push(toEvent(entry, r.seq));
  }
  // Persistence never gives up on a batch: the position is committed only after it succeeds.
  if (stored.length)
    await retry(() => deps.messages.insertMany(stored), {
      signal,
      onRetry: (err, attempt, delay) => deps.logger.warn("persist failed, retrying", { attempt, delay_ms: delay, err }),
    });
  deps.metrics.persisted.inc(stored.length);
  deps.hub.publish(events);
  deps.metrics.published.inc(events.length);
  deps.metrics.logLag.set({ partition: position.partition }, position.lag);
}

export function runIngest(deps: IngestDeps, signal: AbortSignal): Promise<void> {
  return deps.log.consume({ group: deps.group, signal, handle: (batch, position) => ingestBatch(deps, batch, position, signal) });
}
