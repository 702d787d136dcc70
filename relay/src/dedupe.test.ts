import { expect, test } from "bun:test";
import { Dedupe } from "./dedupe";

const ack = (seq: number) => Promise.resolve({ id: "a".repeat(24), seq, ts: "t" });

test("a key is remembered for the window, per user", async () => {
  const d = new Dedupe(1000, 1000);
  d.remember("u", "c-1", ack(1), 0);
  expect(await d.get("u", "c-1", 999)).toMatchObject({ seq: 1 });
  expect(d.get("v", "c-1", 999)).toBeUndefined();
  expect(d.get("u", "c-1", 1001)).toBeUndefined();
});

test("a failed send is forgotten so a retry can go through", async () => {
  const d = new Dedupe(1000, 1000);
  const failed = Promise.reject(new Error("log down"));
  d.remember("u", "c-1", failed, 0);
  await failed.catch(() => undefined);
  await Promise.resolve();
  expect(d.get("u", "c-1", 1)).toBeUndefined();
  expect(d.suspect("u", "c-1", 1)).toBe(true); // it may have been stored all the same: a resend is checked
  expect(d.suspect("u", "c-1", 1001)).toBe(false);
  expect(d.suspect("u", "c-2", 1)).toBe(false);
});

test("past the entry cap the oldest keys go first", () => {
  const d = new Dedupe(60_000, 1000);
  for (let i = 0; i < 1001; i++) d.remember("u", `c-${i}`, ack(i), i);
  expect(d.get("u", "c-0", 2000)).toBeUndefined();
  expect(d.get("u", "c-1000", 2000)).toBeDefined();
});

test("past the cap, a miss needs the store only for keys evicted inside their window, not for every key", () => {
  const d = new Dedupe(60_000, 1000);
  for (let i = 0; i < 1000; i++) d.remember("u", `c-${i}`, ack(i), i);
  expect(d.mayHaveForgotten("u", "c-0", 1000)).toBe(false);
  d.remember("u", "c-1000", ack(1000), 1000); // over the cap: down to 900 keys, the 101 evicted ones all inside the window
  for (let i = 0; i <= 100; i++) expect(d.mayHaveForgotten("u", `c-${i}`, 1001)).toBe(true);
  expect(d.get("u", "c-101", 1001)).toBeDefined(); // still remembered: answered from memory, not the filter
  // Keys never sent: nearly all known not to be forgotten (a Bloom filter's false positives are ~1 %).
  let positives = 0;
  for (let i = 0; i < 1000; i++) if (d.mayHaveForgotten("u", `new-${i}`, 1001)) positives++;
  expect(positives).toBeLessThan(30);
  expect(d.mayHaveForgotten("v", "c-0", 1001)).toBe(false); // per user
  expect(d.mayHaveForgotten("u", "c-100", 60_100)).toBe(true); // c-100, the youngest evicted, could be resent until 60,100
  expect(d.mayHaveForgotten("u", "c-100", 60_101)).toBe(false);
});

test("keys evicted past the filters' bound are still known to be forgotten; keys never sent still are not", () => {
  const d = new Dedupe(60_000, 1000, 2); // generations of 1,000 evicted keys, 2 at most: older ones merged
  for (let i = 0; i < 4000; i++) d.remember("u", `c-${i}`, ack(i), i);
  const forgotten = [...Array(4000).keys()].filter((i) => d.get("u", `c-${i}`, 4000) === undefined);
  expect(forgotten.length).toBeGreaterThan(3000); // c-0 … c-3029, all inside the window, in 4 generations' worth
  for (const i of forgotten) expect(d.mayHaveForgotten("u", `c-${i}`, 4000)).toBe(true);
  let positives = 0;
  for (let i = 0; i < 1000; i++) if (d.mayHaveForgotten("u", `new-${i}`, 4000)) positives++;
  expect(positives).toBeLessThan(500); // merged generations hold ~3x their capacity here: more false positives, not all
  const youngest = forgotten.at(-1)!;
  expect(d.mayHaveForgotten("u", `c-${youngest}`, youngest + 60_000)).toBe(true);
  expect(d.mayHaveForgotten("u", `c-${youngest}`, youngest + 60_001)).toBe(false);
});

test("a key sent again is remembered anew at the back: eviction still takes the oldest first", async () => {
  const d = new Dedupe(60_000, 1000);
  const failed = Promise.reject(new Error("log down"));
  d.remember("u", "c-0", failed, 0);
  await failed.catch(() => undefined);
  for (let i = 1; i < 1000; i++) d.remember("u", `c-${i}`, ack(i), i);
  d.remember("u", "c-0", ack(0), 5000); // its resend, now the youngest
  d.remember("u", "c-1000", ack(1000), 5001); // over the cap: the oldest 101 go (c-1 … c-101), not c-0
  expect(d.get("u", "c-0", 5002)).toBeDefined();
  expect(d.get("u", "c-1", 5002)).toBeUndefined();
});
