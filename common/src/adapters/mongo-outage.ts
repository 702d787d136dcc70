/**
 * Operations in flight across a database outage. A connection the server dropped is not always
 * noticed: in the fault suite an insert in flight when FerretDB was SIGKILLed waited 30 s for an
 * answer (the controller's per-attempt timeout) while new connections were refused and then served
 * again, so history lagged half a minute behind live delivery. An operation that started before an
 * outage is therefore abandoned once the database answers again: its caller gets `unavailable` and
 * may retry (the store's writes are idempotent or conditional); the abandoned one may still finish.
 */
export class OutageWatch {
  /** Network failures seen so far. */
  private failures = 0;
  /** `failures` as of the last recovery (a success after failures). */
  private recoveredAt = 0;
  private readonly waiting = new Set<(failures: number) => void>();

  get watching(): number {
    return this.waiting.size;
  }

  /** Any operation failed for the network (refused, reset, no server). */
  failed(): void {
    this.failures++;
  }

  /** Any operation succeeded; after failures, that is a recovery. */
  succeeded(): void {
    if (this.failures === this.recoveredAt) return;
    this.recoveredAt = this.failures;
    for (const w of [...this.waiting]) w(this.failures);
  }

  /** `op`, or `abandon()` as soon as the database recovers from failures that happened after `op` started. */
  async guard<T>(op: Promise<T>, abandon: () => Error): Promise<T> {
    const start = this.failures;
    let onRecovery!: (failures: number) => void;
    const recovered = new Promise<never>((_, reject) => {
      onRecovery = (failures) => {
        if (failures > start) reject(abandon());
      };
    });
    this.waiting.add(onRecovery);
    try {
      return await Promise.race([op, recovered]);
    } finally {
      this.waiting.delete(onRecovery);
    }
  }
}
