/**
 * This service's protocol (docs/PROTOCOL.md): teams created over REST, a JWT on the upgrade,
 * `ready` once subscribed, JSON message frames acked with their `client_msg_id`.
 */
import { signDevToken } from "@chat/common/auth";
import { Histogram } from "../hist";
import { StalledReader } from "../stalled";
import { inc, pool } from "../util";
import { readEnd, readInt, type Driver, type DriverSock, type FrameEvents, type Plan } from "../driver";
import { EMOJI, editClientMsgId, parseOpClientMsgId, reactClientMsgId } from "../lifecycle";

const ACK_PREFIX = '{"event":"ack","client_msg_id":"';
// The comma matters: `{"event":"message_edited"` must not be read as a message.
const MSG_PREFIX = '{"event":"message",';
const EDITED_PREFIX = '{"event":"message_edited",';
const ID_FIELD = '"id":"';
const TO_FIELD = '"to":"';

export interface ChatDriverOptions {
  /** http(s) base URL of the server */
  base: string;
  /** the server's AUTH_JWT_SECRET, to mint tokens */
  secret: string;
  via: "header" | "query";
  setupConcurrency: number;
  /** Also report message ids on acks and deliveries (what `--mix` ops target); off, the hot path is as it always was. */
  trackIds?: boolean;
  /** Chat in this existing team as its existing members (`users` with `{n}` = 0 … members-1): no REST setup. */
  existing?: { team: string; users: string };
}

