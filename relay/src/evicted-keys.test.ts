import { expect, test } from "bun:test";
import { EvictedKeys } from "./evicted-keys";

test("no false negatives, ~1 % false positives", () => {
  const f = new EvictedKeys(20_000, 4);
  for (let i = 0; i < 20_000; i++) f.add(`user-${i % 97}\u0000msg-${i}`, 10_000, 0);
  for (let i = 0; i < 20_000; i++) expect(f.mayHave(`user-${i % 97}\u0000msg-${i}`, 1)).toBe(true);
  let positives = 0;
  for (let i = 0; i < 20_000; i++) if (f.mayHave(`user-${i % 97}\u0000other-${i}`, 1)) positives++;
  expect(positives / 20_000).toBeLessThan(0.02);
  expect(f.count).toBe(1);
});

test("a generation is dropped once its youngest key is out of the window", () => {
  const f = new EvictedKeys(2, 8);
  f.add("a", 100, 0);
  f.add("b", 200, 0); // the first generation is full: until 200
  f.add("c", 300, 0); // a second one
  expect(f.count).toBe(2);
  expect([f.mayHave("a", 150), f.mayHave("b", 200), f.mayHave("c", 300)]).toEqual([true, true, true]);
  expect(f.mayHave("a", 201)).toBe(false); // a and b went with their generation
  expect(f.count).toBe(1);
  expect(f.mayHave("c", 301)).toBe(false);
  expect(f.count).toBe(0);
});

test("past the generation bound the oldest goes early, and until its keys expire anything may have been forgotten", () => {
  const f = new EvictedKeys(1, 2);
  f.add("a", 100, 0);
  f.add("b", 200, 0);
  f.add("c", 300, 0); // a's generation dropped early
  expect(f.count).toBe(2);
  expect(f.mayHave("zzz", 50)).toBe(true);
  expect(f.mayHave("zzz", 100)).toBe(true);
  expect(f.mayHave("zzz", 101)).toBe(false);
  expect(f.mayHave("b", 101)).toBe(true);
});
