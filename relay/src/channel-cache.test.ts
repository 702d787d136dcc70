import { describe, expect, test } from "bun:test";
import { MembershipCache, type Standing } from "./channel-cache";

const T = "507f191e810c19729de860ea";
const T2 = "507f191e810c19729de860eb";

/** A controller whose answers the test sets, and which counts and can hold its lookups. */
function controller() {
  const roles = new Map<string, Standing>();
  const calls: string[] = [];
  let held: (() => void)[] | undefined;
  const load = async (ch: string, user: string): Promise<Standing> => {
    calls.push(`${ch}/${user}`);
    const answer = roles.get(`${ch}/${user}`) ?? { found: true, active: true, role: "none" };
    if (held) await new Promise<void>((r) => held!.push(r));
    return answer;
  };
  return {
    load,
    calls,
    set: (ch: string, user: string, role: Standing["role"], active = true) => roles.set(`${ch}/${user}`, { found: true, active, role }),
    hold: () => (held = []),
    release: () => {
      const h = held ?? [];
      held = undefined;
      for (const r of h) r();
    },
  };
}

describe("MembershipCache", () => {
  test("one lookup per (team, user): cached, shared while in flight, other users and teams apart", async () => {
    const c = controller();
    c.set(T, "a", "admin");
    const cache = new MembershipCache(c.load);
    const [x, y] = await Promise.all([cache.get(T, "a"), cache.get(T, "a")]);
    expect([x.role, y.role]).toEqual(["admin", "admin"]);
    expect(cache.peek(T, "a")?.role).toBe("admin");
    expect((await cache.get(T, "b")).role).toBe("none");
    expect((await cache.get(T2, "a")).role).toBe("none");
    expect(c.calls).toEqual([`${T}/a`, `${T}/b`, `${T2}/a`]);
  });

  test("a user's membership event drops that user's entry only; a team event every entry of the team", async () => {
    const c = controller();
    const cache = new MembershipCache(c.load);
    for (const u of ["a", "b"]) await cache.get(T, u);
    await cache.get(T2, "a");
    c.set(T, "a", "user");
    cache.invalidate(T, "a");
    expect(cache.peek(T, "a")).toBeUndefined();
    expect(cache.peek(T, "b")?.role).toBe("none");
    expect((await cache.get(T, "a")).role).toBe("user");
    c.set(T, "b", "user", false);
    cache.invalidateChannel(T);
    expect([cache.peek(T, "a"), cache.peek(T, "b"), cache.peek(T2, "a")?.role]).toEqual([undefined, undefined, "none"]);
    expect(await cache.get(T, "b")).toMatchObject({ active: false, role: "user" });
  });

  test("a lookup that raced an event of its user or team answers its caller but is not kept", async () => {
    const c = controller();
    const cache = new MembershipCache(c.load);
    c.hold();
    const racing = cache.get(T, "a");
    cache.invalidate(T, "a");
    const racingTeam = cache.get(T, "b");
    cache.invalidateChannel(T);
    c.release();
    await Promise.all([racing, racingTeam]);
    expect([cache.peek(T, "a"), cache.peek(T, "b")]).toEqual([undefined, undefined]);
    await cache.get(T, "a");
    expect(cache.peek(T, "a")).toBeDefined();
  });

  test("bounded: the least recently used entry goes first, and memory follows the users asked about, not team size", async () => {
    const c = controller();
    const cache = new MembershipCache(c.load, 3);
    for (const u of ["a", "b", "c"]) await cache.get(T, u);
    cache.peek(T, "a"); // used: "b" is now the oldest
    await cache.get(T, "d");
    expect(cache.size).toBe(3);
    expect([!!cache.peek(T, "a"), !!cache.peek(T, "b"), !!cache.peek(T, "c"), !!cache.peek(T, "d")]).toEqual([true, false, true, true]);
    // Many invalidations keep the epoch tables bounded, and stay conservative when they are cleared.
    c.hold();
    const late = cache.get(T, "x");
    for (let i = 0; i < 10; i++) cache.invalidate(T, `z${i}`);
    c.release();
    await late;
    expect(cache.peek(T, "x")).toBeUndefined();
  });
});
