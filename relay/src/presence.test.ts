import { expect, test } from "bun:test";
import type { Logger } from "@chat/common/log";
import { Presence } from "./presence";
import type { SocketRegistry } from "./registry";
import type { ControllerClient } from "./upstream";
import type { WS } from "./socket";

// The relay's presence module against scripted controllers and a stand-in socket registry.
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const T = "a".repeat(24);

function setup(answers: ("ok" | "resync" | "fail")[] = []) {
  const calls: { full: boolean; seq: bigint; baseSeq: bigint; up: string[]; down: string[] }[] = [];
  const client = {
    announcePresence: async ({ update: u }: any) => {
      calls.push({ full: u.full, seq: u.seq, baseSeq: u.baseSeq, up: u.up.map((e: any) => e.user), down: u.down });
      const a = answers.shift() ?? "ok";
      if (a === "fail") throw new Error("down");
      return { resync: a === "resync" };
    },
  } as unknown as ControllerClient;
  const byUser = new Map<string, WS[]>();
  const published: { topic: string; frame: any; at: number }[] = [];
  const sockets = {
    has: (u: string) => byUser.has(u),
    ofUser: (u: string) => byUser.get(u) ?? [],
    publish: (topic: string, frame: string) => published.push({ topic, frame: JSON.parse(frame), at: performance.now() }),
  } as unknown as SocketRegistry;
  const p = new Presence({ relayId: "r1", leaseMs: 15_000, controllers: [{ name: "c1", client }], sockets, standing: async () => ({ found: true, active: true, role: "none" }), interested: () => true, logger: quiet });
  const open = (user: string) => {
    const ws = { data: { user, closed: false, teams: new Set([T]) } } as unknown as WS;
    byUser.set(user, [...(byUser.get(user) ?? []), ws]);
    p.touch(user);
    return () => {
      ws.data.closed = true;
      byUser.set(user, byUser.get(user)!.filter((x) => x !== ws));
      if (!byUser.get(user)!.length) byUser.delete(user);
      p.touch(user);
    };
  };
  return { p, calls, published, open };
}
const until = async (pred: () => boolean) => {
  for (let i = 0; i < 400 && !pred(); i++) await Bun.sleep(5);
  expect(pred()).toBe(true);
};

test("the first announcement is whole, later ones are changes; a resync or a failure makes the next one whole", async () => {
  const { p, calls, open } = setup(["ok", "resync", "ok", "fail"]);
  open("u");
  await until(() => calls.length === 1);
  expect(calls[0]).toEqual({ full: true, seq: 1n, baseSeq: 1n, up: ["u"], down: [] });
  open("v");
  await until(() => calls.length === 3); // a change, refused (resync), then the state whole
  expect(calls.slice(1)).toEqual([
    { full: false, seq: 2n, baseSeq: 1n, up: ["v"], down: [] },
    { full: true, seq: 2n, baseSeq: 2n, up: ["u", "v"], down: [] },
  ]);
  const closeW = open("w");
  await until(() => calls.length === 4); // fails
  closeW();
  await until(() => calls.length === 5);
  expect(calls[4]).toMatchObject({ full: true, seq: 4n, up: ["u", "v"] });
  await p.stop();
  expect(calls.at(-1)).toMatchObject({ full: true, up: [], down: [] }); // goodbye
});

test("a socket of a user already here announces nothing; changes reach the team's topic as one frame per second", async () => {
  const { p, calls, published, open } = setup();
  open("a");
  await until(() => published.length === 1);
  expect(published[0]).toMatchObject({ topic: `c:${T}`, frame: { event: "presence", channel_id: T, online: ["a"], offline: [] } });
  open("a"); // a second socket: no change
  for (const u of ["b", "c", "d"]) open(u);
  await until(() => published.length === 2);
  expect(published[1]!.frame.online).toEqual(["b", "c", "d"]);
  expect(published[1]!.at - published[0]!.at).toBeGreaterThanOrEqual(990);
  expect(calls.flatMap((c) => c.up).filter((u) => u === "a")).toHaveLength(1);
  await p.stop();
});
