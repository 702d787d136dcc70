import { expect, test } from "bun:test";
import { backoffDelay, retry, sleep, wakeOrAbort } from "./retry";

test("backoffDelay doubles from baseMs up to maxMs", () => {
  expect([0, 1, 2, 3, 10, 60].map((a) => backoffDelay(a, { baseMs: 100, maxMs: 1000 }))).toEqual([100, 200, 400, 800, 1000, 1000]);
  expect(backoffDelay(1000)).toBe(5000); // no overflow to Infinity/NaN after many attempts
});

test("backoffDelay jitter stays within the top `jitter` share of the delay", () => {
  expect(backoffDelay(2, { baseMs: 100, jitter: 0.5, random: () => 0 })).toBe(200);
  expect(backoffDelay(2, { baseMs: 100, jitter: 0.5, random: () => 0.999999 })).toBeCloseTo(400, 2);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(3, { baseMs: 10, jitter: 0.5 });
    expect(d >= 40 && d <= 80).toBe(true);
  }
});

test("retry returns the first success and reports each failure", async () => {
  const seen: [number, number][] = [];
  let calls = 0;
  const v = await retry(
    async () => {
      if (++calls < 3) throw new Error(`fail ${calls}`);
      return "ok";
    },
    { baseMs: 1, onRetry: (_e, attempt, delay) => seen.push([attempt, delay]) },
  );
  expect([v, calls, seen]).toEqual(["ok", 3, [[0, 1], [1, 2]]]);
});

test("retry throws the last error when attempts run out", async () => {
  let calls = 0;
  const run = retry(() => Promise.reject(new Error(`fail ${++calls}`)), { attempts: 3, baseMs: 1 });
  await expect(run).rejects.toThrow("fail 3");
  expect(calls).toBe(3);
});

test("retry stops waiting and throws once the signal aborts", async () => {
  const ac = new AbortController();
  let calls = 0;
  const started = performance.now();
  const run = retry(() => Promise.reject(new Error(`fail ${++calls}`)), { baseMs: 10_000, signal: ac.signal });
  setTimeout(() => ac.abort(), 20);
  await expect(run).rejects.toThrow("fail 1");
  expect(performance.now() - started).toBeLessThan(5_000);
  // An already-aborted signal still allows the one call, never a retry.
  calls = 0;
  await expect(retry(() => Promise.reject(new Error(`fail ${++calls}`)), { signal: ac.signal })).rejects.toThrow("fail 1");
});

test("sleep ends early on abort and never rejects", async () => {
  const ac = new AbortController();
  const started = performance.now();
  const s = sleep(10_000, ac.signal);
  ac.abort();
  await s;
  expect(performance.now() - started).toBeLessThan(1_000);
});

test("wakeOrAbort resolves when woken or when the signal aborts, and leaves no listener behind", async () => {
  const ac = new AbortController();
  let added = 0;
  let removed = 0;
  const signal = ac.signal;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((...a: Parameters<typeof add>) => (added++, add(...a))) as typeof add;
  signal.removeEventListener = ((...a: Parameters<typeof remove>) => (removed++, remove(...a))) as typeof remove;
  for (let i = 0; i < 3; i++) await wakeOrAbort((wake) => queueMicrotask(wake), signal);
  expect([added, removed]).toEqual([3, 3]);
  let wake: (() => void) | undefined;
  const pending = wakeOrAbort((w) => (wake = w), signal);
  ac.abort();
  await pending;
  wake!(); // a late wake is harmless
  expect(await wakeOrAbort(() => {}, signal)).toBeUndefined(); // already aborted: at once
});
