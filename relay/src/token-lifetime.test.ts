import { describe, expect, test } from "bun:test";
import type { Verifier } from "@chat/common/auth";
import { AppError } from "@chat/common/errors";
import type { SocketRegistry } from "./registry";
import type { WS } from "./socket";
import { TokenLifetime } from "./token-lifetime";

// Sockets and the registry as far as token lifetime touches them; the clock is the test's.
function fakeSocket(user: string, expiresAt: number) {
  const sent: any[] = [];
  const ws = {
    data: { user, expiresAt, warned: false, closed: false } as WS["data"],
    closedWith: undefined as number | undefined,
    close(code: number) {
      this.closedWith = code;
    },
    sent,
  };
  return ws;
}
const registry = { send: (ws: any, frame: string) => ws.sent.push(JSON.parse(frame)) } as unknown as SocketRegistry;
const tokens: Record<string, { user: string; expiresAt: number }> = {};
const verify: Verifier = async (t) => {
  const p = tokens[t];
  if (!p) throw new AppError("unauthenticated", "invalid token");
  return p;
};
const T0 = 1_000_000_000;
/** A TokenLifetime on the test's clock: `at(ms)` moves the clock and fires what is due. */
function lifetime(start = T0) {
  let clock = start;
  const life = new TokenLifetime(registry, verify, 60_000, 250, () => clock, false);
  return { life, at: (ms: number) => ((clock = ms), life.tick(ms)) };
}

describe("token lifetime", () => {
  test("token_expiring 60 s before exp, close 4001 at exp, in that order and once", () => {
    const { life, at } = lifetime();
    const ws = fakeSocket("a", T0 + 120_000);
    life.track(ws as any);
    at(T0 + 59_000);
    expect(ws.sent).toEqual([]);
    at(T0 + 60_000);
    expect(ws.sent).toEqual([{ event: "token_expiring", expires_at: new Date(T0 + 120_000).toISOString() }]);
    at(T0 + 119_999);
    expect(ws.closedWith).toBeUndefined();
    at(T0 + 120_000);
    expect(ws.closedWith).toBe(4001);
    expect(ws.sent.length).toBe(1);
  });

  test("less than 60 s left: token_expiring at once", () => {
    const { life } = lifetime();
    const ws = fakeSocket("a", T0 + 5_000);
    life.track(ws as any);
    expect(ws.sent.map((f) => f.event)).toEqual(["token_expiring"]);
  });

  test("refresh with a token of the same user moves the deadline; the old one no longer closes", async () => {
    const { life, at } = lifetime();
    const ws = fakeSocket("a", T0 + 30_000);
    life.track(ws as any);
    tokens.fresh = { user: "a", expiresAt: T0 + 3_600_000 };
    await life.refresh(ws as any, { token: "fresh" }, "r-1");
    expect(ws.sent.at(-1)).toEqual({ event: "ack", op: "refresh", expires_at: new Date(T0 + 3_600_000).toISOString(), client_msg_id: "r-1" });
    at(T0 + 31_000);
    expect(ws.closedWith).toBeUndefined();
    at(T0 + 3_600_000 - 60_000);
    expect(ws.sent.at(-1).event).toBe("token_expiring");
    at(T0 + 3_600_000);
    expect(ws.closedWith).toBe(4001);
  });

  test("a token of another user: forbidden and close 4003; an invalid one: forbidden, socket kept", async () => {
    const { life } = lifetime();
    const ws = fakeSocket("a", T0 + 600_000);
    life.track(ws as any);
    await expect(life.refresh(ws as any, { token: "nope" }, undefined)).rejects.toMatchObject({ code: "forbidden" });
    await expect(life.refresh(ws as any, { token: 5 }, undefined)).rejects.toMatchObject({ code: "invalid_message" });
    expect(ws.closedWith).toBeUndefined();
    tokens.other = { user: "b", expiresAt: T0 + 600_000 };
    await life.refresh(ws as any, { token: "other" }, "r-2");
    expect(ws.sent.at(-1)).toMatchObject({ event: "error", code: "forbidden", client_msg_id: "r-2" });
    expect(ws.closedWith).toBe(4003);
  });

  test("a tick visits only the sockets due in it", () => {
    const { life, at } = lifetime();
    const many = Array.from({ length: 10_000 }, (_, i) => fakeSocket(`u${i}`, T0 + 3_600_000 + i * 1000));
    for (const ws of many) life.track(ws as any);
    let reads = 0;
    for (const ws of many) {
      const d = ws.data;
      ws.data = new Proxy(d, { get: (o, k) => (k === "expiresAt" && reads++, (o as any)[k]) });
    }
    at(T0 + 3_600_000 - 60_000 + 999); // the first socket's warning tick
    expect(reads).toBeLessThanOrEqual(4);
    expect(many[0]!.sent.length).toBe(1);
    expect(many[2]!.sent.length).toBe(0);
  });
});
