import { expect, test } from "bun:test";
import { DeliveryLag } from "./backpressure";

// A relay's view of its consumers: what it acked, what came back.
function lagWith(maxLagMs: number) {
  const delivered = new Map<string, number>();
  const lag = new DeliveryLag(maxLagMs, (ch, seq) => (delivered.get(ch) ?? 0) >= seq);
  return { lag, delivered };
}
const refused = (f: () => void) => {
  try {
    f();
    return false;
  } catch (err) {
    return (err as { code?: string }).code === "unavailable";
  }
};

test("sends are refused while a message acked longer ago than the limit has not come back, and admitted again once it has", () => {
  const { lag, delivered } = lagWith(1000);
  lag.acked("a", 10, 0);
  lag.acked("b", 11, 100);
  expect(refused(() => lag.admit(900))).toBe(false);
  expect(refused(() => lag.admit(1500))).toBe(true);
  delivered.set("a", 10);
  expect(refused(() => lag.admit(1050))).toBe(false); // b is 950 ms old
  expect(refused(() => lag.admit(1200))).toBe(true); // b is 1,100 ms old
  delivered.set("b", 20);
  expect(refused(() => lag.admit(1600))).toBe(false);
});

test("a channel no socket here waits for (even if one takes it up again), or an append that never comes back, stops counting", () => {
  const { lag } = lagWith(1000);
  lag.acked("a", 1, 0);
  lag.acked("b", 2, 0);
  lag.forget("a");
  lag.acked("a", 3, 1400); // taken up again: only what was acked since counts
  expect(refused(() => lag.admit(1500))).toBe(true); // b
  expect(refused(() => lag.admit(2001))).toBe(false); // b dropped after 2 × the limit; a's new one is 601 ms old
  expect(refused(() => lag.admit(2401))).toBe(true); // a's new one
});

test("0 turns it off", () => {
  const { lag } = lagWith(0);
  lag.acked("a", 1, 0);
  expect(refused(() => lag.admit(1e9))).toBe(false);
});
