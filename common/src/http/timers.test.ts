import { describe, expect, test } from "bun:test";
import { ExpiryWheel } from "./timers.ts";

function fakeClock(start = 1_000_000) {
  const clock = { t: start, now: () => clock.t };
  return clock;
}

function wheel<T>(tickMs = 1000, start?: number) {
  const clock = fakeClock(start);
  const fired: [T, number, number][] = []; // item, due time, clock when fired
  const w = new ExpiryWheel<T>(tickMs, (item, at) => fired.push([item, at, clock.t]), { now: clock.now, autoStart: false });
  const advance = (ms: number) => {
    clock.t += ms;
    return w.tick();
  };
  return { w, clock, fired, advance };
}

describe("ExpiryWheel", () => {
  test("an item fires at the first tick at or after its time, never early", () => {
    const { w, clock, fired, advance } = wheel<string>(1000, 1_000_000);
    w.schedule("a", clock.t + 2_500);
    expect(advance(1000)).toBe(0);
    expect(advance(1000)).toBe(0); // 2,000 ms: not yet
    expect(advance(1000)).toBe(1); // 3,000 ms: the first tick after 2,500
    expect(fired).toEqual([["a", 1_002_500, 1_003_000]]);
    expect(w.size).toBe(0);
    expect(w.has("a")).toBe(false);
  });

  test("a time exactly on a tick fires on that tick", () => {
    const { w, clock, fired, advance } = wheel<string>(1000, 1_000_000);
    w.schedule("a", clock.t + 1000);
    advance(999);
    expect(fired).toEqual([]);
    advance(1);
    expect(fired.map((f) => f[0])).toEqual(["a"]);
  });

  test("a time already past fires at the next tick", () => {
    const { w, clock, fired, advance } = wheel<string>(1000, 1_000_500);
    w.schedule("late", clock.t - 60_000);
    expect(w.tick()).toBe(0); // same tick: nothing
    advance(500);
    expect(fired.map((f) => f[0])).toEqual(["late"]);
  });

  test("cancel prevents firing; reschedule moves later or earlier", () => {
    const { w, clock, fired, advance } = wheel<string>();
    w.schedule("a", clock.t + 5_000);
    w.schedule("b", clock.t + 5_000);
    w.schedule("c", clock.t + 5_000);
    expect(w.cancel("a")).toBe(true);
    expect(w.cancel("a")).toBe(false);
    w.reschedule("b", clock.t + 60_000);
    w.reschedule("c", clock.t + 1_000);
    expect(w.dueAt("b")).toBe(clock.t + 60_000);
    advance(1_000);
    expect(fired.map((f) => f[0])).toEqual(["c"]);
    advance(10_000);
    expect(fired.map((f) => f[0])).toEqual(["c"]);
    advance(50_000);
    expect(fired.map((f) => f[0])).toEqual(["c", "b"]);
    expect(w.size).toBe(0);
  });

  test("scheduling an item twice keeps only the last time", () => {
    const { w, clock, fired, advance } = wheel<string>();
    w.schedule("a", clock.t + 1_000);
    w.schedule("a", clock.t + 3_000);
    expect(w.size).toBe(1);
    advance(2_000);
    expect(fired).toEqual([]);
    advance(1_000);
    expect(fired).toHaveLength(1);
  });

  test("after a stall, everything due fires in order of due time", () => {
    const { w, clock, fired, advance } = wheel<number>(100);
    const times = [5_000, 300, 90_000, 1_200, 300, 40_000];
    times.forEach((dt, i) => w.schedule(i, clock.t + dt));
    advance(60_000);
    expect(fired.map((f) => f[0])).toEqual([1, 4, 3, 0, 5]);
    advance(60_000);
    expect(fired.map((f) => f[0])).toEqual([1, 4, 3, 0, 5, 2]);
  });

  test("callbacks may reschedule their own item, or cancel and schedule others", () => {
    const clock = fakeClock();
    const log: string[] = [];
    const w: ExpiryWheel<string> = new ExpiryWheel(
      1000,
      (item) => {
        log.push(item);
        if (item === "again" && log.length < 3) w.schedule("again", clock.t); // a time not in the future: next tick
        if (item === "first") w.cancel("second");
      },
      { now: clock.now, autoStart: false },
    );
    w.schedule("first", clock.t + 1000);
    w.schedule("second", clock.t + 1000);
    w.schedule("again", clock.t + 1000);
    clock.t += 1000;
    w.tick();
    expect(log).toEqual(["first", "again"]);
    clock.t += 1000;
    w.tick();
    expect(log).toEqual(["first", "again", "again"]);
    expect(w.size).toBe(0);
  });

  test("a throwing callback does not stop the others", () => {
    const clock = fakeClock();
    const errors: [unknown, string][] = [];
    const ok: string[] = [];
    const w = new ExpiryWheel<string>(
      1000,
      (item) => {
        if (item === "bad") throw new Error("boom");
        ok.push(item);
      },
      { now: clock.now, autoStart: false, onError: (err, item) => errors.push([err, item]) },
    );
    for (const i of ["a", "bad", "b"]) w.schedule(i, clock.t + 10);
    clock.t += 1000;
    expect(w.tick()).toBe(3);
    expect(ok).toEqual(["a", "b"]);
    expect(errors.map(([e, i]) => [(e as Error).message, i])).toEqual([["boom", "bad"]]);
  });

  test("10,000 idle sockets cost nothing per tick", () => {
    const { w, clock, advance } = wheel<object>(1000);
    for (let i = 0; i < 10_000; i++) w.schedule({ socket: i }, clock.t + 3_600_000 + i * 37); // all in an hour or more
    for (let i = 0; i < 1_000; i++) advance(1000);
    expect(w.stats.ticks).toBe(1_000);
    expect(w.stats.slotsVisited).toBe(1_000); // one bucket lookup per tick
    expect(w.stats.fired).toBe(0);
    expect(w.size).toBe(10_000);
  });

  test("a tick costs the items due, not the items held", () => {
    const { w, clock, advance } = wheel<number>(1000);
    for (let i = 0; i < 10_000; i++) w.schedule(i, clock.t + 10_000 + (i % 100) * 1000); // 100 due each second
    advance(10_000);
    const before = { ...w.stats };
    expect(advance(1000)).toBe(100);
    expect(w.stats.slotsVisited - before.slotsVisited).toBe(1);
  });

  test("a huge clock jump walks the occupied buckets, not every missed tick", () => {
    const { w, clock, advance } = wheel<number>(10);
    for (let i = 0; i < 1_000; i++) w.schedule(i, clock.t + i * 1_000);
    expect(advance(1_000 * 24 * 3600 * 1000)).toBe(1_000); // a thousand days asleep
    expect(w.stats.slotsVisited).toBeLessThanOrEqual(1_000);
  });

  test("PROTOCOL §11: warn 60 s before exp, close at exp, refresh extends", () => {
    const clock = fakeClock(0);
    type Sock = { id: string; exp: number; warned: boolean; closed?: number; frames: string[] };
    const w: ExpiryWheel<Sock> = new ExpiryWheel(
      1000,
      (s) => {
        if (!s.warned) {
          s.warned = true;
          s.frames.push("token_expiring");
          w.schedule(s, s.exp);
        } else s.closed = 4001;
      },
      { now: clock.now, autoStart: false },
    );
    const open = (id: string, exp: number): Sock => {
      const s: Sock = { id, exp, warned: false, frames: [] };
      w.schedule(s, exp - 60_000);
      return s;
    };
    const refresh = (s: Sock, exp: number) => {
      Object.assign(s, { exp, warned: false });
      w.reschedule(s, exp - 60_000);
    };
    const a = open("a", 300_000);
    const b = open("b", 300_000);
    const c = open("c", 30_000); // less than 60 s left: warned at once (next tick)
    clock.t = 1_000;
    w.tick();
    expect(c.frames).toEqual(["token_expiring"]);
    clock.t = 240_000;
    w.tick();
    expect([a.frames, b.frames]).toEqual([["token_expiring"], ["token_expiring"]]);
    refresh(b, 900_000);
    clock.t = 300_000;
    w.tick();
    expect([a.closed, b.closed, c.closed]).toEqual([4001, undefined, 4001]);
    clock.t = 840_000;
    w.tick();
    expect(b.frames).toEqual(["token_expiring", "token_expiring"]);
    expect(b.closed).toBeUndefined();
    clock.t = 900_000;
    w.tick();
    expect(b.closed).toBe(4001);
  });

  test("with autoStart, one interval drives the wheel while items are held", async () => {
    const fired = new Promise<string>((resolve) => {
      const w = new ExpiryWheel<string>(5, (item) => resolve(item));
      w.schedule("soon", Date.now());
    });
    expect(await fired).toBe("soon");
  });

  test("stop drops everything", () => {
    const { w, clock, fired, advance } = wheel<string>();
    w.schedule("a", clock.t + 10);
    w.stop();
    advance(10_000);
    expect(fired).toEqual([]);
    expect(w.size).toBe(0);
  });

  test("tickMs must be at least 1", () => {
    expect(() => new ExpiryWheel(0, () => {})).toThrow(RangeError);
  });
});
