import { expect, test } from "bun:test";
import { TokenBucket } from "./rate-limit";

test("allows the burst, then refills at the rate", () => {
  const b = new TokenBucket(20, 40, 0);
  let ok = 0;
  for (let i = 0; i < 100; i++) if (b.take(0)) ok++;
  expect(ok).toBe(40);
  expect(b.take(49)).toBe(false); // 0.98 tokens
  expect(b.take(50)).toBe(true); // one token after 50 ms at 20/s
  expect(b.take(50)).toBe(false);
  let later = 0;
  for (let i = 0; i < 100; i++) if (b.take(10_000)) later++;
  expect(later).toBe(40); // never more than the burst
});
