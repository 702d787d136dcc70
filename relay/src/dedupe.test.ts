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

test("a miss proves nothing while keys younger than the window have been evicted", () => {
  const d = new Dedupe(60_000, 1000);
  for (let i = 0; i < 1000; i++) d.remember("u", `c-${i}`, ack(i), i);
  expect(d.complete(1000)).toBe(true);
  d.remember("u", "c-1000", ack(1000), 1000); // over the cap: down to 900 keys, all evicted ones inside the window
  expect(d.complete(1001)).toBe(false);
  expect(d.complete(60_100)).toBe(false); // c-100, the youngest evicted, could be resent until 60,100
  expect(d.complete(60_101)).toBe(true);
});
