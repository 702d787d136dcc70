import type { Logger } from "./log";

/**
 * Failures of one dependency logged as state changes: the first failure ("unreachable"), then one
 * "still unreachable" line with the count every `everyMs`, and "reachable again" on the next success
 * — instead of one line per refused attempt.
 */
export class OutageLog {
  private since: number | undefined;
  private failures = 0;
  private lastLogAt = 0;

  constructor(
    private readonly logger: Logger,
    private readonly what: string,
    private readonly everyMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  get active(): boolean {
    return this.since !== undefined;
  }

  failed(fields: Record<string, unknown> = {}): void {
    const now = this.now();
    this.failures++;
    if (this.since === undefined) {
      this.since = this.lastLogAt = now;
      this.logger.warn(`${this.what} unreachable`, fields);
    } else if (now - this.lastLogAt >= this.everyMs) {
      this.lastLogAt = now;
      this.logger.warn(`${this.what} still unreachable`, { ...fields, failures: this.failures, down_for_ms: now - this.since });
    }
  }

  ok(): void {
    if (this.since === undefined) return;
    this.logger.info(`${this.what} reachable again`, { failures: this.failures, down_for_ms: this.now() - this.since });
    this.since = undefined;
    this.failures = 0;
  }
}
