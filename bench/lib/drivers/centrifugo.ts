/**
 * Centrifugo's bidirectional JSON protocol over /connection/websocket: commands carry an `id` and
 * one of `connect` (the HS256 JWT), `subscribe`, `publish`; replies repeat the `id`; publications
 * arrive as `{"push":{"channel":…,"pub":{"data":…}}}`. The server batches several replies and
 * pushes into one frame, newline-separated, and pings with `{}`, which must be answered `{}`.
 * A publish reply carries only its id, so the send time waits in a per-socket map until then.
 */
import { signDevToken } from "@chat/common/auth";
import { Histogram } from "../hist";
import { readEnd, readInt, type Driver, type DriverSock, type FrameEvents } from "../driver";

const PUSH = '{"push":';
const REPLY = '{"id":';
const CONNECT_ID = 1;
const SUBSCRIBE_ID = 2;

export function centrifugoDriver(base: string, secret: string): Driver {
  const url = base.replace(/^http/, "ws") + "/connection/websocket";
  let tokens: string[] = [];
  let channels: string[] = [];
  const pending: Map<number, number>[] = []; // per socket: command id → send time (µs)

  function onMessage(s: DriverSock, m: string, ev: FrameEvents): void {
    if (m.startsWith(PUSH)) {
      const d = m.indexOf('"data":"', PUSH.length);
      if (d > 0) {
        const t = readInt(m, d + 8);
        if (t > 0 && m.charCodeAt(readEnd) === 58) return ev.delivery(s, -1, t, readInt(m, readEnd + 1));
      }
    } else if (m.startsWith(REPLY)) {
      const id = readInt(m, REPLY.length);
      const rest = m.slice(readEnd, readEnd + 12);
      if (rest.startsWith(',"publish":')) {
        const t = pending[s.idx]?.get(id);
        if (t !== undefined) {
          pending[s.idx]!.delete(id);
          return ev.ack(s, t, -1);
        }
      } else if (rest.startsWith(',"subscribe"') && id === SUBSCRIBE_ID) return ev.ready(s);
      else if (rest.startsWith(',"connect"') && id === CONNECT_ID) return ev.foreign(s);
      else if (rest.startsWith(',"error"')) {
        const code = /"code":(\d+)/.exec(m)?.[1] ?? "?";
        const t = pending[s.idx]?.get(id) ?? 0;
        pending[s.idx]?.delete(id);
        ev.error(s, `centrifugo ${code}`, t);
        if (id <= SUBSCRIBE_ID) s.ws?.close(); // connect or subscribe refused: never ready
        return;
      }
    } else if (m === "{}") {
      s.ws?.send("{}"); // ping → pong
    }
    ev.foreign(s);
  }

  return {
    name: "centrifugo",
    directMessages: false,
    async setup(plan) {
      const U = plan.teams * plan.members;
      tokens = await Promise.all(Array.from({ length: U }, (_, u) => signDevToken(secret, `b${plan.runId}-u${u}`, plan.ttlSec)));
      channels = Array.from({ length: plan.teams }, (_, t) => `b${plan.runId}-t${t}`);
      return { calls: 0, errors: {}, latency: new Histogram().summary() };
    },
    open: () => ({ url }),
    onOpen(s, ws) {
      pending[s.idx] = new Map();
      ws.send(`{"id":${CONNECT_ID},"connect":{"token":"${tokens[s.user]}","name":"bench"}}\n{"id":${SUBSCRIBE_ID},"subscribe":{"channel":"${channels[s.team]}"}}`);
    },
    publish(s, t, _target, n, data) {
      const id = n + SUBSCRIBE_ID;
      pending[s.idx]!.set(id, t);
      return `{"id":${id},"publish":{"channel":"${channels[s.team]}","data":"${data}"}}`;
    },
    onFrame(s, raw, ev) {
      if (raw.indexOf("\n") < 0) return onMessage(s, raw, ev);
      for (const m of raw.split("\n")) if (m) onMessage(s, m, ev);
    },
  };
}
