import type { Logger } from "./log";
import type { Metrics } from "./metrics";
import { sleep } from "./retry";
import { withTimeout } from "./timeout";

export interface MonitorOptions {
  /** Pause between two checks of one dependency. */
  intervalMs?: number;
  /** A check answering within this is up, however slow ("degraded" past half of it). */
  timeoutMs?: number;
  /** Down after this many consecutive refusals (a check that throws)... */
  failuresToDown?: number;
  /** ...or once refusals have lasted this long (counted from the start of the first failed check). */
  downAfterMs?: number;
  /** Checks that only time out (slow, not refused) make it down once they have lasted this long. */
  hungDownAfterMs?: number;
  /** While down, one "still down" line this often. */
  logEveryMs?: number;
  /** A check unanswered this long gets a second one beside it; the first of the two to settle counts. */
  hedgeAfterMs?: number;
}

const DEFAULTS: Required<MonitorOptions> = {
  intervalMs: 1000,
  timeoutMs: 10_000,
  failuresToDown: 3,
  downAfterMs: 5000,
  hungDownAfterMs: 30_000,
  logEveryMs: 10_000,
  hedgeAfterMs: 2000,
};

type State = "starting" | "up" | "down";

/** A check that answered with an error (refused), as opposed to one that did not answer in time. */
class Refused extends Error {
  constructor(override readonly cause: unknown) {
    super(String(cause));
  }
}

interface Dependency {
  name: string;
  check: () => Promise<void>;
  state: State;
  failures: number;
  /** Start of the first check of the current run of failures. */
  failingSince?: number;
  /** Whether every failure of the current run was a timeout (slow) rather than a refusal. */
  onlyTimeouts: boolean;
  downSince?: number;
  lastLogAt: number;
  lastSeconds: number;
}

/**
 * Readiness that tells down from slow: each dependency is checked in the background, one check at a
 * time with its own timeout. Refused checks make it down after `failuresToDown` in a row or once they
 * have lasted `downAfterMs`; checks that only time out (slow) after `hungDownAfterMs`; one success
 * brings it back. `/v1/ready` reads the verdicts (never waits on a
 * dependency), a gauge per dependency shows up/degraded, and the log gets one line per state change
 * (down, still down every `logEveryMs` with the count, back) instead of one per failed attempt.
 */
export class DependencyMonitor {
  private readonly deps: Dependency[];
  private readonly opts: Required<MonitorOptions>;
  private readonly stopping = new AbortController();
  private loops: Promise<void>[] = [];

  constructor(
    checks: Record<string, () => Promise<void>>,
    private readonly logger: Logger,
    private readonly metrics?: Metrics,
    opts: MonitorOptions = {},
  ) {
    this.opts = { ...DEFAULTS, ...opts };
    this.deps = Object.entries(checks).map(([name, check]) => ({ name, check, state: "starting", failures: 0, onlyTimeouts: true, lastLogAt: 0, lastSeconds: 0 }));
  }

  start(): this {
    if (!this.loops.length) this.loops = this.deps.map((d) => this.loop(d));
    return this;
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.all(this.loops);
  }

  /** Instant checks by dependency name (they throw while it is down or not yet checked), for runChecks. */
  get checks(): Record<string, () => Promise<void>> {
    return Object.fromEntries(
      this.deps.map((d) => [
        d.name,
        async () => {
          if (d.state !== "up") throw new Error(`${d.name} ${d.state}`);
        },
      ]),
    );
  }

  /** Each dependency's state (for tests and diagnostics). */
  states(): Record<string, State> {
    return Object.fromEntries(this.deps.map((d) => [d.name, d.state]));
  }

  private async loop(d: Dependency): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      const t0 = Date.now();
      // After a refusal, a check that has not answered by the time the refusals have lasted `downAfterMs`
      // makes it down then: a dead database's driver may sit in server selection for seconds first.
      const overdue =
        d.state !== "down" && d.failures > 0 && !d.onlyTimeouts
          ? setTimeout(() => this.down(d, Date.now(), "no answer since the last refusal"), Math.max(0, d.failingSince! + this.opts.downAfterMs - t0))
          : undefined;
      try {
        const answered = this.probe(d).catch((err: unknown) => {
          throw new Refused(err);
        });
        await withTimeout(answered, this.opts.timeoutMs, d.name);
        this.succeeded(d, Date.now() - t0);
      } catch (err) {
        this.failed(d, t0, err);
      } finally {
        clearTimeout(overdue);
      }
      await sleep(this.opts.intervalMs, signal);
    }
  }

  /**
   * One check, hedged: a call can hang on a connection the client never noticed die (a database
   * SIGKILLed while management's ping was in flight waited out the 10 s timeout, counted as slow, and
   * was reported down only after 16 s). A second call beside it, past `hedgeAfterMs`, is refused by a
   * dead dependency and answers from a live one; a slow one keeps both slow. A dependency that is slow
   * to answer but refuses new calls counts as refused: it cannot take new work either.
   */
  private probe(d: Dependency): Promise<void> {
    const first = d.check();
    if (this.opts.hedgeAfterMs >= this.opts.timeoutMs) return first;
    let timer: Timer | undefined;
    const second = new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => Promise.resolve().then(() => d.check()).then(resolve, reject), this.opts.hedgeAfterMs);
    });
    return Promise.race([first, second]).finally(() => clearTimeout(timer));
  }

  private succeeded(d: Dependency, ms: number): void {
    if (d.state === "down") this.logger.info("dependency back", { dependency: d.name, down_for_ms: Date.now() - d.downSince!, failures: d.failures });
    d.state = "up";
    d.failures = 0;
    d.onlyTimeouts = true;
    d.failingSince = d.downSince = undefined;
    d.lastSeconds = ms / 1000;
    this.metrics?.dependencyUp.set({ dependency: d.name }, 1);
    // Answering, but in more than half the time it is allowed: visible, not a reason to stop serving.
    this.metrics?.dependencyDegraded.set({ dependency: d.name }, ms > this.opts.timeoutMs / 2 ? 1 : 0);
    this.metrics?.dependencyCheckSeconds.set({ dependency: d.name }, d.lastSeconds);
  }

  private failed(d: Dependency, startedAt: number, err: unknown): void {
    const now = Date.now();
    d.failures++;
    d.failingSince ??= startedAt;
    d.onlyTimeouts &&= !(err instanceof Refused);
    this.metrics?.dependencyCheckSeconds.set({ dependency: d.name }, (now - startedAt) / 1000);
    const down = d.onlyTimeouts
      ? now - d.failingSince >= this.opts.hungDownAfterMs
      : d.failures >= this.opts.failuresToDown || now - d.failingSince >= this.opts.downAfterMs;
    if (d.state !== "down" && down) this.down(d, now, err);
    else if (d.state === "down" && now - d.lastLogAt >= this.opts.logEveryMs) {
      d.lastLogAt = now;
      this.logger.warn("dependency still down", { dependency: d.name, failures: d.failures, down_for_ms: now - d.downSince!, err: String(err) });
    }
    this.metrics?.dependencyUp.set({ dependency: d.name }, d.state === "up" ? 1 : 0);
    this.metrics?.dependencyDegraded.set({ dependency: d.name }, 1);
  }

  private down(d: Dependency, now: number, err: unknown): void {
    if (d.state === "down") return;
    d.state = "down";
    d.downSince = d.failingSince;
    d.lastLogAt = now;
    this.logger.warn("dependency down", { dependency: d.name, failures: d.failures, err: String(err) });
    this.metrics?.dependencyUp.set({ dependency: d.name }, 0);
  }
}
