// Test support: a relay on a free loopback port in front of a scripted controller, and sockets
// whose frames a test can wait on. Used by the relay's unit tests only.
import { createClient, createRouterTransport, type ServiceImpl, type Transport } from "@connectrpc/connect";
import { signDevToken } from "@chat/common/auth";
import { loadConfig } from "@chat/common/config";
import { log } from "@chat/common/log";
import type { MessageLog } from "@chat/common/ports";
import { ControllerService, MemberRole, type Event } from "@chat/proto/chat/v1/controller_pb";
import { createRelay, type RelayOverrides, type SocketData } from "./service";

export const TEST_SECRET = "relay-test-secret".padEnd(40, "x");

/**
 * A controller the test scripts: its Subscribe stream carries what the test `push`es (to the latest
 * subscriber) until it is `cut`, membership is `members()` of one channel, the backlog is empty; `extra`
 * replaces handlers.
 */
export function scriptedController(channel: string, members: () => string[], extra: Partial<ServiceImpl<typeof ControllerService>> = {}) {
  let push: (events: Event[]) => void = () => {};
  let cut: () => void = () => {};
  const transport = createRouterTransport((router) =>
    router.service(ControllerService, {
      async *subscribe(_req, ctx) {
        const queue: Event[][] = [];
        let wake: (() => void) | undefined;
        let ended = false;
        push = (events) => {
          queue.push(events);
          wake?.();
        };
        cut = () => {
          ended = true;
          wake?.();
        };
        yield { events: [] };
        while (!ctx.signal.aborted && !ended) {
          if (!queue.length) await new Promise<void>((r) => ((wake = r), ctx.signal.addEventListener("abort", () => r(), { once: true })));
          while (queue.length && !ended) yield { events: queue.shift()! };
        }
      },
      updateInterest: () => ({}),
      getUserChannels: (req) => ({ channelIds: members().includes(req.userId) ? [channel] : [] }),
      getMembership: (req) => ({ found: true, active: true, role: members().includes(req.userId) ? MemberRole.USER : MemberRole.UNSPECIFIED }),
      fetchSince: () => ({ events: [] }),
      fetchUnstored: () => ({ events: [] }),
      ...extra,
    }),
  );
  /** `cut()` ends the current Subscribe stream (the relay opens another and recovers what its channels missed). */
  return { transport, push: (events: Event[]) => push(events), cut: () => cut() };
}

export interface TestSocket {
  ws: WebSocket;
  frames: any[];
  /** Resolves with the first frame (ever received) matching `pred`, waiting for it if needed. */
  waitFor(pred: (f: any) => boolean): Promise<any>;
}

export async function serveRelay(name: string, controller: Transport, messageLog: MessageLog, env: Record<string, string> = {}, overrides: RelayOverrides = {}) {
  const relay = createRelay(
    loadConfig({ AUTH_JWT_SECRET: TEST_SECRET, RELAY_ID: name, ...env }),
    { log: messageLog, controllers: [{ name: "scripted", client: createClient(ControllerService, controller) }] },
    { logger: log.child({ test: name }), ...overrides },
  );
  const server = Bun.serve<SocketData>({ port: 0, hostname: "127.0.0.1", fetch: (req, s) => relay.fetch(req, s), websocket: relay.websocket });
  relay.start(server);
  await relay.whenConnected();
  return {
    relay,
    /** A socket of `user` (after its `ready` frame); `query` is the connect query string, "?..." or "". */
    async open(user: string, query = ""): Promise<TestSocket> {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/ws${query}`, { headers: { authorization: `Bearer ${await signDevToken(TEST_SECRET, user)}` } } as any);
      const frames: any[] = [];
      const waiters = new Set<() => void>();
      ws.onmessage = (e) => {
        frames.push(JSON.parse(String(e.data)));
        for (const w of [...waiters]) w();
      };
      const waitFor = (pred: (f: any) => boolean) =>
        new Promise<any>((resolve) => {
          const check = () => {
            const f = frames.find(pred);
            if (f === undefined) return;
            waiters.delete(check);
            resolve(f);
          };
          waiters.add(check);
          check();
        });
      await waitFor((f) => f.event === "ready");
      return { ws, frames, waitFor };
    },
    async stop(): Promise<void> {
      await relay.stop();
      server.stop(true);
    },
  };
}
