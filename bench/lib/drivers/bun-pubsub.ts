/**
 * The bare Bun pub/sub floor (../peers/bun-pubsub-server.ts): `?room=<team>` joins on the upgrade,
 * `r` = subscribed, a frame is the message `data` itself, `a<send time>` its ack. No auth.
 */
import { Histogram } from "../hist";
import { readEnd, readInt, type Driver } from "../driver";

export function bunPubSubDriver(base: string): Driver {
  const wsBase = base.replace(/^http/, "ws") + "/?room=";
  return {
    name: "bun-pubsub",
    directMessages: false,
    async setup() {
      return { calls: 0, errors: {}, latency: new Histogram().summary() };
    },
    open: (s) => ({ url: wsBase + s.team }),
    onOpen() {},
    publish: (_s, _t, _target, _n, data) => data,
    onFrame(s, raw, ev) {
      const c = raw.charCodeAt(0);
      if (c >= 48 && c <= 57) {
        const t = readInt(raw, 0);
        if (raw.charCodeAt(readEnd) === 58) return ev.delivery(s, -1, t, readInt(raw, readEnd + 1));
      } else if (c === 97 /* a */) {
        const t = readInt(raw, 1);
        if (t > 0) return ev.ack(s, t, -1);
      } else if (raw === "r") return ev.ready(s);
      ev.foreign(s);
    },
  };
}
