import { expect, test } from "bun:test";
import { RecordTail } from "./record-tail";

const rec = (seq: number, value = "v") => ({ seq, channelId: "c", value });

test("hands out consecutive records after a position, up to a bound and a limit", () => {
  const t = new RecordTail(100, 1 << 20);
  for (let s = 1; s <= 10; s++) t.push(rec(s));
  expect(t.after(3, 6, 1000)!.map((r) => r.seq)).toEqual([4, 5, 6]);
  expect(t.after(3, 10, 2)!.map((r) => r.seq)).toEqual([4, 5]);
  expect(t.after(10, 10, 1000)).toEqual([]);
  expect(t.after(11, 12, 1000)).toBeUndefined(); // not here: read the log
});

test("a gap in seqs (a restart above the bound) sends the read to the log", () => {
  const t = new RecordTail(100, 1 << 20);
  for (const s of [1, 2, 13, 14]) t.push(rec(s));
  expect(t.after(1, 14, 1000)).toBeUndefined();
  expect(t.after(0, 1, 1000)!.map((r) => r.seq)).toEqual([1]);
});

test("keeps the newest records within the count and the bytes", () => {
  const byCount = new RecordTail(4, 1 << 20);
  for (let s = 1; s <= 9; s++) byCount.push(rec(s)); // the 9th push cuts to the newest 4
  expect(byCount.after(4, 9, 1000)).toBeUndefined();
  expect(byCount.after(5, 9, 1000)!.map((r) => r.seq)).toEqual([6, 7, 8, 9]);

  const big = "x".repeat(1000); // ~2 KB each
  const byBytes = new RecordTail(1000, 10_000);
  for (let s = 1; s <= 10; s++) byBytes.push(rec(s, big)); // past 20 KB: cut to ~10 KB, 4 records
  expect(byBytes.after(5, 10, 1000)).toBeUndefined();
  expect(byBytes.after(6, 10, 1000)!.map((r) => r.seq)).toEqual([7, 8, 9, 10]);
});
