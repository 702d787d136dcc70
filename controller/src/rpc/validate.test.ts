import { expect, test } from "bun:test";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { AppError } from "@chat/common/errors";
import { USER_IDS } from "@chat/common/grammar-samples";
import { createMetrics } from "@chat/common/metrics";
import type { TeamStore } from "@chat/common/ports";
import { ControllerService } from "@chat/proto/chat/v1/controller_pb";
import { Hub } from "../hub";
import { controllerRoutes, errorInterceptor, tokenInterceptor } from "../routes";
import type { RpcContext } from "./context";
import { afterPosition, channelId, relayId, relayInstance, streamEpoch, userId } from "./validate";

test("validators accept exactly the common grammar and refuse with the catalog's validation error", () => {
  for (const v of USER_IDS.valid) expect(userId(v)).toBe(v);
  for (const v of USER_IDS.invalid) {
    const err = (() => {
      try {
        userId(v);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("validation");
  }
  expect(() => channelId("507F191E810C19729DE860EA")).toThrow("channel_id is invalid");
  expect(() => relayId("a b")).toThrow("relay_id is invalid");
  expect(() => relayInstance("x".repeat(129))).toThrow("instance is invalid");
  expect(relayInstance("")).toBe(""); // an older relay: no replay
  expect(() => afterPosition(2n ** 53n)).toThrow("after_position is invalid");
  expect(afterPosition(42n)).toBe(42);
  expect(() => streamEpoch("a b")).toThrow("after_epoch is invalid");
  expect(relayInstance("0b5e4c7e-1f2a-4c3d-9e8f-0a1b2c3d4e5f")).toBe("0b5e4c7e-1f2a-4c3d-9e8f-0a1b2c3d4e5f");
});

function client(token?: string, sent?: string) {
  const seen: string[] = [];
  const teams = { channelsOf: async (u: string) => (seen.push(u), ["507f191e810c19729de860ea"]) } as unknown as TeamStore;
  const noop = () => {};
  const logger = { debug: noop, info: noop, warn: noop, error: noop, child: () => logger };
  const rpc = { hub: new Hub(), teams, messages: {}, logger, metrics: createMetrics() } as unknown as RpcContext;
  const transport = createRouterTransport(controllerRoutes(rpc), { router: { interceptors: [errorInterceptor(rpc), tokenInterceptor(token)] } });
  const headers: Record<string, string> = sent ? { authorization: `Bearer ${sent}` } : {};
  return { c: createClient(ControllerService, transport), headers, seen };
}
const codeOf = (p: Promise<unknown>) => p.then(() => "ok", (e: unknown) => (e instanceof ConnectError ? Code[e.code] : String(e)));

test("one interceptor maps every refusal to a Connect code: bad arguments, unknown relays, a bad internal token", async () => {
  const { c, headers, seen } = client("internal-secret-value", "internal-secret-value");
  expect(await codeOf(c.getUserChannels({ userId: "a$b" }, { headers }))).toBe("InvalidArgument");
  expect(await codeOf(c.getUserChannels({ userId: "bob\u200b@x.dev" }, { headers }))).toBe("InvalidArgument");
  expect(seen).toEqual([]); // refused before the store
  expect((await c.getUserChannels({ userId: "a@x.dev" }, { headers })).channelIds).toEqual(["507f191e810c19729de860ea"]);
  expect(await codeOf(c.updateInterest({ relayId: "r1", add: [], remove: [] }, { headers }))).toBe("NotFound");
  const wrong = client("internal-secret-value", "another-secret-value");
  expect(await codeOf(wrong.c.getUserChannels({ userId: "a@x.dev" }, { headers: wrong.headers }))).toBe("Unauthenticated");
  expect(wrong.seen).toEqual([]);
});
