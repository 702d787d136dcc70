import type { MessageStore } from "@chat/common/ports";

/** A controller's first run also takes claims this much older than the window (a restart's gap). */
export const FIRST_LOOKBACK_MS = 60 * 60_000;
/** Later runs reach back over the previous one by this much (claims stamped late, clock steps). */
export const OVERLAP_MS = 60_000;

/**
 * Drops client_msg_id claims older than the dedupe window, run after run: each takes what expired
 * since the run before (stores delete in bounded steps, see `MessageStore.pruneClientMessages`).
 * Any controller may run it; runs are idempotent.
 */
export class ClaimPruner {
  private lastBefore: number | undefined;
  private running: Promise<number> | undefined;

  constructor(
    private readonly store: Pick<MessageStore, "pruneClientMessages">,
    private readonly windowMs: number,
  ) {}

  /** One run (joined if one is still going). */
  run(now = Date.now()): Promise<number> {
    this.running ??= (async () => {
      const before = now - this.windowMs;
      const since = this.lastBefore === undefined ? before - FIRST_LOOKBACK_MS : Math.min(this.lastBefore, before) - OVERLAP_MS;
      try {
        const n = await this.store.pruneClientMessages(new Date(before), new Date(since));
        this.lastBefore = before;
        return n;
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Resolves once no run is going. */
  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }
}
