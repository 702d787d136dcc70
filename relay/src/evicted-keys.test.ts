import { expect, test } from "bun:test";
import { EvictedKeys } from "./evicted-keys";

test("no false negatives, and few false positives even over many generations", () => {
  const f = new EvictedKeys(2_000, 64);
  for (let i = 0; i < 64 * 2_000; i++) f.add(`user-${i % 97}\u0000msg-${i}`, 10_000, 0);
  expect(f.count).toBe(64);
  for (let i = 0; i < 64 * 2_000; i++) expect(f.mayHave(`user-${i % 97}\u0000msg-${i}`, 1)).toBe(true);
  let positives = 0;
  for (let i = 0; i < 20_000; i++) if (f.mayHave(`user-${i % 97}\u0000other-${i}`, 1)) positives++;
  expect(positives / 20_000).toBeLessThan(0.05); // summed over the 64 generations (~0.05 % each)
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

test("past the generation bound the two oldest are merged: nothing is lost, memory stays bounded", () => {
  const f = new EvictedKeys(1, 2);
  f.add("a", 100, 0);
  f.add("b", 200, 0);
  f.add("c", 300, 0); // a and b merged into one generation (until 200)
  expect(f.count).toBe(2);
  expect([f.mayHave("a", 50), f.mayHave("b", 50), f.mayHave("c", 50)]).toEqual([true, true, true]);
  expect(f.mayHave("zzz", 50)).toBe(false);
  expect(f.mayHave("a", 200)).toBe(true); // kept as long as the younger of the two
  expect(f.mayHave("a", 201)).toBe(false);
  expect(f.mayHave("c", 201)).toBe(true);
});