export function chatDriver(o: ChatDriverOptions): Driver {
  const wsBase = o.base.replace(/^http/, "ws") + "/v1/ws";
  let users: string[] = [];
  let tokens: string[] = [];
  let teamIds: string[] = [];
  const userIndex = new Map<string, number>();

  const restHist = new Histogram();
  async function rest(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: any }> {
    const begin = performance.now();
    const res = await fetch(o.base + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    restHist.record((performance.now() - begin) * 1000);
    let json: any = text;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: res.status, json };
  }

  function onOther(s: DriverSock, f: Record<string, any>, ev: FrameEvents): void {
    switch (f.event) {
      case "ready":
        return ev.ready(s);
      case "error": {
        const cmid = typeof f.client_msg_id === "string" ? f.client_msg_id : "";
        const op = parseOpClientMsgId(cmid);
        return op ? ev.error(s, String(f.code), op.t, op) : ev.error(s, String(f.code), readInt(cmid, 0));
      }
      case "ack": {
        const cmid = String(f.client_msg_id ?? "");
        if (typeof f.op === "string") {
          const op = parseOpClientMsgId(cmid);
          return op && op.kind === f.op ? ev.opAck(s, op) : ev.foreign(s);
        }
        const t = readInt(cmid, 0);
        const target = readInt(cmid, readEnd + 1) - 1;
        return t > 0 ? ev.ack(s, t, target) : ev.foreign(s);
      }
      case "message": {
        const data = String(f.data ?? "");
        const t = readInt(data, 0);
        const from = data.charCodeAt(readEnd) === 58 ? readInt(data, readEnd + 1) : -1;
        return t > 0 && from >= 0 ? ev.delivery(s, Number(f.seq), t, from, o.trackIds ? String(f.id) : undefined, f.to !== "*") : ev.foreign(s);
      }
      case "reaction_added":
      case "reaction_removed": {
        const emoji = EMOJI.indexOf(f.emoji);
        const user = userIndex.get(f.user);
        return emoji >= 0 && user !== undefined && typeof f.id === "string" ? ev.reaction(s, Number(f.seq), f.id, emoji, f.event === "reaction_added", user) : ev.foreign(s);
      }
      default:
        return ev.foreign(s); // membership events etc.; none are expected once the run starts
    }
  }

  return {
    name: "chat",
    directMessages: true,

    async setup(plan: Plan) {
      const U = plan.teams * plan.members;
      if (o.existing) {
        if (plan.teams !== 1) throw new Error("an existing team: plan.teams must be 1");
        const { team, users: pattern } = o.existing;
        users = Array.from({ length: U }, (_, u) => pattern.replaceAll("{n}", String(u)));
        tokens = await Promise.all(users.map((u) => signDevToken(o.secret, u, plan.ttlSec)));
        teamIds = [team];
        return { calls: 0, errors: {}, latency: restHist.summary() };
      }
      users = Array.from({ length: U }, (_, u) => `b${plan.runId}-t${Math.floor(u / plan.members)}-u${u}@bench.dev`);
      userIndex.clear();
      users.forEach((u, i) => userIndex.set(u, i));
      tokens = await Promise.all(users.map((u) => signDevToken(o.secret, u, plan.ttlSec)));
      teamIds = new Array(plan.teams);
      const errors: Record<string, number> = {};
      await pool(
        Array.from({ length: plan.teams }, (_, t) => t),
        o.setupConcurrency,
        async (t) => {
          const owner = t * plan.members;
          const r = await rest("POST", "/v1/teams", tokens[owner]!, { name: `bench ${plan.runId} ${t}`, meta_tags: ["bench"] });
          if (r.status !== 201) {
            inc(errors, `POST /v1/teams ${r.status}`);
            throw new Error(`create team: ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
          }
          teamIds[t] = r.json.data.id;
          for (let m = 1; m < plan.members; m++) {
            const a = await rest("POST", `/v1/teams/${teamIds[t]}/members`, tokens[owner]!, { user_id: users[owner + m] });
            if (a.status !== 201) {
              inc(errors, `POST members ${a.status}`);
              throw new Error(`add member: ${a.status} ${JSON.stringify(a.json).slice(0, 300)}`);
            }
          }
        },
      );
      return { calls: plan.teams * plan.members, errors, latency: restHist.summary() };
    },

    open(s) {
      const tok = tokens[s.user]!;
      return o.via === "header" ? { url: wsBase, headers: { authorization: `Bearer ${tok}` } } : { url: `${wsBase}?access_token=${encodeURIComponent(tok)}` };
    },

    onOpen() {}, // authenticated on the upgrade; the server subscribes and says `ready`

    // client_msg_id carries the send time and the recipient so the ack needs no lookup table.
    publish(s, t, target, n, data) {
      return `{"channel_id":"${teamIds[s.team]}","to":"${target < 0 ? "*" : users[target]}","type":"text","data":"${data}","client_msg_id":"${t}.${target + 1}.${s.idx}.${n}"}`;
    },

    // Lifecycle ops (PROTOCOL.md section 9); client_msg_id carries the send time (lib/lifecycle.ts).
    lifecycle: {
      edit(s, t, peer, n, id, data) {
        return `{"op":"edit","channel_id":"${teamIds[s.team]}","id":"${id}","data":"${data}","client_msg_id":"${editClientMsgId(t, peer, s.idx, n)}"}`;
      },
      react(s, t, peer, slot, gen, id, emoji, on) {
        return `{"op":"react","channel_id":"${teamIds[s.team]}","id":"${id}","emoji":"${EMOJI[emoji]}","on":${on},"client_msg_id":"${reactClientMsgId(t, peer, s.idx, slot, gen, emoji, on)}"}`;
      },
    },

    // The hot path reads acks, message and edit frames by position instead of JSON.parse.
    onFrame(s, raw, ev) {
      if (raw.startsWith(ACK_PREFIX)) {
        const t = readInt(raw, ACK_PREFIX.length);
        if (t > 0 && raw.charCodeAt(readEnd) === 46) {
          const target = readInt(raw, readEnd + 1) - 1;
          if (!o.trackIds) return ev.ack(s, t, target);
          const i = raw.indexOf(ID_FIELD, readEnd);
          return ev.ack(s, t, target, i > 0 ? raw.slice(i + 6, raw.indexOf('"', i + 6)) : undefined);
        }
      } else if (raw.startsWith(MSG_PREFIX) || (o.trackIds && raw.startsWith(EDITED_PREFIX))) {
        const edited = raw.charCodeAt(MSG_PREFIX.length - 2) === 95; // `{"event":"message_` vs `{"event":"message",`
        const q = raw.indexOf('"seq":', MSG_PREFIX.length);
        const d = raw.indexOf('"data":"', q);
        if (q > 0 && d > 0) {
          const seq = readInt(raw, q + 6);
          const t = readInt(raw, d + 8);
          if (t > 0 && raw.charCodeAt(readEnd) === 58) {
            const from = readInt(raw, readEnd + 1);
            if (edited) return ev.edited(s, seq, t, from);
            if (!o.trackIds) return ev.delivery(s, seq, t, from);
            // `{"event":"message","id":"<id>","seq":…,"channel_id":…,"to":"…"` (common/src/message.ts)
            const i = raw.indexOf(ID_FIELD, MSG_PREFIX.length);
            const k = raw.indexOf(TO_FIELD, q);
            const id = i > 0 && i < q ? raw.slice(i + 6, raw.indexOf('"', i + 6)) : undefined;
            return ev.delivery(s, seq, t, from, id, k > 0 ? raw.charCodeAt(k + 6) !== 42 || raw.charCodeAt(k + 7) !== 34 : undefined);
          }
        }
      }
      let f: Record<string, any>;
      try {
        f = JSON.parse(raw);
      } catch {
        return ev.foreign(s);
      }
      onOther(s, f, ev);
    },

    stalledReader: (user) => new StalledReader(o.base, tokens[user]!),
  };
}
