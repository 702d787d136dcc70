import { expect, test } from "bun:test";
import { PRUNE_MAX_PAGES, PRUNE_PAGE, pruneClaims } from "./prune";

/** A store holding `n` expired claims, recording each page it is asked for. */
function store(n: number) {
  const pages: number[] = [];
  return {
    pages,
    pruneClientMessages: async (_before: Date, limit: number) => {
      const k = Math.min(limit, n);
      n -= k;
      pages.push(k);
      return k;
    },
  };
}

test("pages until one comes back short", async () => {
  const s = store(2 * PRUNE_PAGE + 7);
  expect(await pruneClaims(s, new Date())).toBe(2 * PRUNE_PAGE + 7);
  expect(s.pages).toEqual([PRUNE_PAGE, PRUNE_PAGE, 7]);
});

test("at most PRUNE_MAX_PAGES pages a run; an aborted run stops", async () => {
  const s = store(10 * PRUNE_MAX_PAGES * PRUNE_PAGE);
  expect(await pruneClaims(s, new Date())).toBe(PRUNE_MAX_PAGES * PRUNE_PAGE);
  const ac = new AbortController();
  ac.abort();
  expect(await pruneClaims(s, new Date(), ac.signal)).toBe(0);
});
