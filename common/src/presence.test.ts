import { describe, expect, test } from "bun:test";
import { newEpoch, PresenceTable, type PresenceChange, type PresenceUpdate } from "./presence";

const T1 = "a".repeat(24);
const T2 = "b".repeat(24);
const LEASE = 15_000;

function table(strict = false) {
  const seen: PresenceChange[] = [];
  const t = new PresenceTable(5_000, (c) => seen.push(...c));
  const apply = (u: Partial<PresenceUpdate> & { relayId: string; seq: number }, now: number) =>
    t.apply({ epoch: "e1", baseSeq: u.seq - 1, full: false, up: [], down: [], leaseMs: LEASE, ...u }, now, strict);
  return { t, seen, apply, take: () => seen.splice(0) };
}
const up = (user: string, ...channelIds: string[]) => ({ user, channelIds });

describe("PresenceTable", () => {
  test("online at once in each team, offline only after the grace", () => {
    const { t, apply, take } = table();
    apply({ relayId: "r1", seq: 1, full: true, up: [up("u", T1, T2)] }, 0);
    expect(take()).toEqual([
      { channel: T1, user: "u", online: true },
      { channel: T2, user: "u", online: true },
    ]);
    apply({ relayId: "r1", seq: 2, down: ["u"] }, 1_000);
    expect(take()).toEqual([]);
    expect(t.online(T1)).toEqual(["u"]); // still within the grace
    t.tick(5_999);
    expect(take()).toEqual([]);
    t.tick(6_000);
    expect(take().map((c) => [c.channel, c.online])).toEqual([
      [T1, false],
      [T2, false],
    ]);
    expect(t.online(T1)).toEqual([]);
  });

  test("a reconnect within the grace, even through another relay, produces no change", () => {
    const { t, apply, take } = table();
    apply({ relayId: "r1", seq: 1, full: true, up: [up("u", T1)] }, 0);
    take();
    apply({ relayId: "r1", seq: 2, down: ["u"] }, 100);
    apply({ relayId: "r2", seq: 1, full: true, up: [up("u", T1)] }, 2_000);
    t.tick(10_000);
    expect(take()).toEqual([]);
    expect(t.online(T1)).toEqual(["u"]);
  });

  test("held by two relays: online until both let go", () => {
    const { t, apply, take } = table();
    apply({ relayId: "r1", seq: 1, full: true, up: [up("u", T1)] }, 0);
    apply({ relayId: "r2", seq: 1, full: true, up: [up("u", T1)] }, 0);
    take();
    apply({ relayId: "r1", seq: 2, down: ["u"] }, 0);
    t.tick(9_999);
    apply({ relayId: "r2", seq: 1, baseSeq: 1 }, 10_000);
    t.tick(20_000);
    expect(take()).toEqual([]);
  });

  test("a lease not renewed expires: its users go offline after the grace", () => {
    const { t, apply, take } = table();
    apply({ relayId: "r1", seq: 1, full: true, up: [up("u", T1), up("v", T1)] }, 0);
    take();
    apply({ relayId: "r1", seq: 1, baseSeq: 1 }, 10_000); // renewal
    t.tick(24_999);
    expect(take()).toEqual([]);
    t.tick(25_700); // lease over at 25 s, noticed later: the grace runs from 25 s all the same
    expect(t.relays).toBe(0);
    t.tick(29_999);
    expect(take()).toEqual([]);
    t.tick(30_000);
    expect(take().map((c) => c.user).sort()).toEqual(["u", "v"]);
  });

  test("duplicates through a second controller and late older updates change nothing", () => {
    const { t, apply, take } = table();
    apply({ relayId: "r1", seq: 1, full: true, up: [up("u", T1)] }, 0);
    apply({ relayId: "r1", seq: 2, down: ["u"] }, 0);
    apply({ relayId: "r1", seq: 1, full: true, up: [up("u", T1)] }, 0); // late, via the other controller
    apply({ relayId: "r1", seq: 2, down: ["u"] }, 0);
    take();
    t.tick(5_000);
    expect(take()).toEqual([{ channel: T1, user: "u", online: false }]);
  });

  test("strict (controllers): a change that does not follow the held version asks for the whole state", () => {
    const { t, apply } = table(true);
    expect(apply({ relayId: "r1", seq: 3, up: [up("u", T1)] }, 0)).toBe("resync"); // never heard of r1 (a restart)
    expect(apply({ relayId: "r1", seq: 3, full: true, up: [up("u", T1)] }, 0)).toBe("applied");
    expect(apply({ relayId: "r1", seq: 5, baseSeq: 4, up: [up("v", T1)] }, 0)).toBe("resync"); // missed seq 4
    expect(apply({ relayId: "r1", seq: 4, baseSeq: 3, up: [up("v", T1)] }, 0)).toBe("applied");
    expect(t.online(T1).sort()).toEqual(["u", "v"]);
  });

  test("a restarted relay (later epoch) replaces its earlier run; an earlier epoch is ignored", () => {
    const { t, apply, take } = table();
    const [old, fresh] = [newEpoch(1_000), newEpoch(2_000)];
    apply({ relayId: "r1", epoch: old, seq: 7, full: true, up: [up("u", T1), up("v", T1)] }, 0);
    take();
    apply({ relayId: "r1", epoch: fresh, seq: 1, full: true, up: [up("v", T1)] }, 100);
    expect(apply({ relayId: "r1", epoch: old, seq: 8, up: [up("w", T1)] }, 100)).toBe("stale");
    t.tick(5_100);
    expect(take()).toEqual([{ channel: T1, user: "u", online: false }]);
    expect(t.online(T1)).toEqual(["v"]);
  });

  test("a snapshot carries each relay's whole state with the lease it has left", () => {
    const { t, apply } = table();
    apply({ relayId: "r1", seq: 4, full: true, up: [up("u", T1)] }, 0);
    const [s] = t.snapshot(5_000);
    expect(s).toMatchObject({ relayId: "r1", seq: 4, full: true, up: [up("u", T1)], leaseMs: LEASE - 5_000 });
    const other = table();
    other.t.apply(s!, 5_000);
    expect(other.t.online(T1)).toEqual(["u"]);
    other.t.tick(LEASE + 1); // the lease does not start over at the receiver
    expect(other.t.relays).toBe(0);
  });

  test("a late-noticed expiry is queued in due order behind nothing that ends later", () => {
    const { t, apply, take } = table();
    apply({ relayId: "r1", seq: 1, full: true, up: [up("u", T1)] }, 0); // lease ends at 15 s
    apply({ relayId: "r2", seq: 1, full: true, up: [up("v", T1)], leaseMs: 60_000 }, 0);
    apply({ relayId: "r2", seq: 2, down: ["v"] }, 15_500); // v's grace ends at 20.5 s
    take();
    t.tick(15_900); // u's grace ends at 20 s, though noticed at 15.9 s
    t.tick(20_000);
    expect(take()).toEqual([{ channel: T1, user: "u", online: false }]);
    t.tick(20_500);
    expect(take()).toEqual([{ channel: T1, user: "v", online: false }]);
  });

  test("moving between teams changes only those teams", () => {
    const { apply, take } = table();
    apply({ relayId: "r1", seq: 1, full: true, up: [up("u", T1)] }, 0);
    take();
    apply({ relayId: "r1", seq: 2, up: [up("u", T1, T2)] }, 0);
    expect(take()).toEqual([{ channel: T2, user: "u", online: true }]);
  });
});
