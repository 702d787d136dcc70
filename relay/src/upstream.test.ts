import { describe, expect, test } from "bun:test";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { log } from "@chat/common/log";
import { ControllerService } from "@chat/proto/chat/v1/controller_pb";
import { Upstream } from "./upstream";

/** A controller whose Subscribe opens at once and whose UpdateInterest answers only when the test says. */
function slowInterestController() {
  const pending: { add: string[]; answer: () => void }[] = [];
  let arrived: (() => void) | undefined;
  const transport = createRouterTransport((router) =>
    router.service(ControllerService, {
      async *subscribe(_req, ctx) {
        yield { events: [] };
        await new Promise<void>((r) => ctx.signal.addEventListener("abort", () => r(), { once: true }));
      },
      updateInterest: (req) =>
        new Promise((resolve) => {
          pending.push({ add: req.add, answer: () => resolve({}) });
          arrived?.();
        }),
    }),
  );
  const nextUpdate = async () => {
    while (!pending.length) await new Promise<void>((r) => (arrived = r));
    return pending.shift()!;
  };
  return { client: createClient(ControllerService, transport), nextUpdate };
}

describe("Upstream.add", () => {
  test("a second add of a channel still on its way resolves only once the controller took it", async () => {
    const ctl = slowInterestController();
    const up = new Upstream([{ name: "c1", client: ctl.client }], "r1", () => {}, () => {}, log.child({ test: "upstream" }));
    up.start();
    await up.whenConnected();
    try {
      const order: string[] = [];
      const first = up.add("ch").then(() => order.push("first"));
      const update = await ctl.nextUpdate();
      expect(update.add).toEqual(["ch"]);
      const second = up.add("ch").then(() => order.push("second"));
      await Promise.resolve(); // (the microtasks that would resolve an unguarded second add)
      await Bun.sleep(0);
      expect(order).toEqual([]);
      update.answer();
      await Promise.all([first, second]);
      expect(order).toEqual(["first", "second"]);
    } finally {
      up.stop();
    }
  });
});
