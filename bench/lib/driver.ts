/**
 * What the load harness (bench/lib/harness.ts) needs from a server's wire protocol, so that one
 * socket/traffic/measurement core drives this service and its peers alike. A message's `data` is
 * always `<send time µs>:<sending socket>:xxxx…`; a driver wraps it in its protocol's publish frame
 * and finds it again in a delivered frame, without a lookup table where the protocol allows.
 */
import type { Summary } from "./hist";
import type { OpRef } from "./lifecycle";
import type { StalledReader } from "./stalled";
import type { WsLike } from "./ws-client";

export interface DriverSock {
  readonly idx: number;
  readonly user: number;
  readonly team: number;
  ws: WsLike | undefined;
}

/** What a driver reports from a received frame (one frame may carry several). */
export interface FrameEvents {
  /** Authenticated and joined: the socket now receives its channel's messages. */
  ready(s: DriverSock): void;
  /** The server accepted message `t` (its send time, µs) for `target` (user index, -1 = channel); `id` only when the driver tracks ids (`--mix`). */
  ack(s: DriverSock, t: number, target: number, id?: string): void;
  /** A message sent at `t` by socket `from` arrived; `seq` < 0 when the protocol has none; `id` and `dm` only when the driver tracks ids. */
  delivery(s: DriverSock, seq: number, t: number, from: number, id?: string, dm?: boolean): void;
  /** An error frame; `t` > 0 when it answers message or op `t`; `op` when it answers a lifecycle op. */
  error(s: DriverSock, code: string, t: number, op?: OpRef): void;
  /** The server accepted lifecycle op `op` (lib/lifecycle.ts). */
  opAck(s: DriverSock, op: OpRef): void;
  /** A `message_edited` event whose new text was written at `t` by socket `from`. */
  edited(s: DriverSock, seq: number, t: number, from: number): void;
  /** A reaction event: user `user` turned `EMOJI[emoji]` on or off on message `id`. */
  reaction(s: DriverSock, seq: number, id: string, emoji: number, on: boolean, user: number): void;
  /** Anything else (membership events, pings already answered…). */
  foreign(s: DriverSock): void;
}

export interface Plan {
  runId: string;
  teams: number;
  members: number;
  /** token lifetime, seconds */
  ttlSec: number;
}

/** What setting up users and channels cost (REST for this service; nothing for the peers). */
export interface SetupReport {
  calls: number;
  errors: Record<string, number>;
  latency: Summary;
}

export interface Driver {
  /** protocol name in results: chat | bun-pubsub | centrifugo */
  readonly name: string;
  /** can address one teammate (`target` ≥ 0), not only the channel */
  readonly directMessages: boolean;
  /** Users, tokens and one channel per team; called once before any socket connects. */
  setup(plan: Plan): Promise<SetupReport>;
  /** Where socket `s` connects, and the headers of its upgrade (authenticating where the protocol does it there); the harness dials. */
  open(s: DriverSock): { url: string; headers?: Record<string, string> };
  /** Sent once the socket is open: in-band authentication and join, if the protocol has them. */
  onOpen(s: DriverSock, ws: WsLike): void;
  /** The frame publishing `data` (sent at `t`) to the channel or to user `target`; `n` counts per socket. */
  publish(s: DriverSock, t: number, target: number, n: number, data: string): string;
  /** Reads one received frame and reports what it carries. */
  onFrame(s: DriverSock, raw: string, ev: FrameEvents): void;
  /** Frames of the lifecycle ops (`--mix`), where the protocol has them; `peer` as in lib/lifecycle.ts. */
  lifecycle?: {
    edit(s: DriverSock, t: number, peer: number, n: number, id: string, data: string): string;
    react(s: DriverSock, t: number, peer: number, slot: number, gen: number, id: string, emoji: number, on: boolean): string;
  };
  /** A raw-TCP socket for `user` that stops reading after the handshake (only where supported). */
  stalledReader?(user: number): StalledReader;
}

export let readEnd = 0;
/** Reads a decimal integer starting at `i` (-1 if there is none); `readEnd` is left on the first non-digit. */
export function readInt(s: string, i: number): number {
  let n = 0;
  const start = i;
  for (;;) {
    const c = s.charCodeAt(i); // NaN past the end: the test below must be false for it
    if (!(c >= 48 && c <= 57)) break;
    n = n * 10 + (c - 48);
    i++;
  }
  readEnd = i;
  return i === start ? -1 : n;
}

/** Where a server runs, for the harness's /proc and Prometheus sampling. */
export interface Target {
  /** "standalone", a URL, or a peer's name; copied into the result */
  name: string;
  procs: { name: string; pid: number }[];
  metricsUrls: string[];
  logFile?: string;
}
