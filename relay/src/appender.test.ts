import { expect, test } from "bun:test";
import type { LogRecord, MessageLog } from "@chat/common/ports";
import { Appender } from "./appender";

/** Lets queued continuations run (the appender schedules its next request from a settled promise). */
const tick = () => new Promise<void>((r) => setImmediate(r));

/** A log whose appends complete when the test says so, recording each request. */
function scriptedLog(groupsAppends = false, appendIntervalMs?: number) {
  const requests: LogRecord[][] = [];
  const pending: (() => void)[] = [];
  let next = 1;
  const log: MessageLog = {
    append: (records) => {
      requests.push(records);
      return new Promise((resolve) => pending.push(() => resolve(records.map(() => next++))));
    },
    consume: async () => {},
    ping: async () => {},
    close: async () => {},
    groupsAppends,
    appendIntervalMs,
  };
  const starts: number[] = [];
  const waiting: { n: number; resolve: () => void }[] = [];
  const append = log.append;
  log.append = (records) => {
    starts.push(performance.now());
    const answer = append(records);
    for (const w of waiting.filter((x) => requests.length >= x.n)) waiting.splice(waiting.indexOf(w), 1), w.resolve();
    return answer;
  };
  /** Resolves once `n` requests have been made. */
  const requested = (n: number) => new Promise<void>((resolve) => (requests.length >= n ? resolve() : waiting.push({ n, resolve })));
  return { log, requests, starts, requested, completeOne: () => pending.shift()!() };
}

test("one request at a time; what arrives meanwhile goes out as the next batch, in order", async () => {
  const { log, requests, completeOne } = scriptedLog();
  const a = new Appender(log, 100);
  const first = a.append({ channelId: "c", value: "1" });
  await Promise.resolve();
  const rest = [2, 3, 4].map((i) => a.append({ channelId: "c", value: String(i) }));
  expect(requests.map((r) => r.map((x) => x.value))).toEqual([["1"]]);
  completeOne();
  expect(await first).toBe(1);
  await tick();
  expect(requests.map((r) => r.map((x) => x.value))).toEqual([["1"], ["2", "3", "4"]]);
  completeOne();
  expect(await Promise.all(rest)).toEqual([2, 3, 4]);
  await a.drain();
});

test("a log that groups appends itself gets each batch at once, without waiting for the answer before", async () => {
  const { log, requests, completeOne } = scriptedLog(true);
  const a = new Appender(log, 100);
  const first = a.append({ channelId: "c", value: "1" });
  await Promise.resolve();
  const rest = [2, 3].map((i) => a.append({ channelId: "c", value: String(i) }));
  await Promise.resolve();
  expect(requests.map((r) => r.map((x) => x.value))).toEqual([["1"], ["2", "3"]]); // the first is still unanswered
  let drained = false;
  void a.drain().then(() => (drained = true));
  completeOne();
  expect(await first).toBe(1);
  await tick();
  expect(drained).toBe(false); // the second request is still out
  completeOne();
  expect(await Promise.all(rest)).toEqual([2, 3]);
  await tick();
  expect(drained).toBe(true);
});

test("a batch stays under the byte limit, and past the pending bound the answer is unavailable", async () => {
  const { log, requests, completeOne } = scriptedLog();
  const a = new Appender(log, 4, 2000, 10);
  const big = "x".repeat(6);
  const all = [a.append({ channelId: "c", value: "first" })];
  await Promise.resolve();
  for (let i = 0; i < 4; i++) all.push(a.append({ channelId: "c", value: big }));
  await expect(a.append({ channelId: "c", value: "over" })).rejects.toMatchObject({ code: "unavailable" });
  completeOne();
  await tick();
  expect(requests[1]!.length).toBe(1); // 6 + 6 bytes would pass the 10-byte limit
  while (requests.length < 5) {
    completeOne();
    await tick();
  }
  completeOne();
  expect((await Promise.all(all)).length).toBe(5);
});

test("with an append interval, a backlog waits for it and goes out together; a message reaching an idle appender goes at once", async () => {
  const { log, requests, starts, requested, completeOne } = scriptedLog(false, 40);
  const a = new Appender(log, 100);
  const first = a.append({ channelId: "c", value: "1" });
  await Promise.resolve();
  expect(requests).toHaveLength(1); // the first after a pause goes at once
  completeOne();
  await first;
  const rest = [2, 3].map((i) => a.append({ channelId: "c", value: String(i) }));
  await tick();
  expect(requests).toHaveLength(1); // answered, but the interval has not passed
  await requested(2);
  expect(requests.map((r) => r.map((x) => x.value))).toEqual([["1"], ["2", "3"]]);
  expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(39); // (timers may round down by under a millisecond)
  completeOne();
  expect(await Promise.all(rest)).toEqual([2, 3]);
  await a.drain();
  // Idle again: the next message goes at once, though the interval since the last request has not passed.
  const late = a.append({ channelId: "c", value: "4" });
  await Promise.resolve();
  expect(requests).toHaveLength(3); // within a microtask: no timer in between
  completeOne();
  expect(await late).toBe(4);
});
