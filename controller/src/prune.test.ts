import { expect, test } from "bun:test";
import { ClaimPruner, FIRST_LOOKBACK_MS, OVERLAP_MS } from "./prune";

function store() {
  const calls: { before: number; since: number }[] = [];
  let fail = false;
  return {
    calls,
    failNext: () => (fail = true),
    pruneClientMessages: async (before: Date, since: Date) => {
      calls.push({ before: before.getTime(), since: since.getTime() });
      if (fail) {
        fail = false;
        throw new Error("store down");
      }
      return 1;
    },
  };
}

test("the first run reaches back an hour; each later one from the last run's end, less the overlap", async () => {
  const s = store();
  const p = new ClaimPruner(s, 300_000);
  const t0 = 10_000_000_000;
  await p.run(t0);
  await p.run(t0 + 60_000);
  expect(s.calls).toEqual([
    { before: t0 - 300_000, since: t0 - 300_000 - FIRST_LOOKBACK_MS },
    { before: t0 - 240_000, since: t0 - 300_000 - OVERLAP_MS },
  ]);
});

test("a failed run is taken again by the next (its range is not forgotten); a run in progress is joined", async () => {
  const s = store();
  const p = new ClaimPruner(s, 300_000);
  const t0 = 10_000_000_000;
  s.failNext();
  await expect(p.run(t0)).rejects.toThrow("store down");
  const [a, b] = [p.run(t0 + 60_000), p.run(t0 + 60_000)];
  expect(a).toBe(b);
  await a;
  expect(s.calls[1]).toEqual({ before: t0 - 240_000, since: t0 - 240_000 - FIRST_LOOKBACK_MS });
  await p.idle();
});
