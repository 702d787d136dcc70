import type { MessageStore } from "@chat/common/ports";

/**
 * Claims deleted per store call. A bounded delete never holds the store for long (standalone's runs
 * on the event loop that serves sockets; the test stack's FerretDB serves one request at a time), and
 * FerretDB on PostgreSQL refuses a delete of more than 65,535 documents at once: an unbounded delete
 * there failed every minute once claims had piled up, while it held the server for seconds.
 */
export const PRUNE_PAGE = 1000;
/** Pages per run: up to 100,000 claims a minute per controller (1,000 msg/s makes 60,000). */
export const PRUNE_MAX_PAGES = 100;

/** Forgets claims stamped before `before`, a page at a time with a turn of the event loop between pages. */
export async function pruneClaims(store: Pick<MessageStore, "pruneClientMessages">, before: Date, signal?: AbortSignal): Promise<number> {
  let total = 0;
  for (let page = 0; page < PRUNE_MAX_PAGES && !signal?.aborted; page++) {
    const n = await store.pruneClientMessages(before, PRUNE_PAGE);
    total += n;
    if (n < PRUNE_PAGE) break;
    await new Promise((r) => setImmediate(r));
  }
  return total;
}
