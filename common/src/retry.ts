/** How long to wait before retry number `attempt` (0-based): exponential, capped, optionally jittered. */
export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
  /** 0 = none; 0.5 = anywhere in the upper half of the delay (spreads reconnect storms). */
  jitter?: number;
  random?: () => number;
}

export function backoffDelay(attempt: number, { baseMs = 100, maxMs = 5000, jitter = 0, random = Math.random }: BackoffOptions = {}): number {
  const delay = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  return jitter > 0 ? delay * (1 - jitter + jitter * random()) : delay;
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Resolves once the `wake` handed to `register` is called, or at once when `signal` aborts (never
 * rejects); the abort listener is removed either way, so a loop may wait thousands of times.
 */
export function wakeOrAbort(register: (wake: () => void) => void, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      signal.removeEventListener("abort", done);
      resolve();
    };
    signal.addEventListener("abort", done, { once: true });
    register(done);
  });
}

export interface RetryOptions extends BackoffOptions {
  /** Calls in all, the first included; unbounded by default. */
  attempts?: number;
  /** Stops retrying once aborted: the last error is thrown. */
  signal?: AbortSignal;
  /** Before each wait, e.g. to log; `attempt` is the 0-based number of the call that failed. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** Calls `fn` until it resolves, waiting with backoff between failures; throws the last error when attempts run out or `signal` aborts. */
export async function retry<T>(fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = opts.attempts ?? Infinity;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt + 1 >= attempts || opts.signal?.aborted) throw err;
      const delay = backoffDelay(attempt, opts);
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay, opts.signal);
      if (opts.signal?.aborted) throw err;
    }
  }
}
