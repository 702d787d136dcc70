import { expect, test } from "bun:test";
import { clientMsgKey } from "@chat/common/message";
import { ClaimMemory } from "./claims";

const msg = (key?: string, from = "a") => ({ channel_id: "c", from, client_msg_id: key });

function memory(opts: { max?: number; load?: (since: Date, limit: number) => Promise<string[]> } = {}) {
  let now = 1_000_000;
  const failures: unknown[] = [];
  const m = new ClaimMemory({
    windowMs: 1000,
    marginMs: 500,
    max: opts.max ?? 100,
    load: opts.load ?? (async () => []),
    onLoadFailed: (err) => failures.push(err),
    now: () => now,
  });
  return { m, failures, advance: (ms: number) => (now += ms) };
}

test("not ready until the store's claims are loaded for this assignment; then a new key is fresh and a seen one is not", async () => {
  const { m } = memory({ load: async () => [clientMsgKey("c", "a", "stored")] });
  expect(m.ready(1)).toBe(false); // starts loading
  expect(m.fresh(msg("early"), false)).toBe(false); // noted, but not vouched for
  await m.settled();
  expect(m.ready(1)).toBe(true);
  expect(m.fresh(msg("stored"), true)).toBe(false);
  expect(m.fresh(msg("early"), true)).toBe(false);
  expect(m.fresh(msg("new"), true)).toBe(true);
  expect(m.fresh(msg("new"), true)).toBe(false); // a resend
  expect(m.fresh(msg("new", "b"), true)).toBe(true); // another sender's key
  expect(m.fresh(msg(undefined), true)).toBe(true); // no key: nothing to decide
  expect(m.ready(2)).toBe(false); // partitions changed hands: load again
  await m.settled();
  expect(m.ready(2)).toBe(true);
});

test("a failed load leaves it not ready and is retried after a second", async () => {
  let calls = 0;
  const { m, failures, advance } = memory({
    load: async () => {
      if (++calls === 1) throw new Error("database down");
      return [];
    },
  });
  expect(m.ready(1)).toBe(false);
  await m.settled();
  expect(failures.length).toBe(1);
  expect(m.ready(1)).toBe(false); // too soon to retry
  expect(calls).toBe(1);
  advance(1000);
  expect(m.ready(1)).toBe(false);
  await m.settled();
  expect(m.ready(1)).toBe(true);
});

test("keys are forgotten after window + margin; evicting a younger key for room makes it not ready for that long", async () => {
  const { m, advance } = memory({ max: 3 });
  m.ready(1);
  await m.settled();
  m.fresh(msg("k1"), true);
  advance(1600); // past window + margin
  expect(m.fresh(msg("k2"), true)).toBe(true);
  expect(m.size).toBe(1); // k1 aged out
  expect(m.fresh(msg("k1"), true)).toBe(true);
  m.fresh(msg("k3"), true);
  m.fresh(msg("k4"), true); // a fourth young key: the oldest is evicted though the store still holds it
  expect(m.size).toBe(3);
  expect(m.ready(1)).toBe(false);
  advance(1501);
  expect(m.ready(1)).toBe(true);
});

test("a load that reached its limit cannot vouch for anything until a window has passed", async () => {
  const { m, advance } = memory({ max: 2, load: async () => ["x", "y"] });
  m.ready(1);
  await m.settled();
  expect(m.ready(1)).toBe(false);
  advance(1500);
  expect(m.ready(1)).toBe(true);
});
