import { describe, expect, test } from "bun:test";
import { Histogram } from "./hist";

// Correctness of the benchmark's histogram only; no speed targets here.
describe("bench Histogram", () => {
  test("is exact below 128 µs", () => {
    const h = new Histogram();
    for (let v = 0; v < 100; v++) h.record(v);
    expect(h.quantile(0.5)).toBe(49);
    expect(h.quantile(1)).toBe(99);
    expect(h.count).toBe(100);
  });

  test("percentiles stay within 1% across the range", () => {
    const h = new Histogram();
    const values: number[] = [];
    let x = 1;
    for (let i = 0; i < 20_000; i++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      const v = 1 + (x % 5_000_000); // up to 5 s
      values.push(v);
      h.record(v);
    }
    values.sort((a, b) => a - b);
    for (const q of [0.5, 0.9, 0.95, 0.99, 0.999]) {
      const exact = values[Math.ceil(q * values.length) - 1]!;
      expect(Math.abs(h.quantile(q) - exact) / exact).toBeLessThan(0.01);
    }
    expect(h.max).toBe(values[values.length - 1]!);
  });

  test("clamps huge and negative values, merges", () => {
    const a = new Histogram();
    const b = new Histogram();
    a.record(-5);
    b.record(1e12);
    a.merge(b);
    expect(a.count).toBe(2);
    expect(a.quantile(0)).toBe(0);
    expect(a.max).toBe(2 ** 31 - 1);
  });
});
