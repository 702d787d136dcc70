/** When to try the socket again: the n-th failed attempt waits min(maxMs, initialMs·2ⁿ⁻¹)·[0.5, 1). */
export class Backoff {
  /** Attempts that failed before `ready` since the last socket that was up. */
  failures = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly opts: { initialMs?: number; maxMs?: number }) {}

  /** Runs `attempt` after `delay`, or after the backoff for the failures so far. */
  schedule(attempt: () => void, delay?: number): void {
    const { initialMs = 300, maxMs = 30_000 } = this.opts;
    const d = delay ?? Math.min(maxMs, initialMs * 2 ** Math.max(0, this.failures - 1)) * (0.5 + Math.random() / 2);
    clearTimeout(this.timer);
    this.timer = setTimeout(attempt, d);
  }

  /** After a socket that was up: at once, with a little jitter so a restarted server is not stampeded. */
  soon(): number {
    return Math.random() * (this.opts.initialMs ?? 300);
  }

  cancel(): void {
    clearTimeout(this.timer);
  }
}
