/**
 * Lifecycle traffic for the load harness (`--mix edit=F,react=F`, PROTOCOL.md section 9): the mix,
 * the per-socket rings of messages an op may target, and the client_msg_id of an op, which carries
 * its send time like a send's does, so its ack or error is matched without a lookup table.
 *
 *   send:  `<t>.<peer+1>.<socket>.<n>`                              (unchanged, lib/drivers/chat.ts)
 *   edit:  `e<t>.<peer+1>.<socket>.<n>`
 *   react: `r<t>.<peer+1>.<socket>.<slot>.<gen>.<emoji>.<on 0|1>`
 *
 * `peer` says who receives the op's event, exactly as `target` does for a send: -1 = the whole team;
 * otherwise the message is a DM between `peer` and the acting socket's user. An edit's event carries
 * its send time in the new text (`<t>:<socket>:xxx…`, like a message); a reaction event has no free
 * text, so it is matched through the reacting socket's ring: (message id, emoji, on) → send time.
 * Everything here is bounded: each socket holds two fixed-size rings.
 */
import { readEnd, readInt } from "./driver";

export type OpKind = "edit" | "react";
export const OP_KINDS: readonly OpKind[] = ["edit", "react"];

export interface Mix {
  edit: number;
  react: number;
}

/** `edit=0.15,react=0.15` → fractions of scheduled operations; the rest are plain sends. */
export function parseMix(s: string): Mix {
  const mix: Mix = { edit: 0, react: 0 };
  const seen = new Set<string>();
  for (const part of s.split(",").map((x) => x.trim()).filter(Boolean)) {
    const m = /^(edit|react)=([0-9]*\.?[0-9]+)$/.exec(part);
    if (!m) throw new Error(`--mix: expected edit=F,react=F with F in [0, 1], got ${JSON.stringify(part)}`);
    if (seen.has(m[1]!)) throw new Error(`--mix: ${m[1]} given twice`);
    seen.add(m[1]!);
    const f = Number(m[2]);
    if (!(f >= 0 && f <= 1)) throw new Error(`--mix: ${m[1]} must be in [0, 1], got ${m[2]}`);
    mix[m[1] as OpKind] = f;
  }
  if (mix.edit + mix.react > 1) throw new Error(`--mix: edit + react must be at most 1, got ${mix.edit + mix.react}`);
  return mix;
}

/** The emoji a socket toggles: few enough that a message never nears the 20-distinct limit. */
export const EMOJI = ["+1", "heart", "tada", "eyes"] as const;
const E = EMOJI.length;
const ID_LEN = 24;

/** Recently acked (or received) messages of one socket: id and peer (-1 = team), oldest overwritten. */
export class MsgRing {
  readonly ids: string[];
  readonly peer: Int32Array;
  readonly gen: Uint8Array;
  size = 0;
  private next = 0;

  constructor(readonly capacity: number) {
    this.ids = new Array<string>(capacity).fill("");
    this.peer = new Int32Array(capacity);
    this.gen = new Uint8Array(capacity);
  }

  /** Stores a message, overwriting the oldest; returns its slot. Ignores anything but a 24-char id. */
  push(id: string, peer: number): number {
    if (id.length !== ID_LEN) return -1;
    const slot = this.next;
    this.next = (slot + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
    this.ids[slot] = id;
    this.peer[slot] = peer;
    this.gen[slot] = (this.gen[slot]! + 1) & 0xff;
    this.reset(slot);
    return slot;
  }

  protected reset(_slot: number): void {}

  /**
   * A uniformly chosen slot among the newer half of those stored (`r` in [0, 1)), -1 when empty. A
   * reaction event must still find its message here after every socket of the team has received it,
   * so a picked slot is always at least capacity/2 pushes away from being overwritten (while the ring
   * fills as well: slot j is overwritten by push capacity + j).
   */
  pick(r: number): number {
    if (this.size === 0) return -1;
    const half = Math.ceil(this.size / 2);
    return (this.next - 1 - Math.floor(r * half) + this.capacity) % this.capacity;
  }

  find(id: string): number {
    for (let i = 0; i < this.size; i++) if (this.ids[i] === id) return i;
    return -1;
  }
}

/**
 * Messages a socket may react to, with, per emoji, whether this socket's reaction is on, whether a
 * toggle is in flight (no second toggle until it is answered), and the send time of the last
 * toggle each way: a `reaction_added`/`reaction_removed` event takes its time from here.
 */
export class ReactRing extends MsgRing {
  readonly on: Uint8Array; // bit e: this socket's reaction `EMOJI[e]` is on
  readonly pending: Uint8Array; // bit e: a toggle of `EMOJI[e]` awaits its ack or error
  readonly tOn: Float64Array;
  readonly tOff: Float64Array;

  constructor(capacity: number) {
    super(capacity);
    this.on = new Uint8Array(capacity);
    this.pending = new Uint8Array(capacity);
    this.tOn = new Float64Array(capacity * E);
    this.tOff = new Float64Array(capacity * E);
  }

  protected override reset(slot: number): void {
    this.on[slot] = 0;
    this.pending[slot] = 0;
    this.tOn.fill(0, slot * E, slot * E + E);
    this.tOff.fill(0, slot * E, slot * E + E);
  }

  /** Starts a toggle of emoji `e` on `slot` sent at `t`: returns whether it turns the reaction on, or null if one is in flight. */
  toggle(slot: number, e: number, t: number): boolean | null {
    const bit = 1 << e;
    if (this.pending[slot]! & bit) return null;
    const on = !(this.on[slot]! & bit);
    this.pending[slot]! |= bit;
    this.on[slot] = on ? this.on[slot]! | bit : this.on[slot]! & ~bit;
    (on ? this.tOn : this.tOff)[slot * E + e] = t;
    return on;
  }

  /** The toggle's answer: an ack settles it; an error undoes it. Stale answers (slot reused) are ignored. */
  settle(slot: number, gen: number, e: number, on: boolean, accepted: boolean): void {
    if (slot < 0 || slot >= this.size || this.gen[slot] !== gen) return;
    const bit = 1 << e;
    this.pending[slot]! &= ~bit;
    if (!accepted) this.on[slot] = on ? this.on[slot]! & ~bit : this.on[slot]! | bit;
  }

  /** Send time of this socket's toggle that produced an event (message id, emoji, on), 0 if unknown. */
  sentAt(id: string, e: number, on: boolean): number {
    const slot = this.find(id);
    return slot < 0 ? 0 : (on ? this.tOn : this.tOff)[slot * E + e]!;
  }
}

export interface OpRef {
  kind: OpKind;
  t: number;
  peer: number;
  sock: number;
  /** react only */
  slot: number;
  gen: number;
  emoji: number;
  on: boolean;
}

export function editClientMsgId(t: number, peer: number, sock: number, n: number): string {
  return `e${t}.${peer + 1}.${sock}.${n}`;
}

export function reactClientMsgId(t: number, peer: number, sock: number, slot: number, gen: number, emoji: number, on: boolean): string {
  return `r${t}.${peer + 1}.${sock}.${slot}.${gen}.${emoji}.${on ? 1 : 0}`;
}

/** Decodes an op's client_msg_id; null for a send's or anything malformed. */
export function parseOpClientMsgId(cmid: string): OpRef | null {
  const k = cmid.charCodeAt(0);
  const kind: OpKind | null = k === 101 ? "edit" : k === 114 ? "react" : null;
  if (!kind) return null;
  const nums: number[] = [];
  let i = 1;
  for (;;) {
    const v = readInt(cmid, i);
    if (v < 0) return null;
    nums.push(v);
    if (readEnd === cmid.length) break;
    if (cmid.charCodeAt(readEnd) !== 46) return null;
    i = readEnd + 1;
  }
  if (kind === "edit") return nums.length === 4 && nums[0]! > 0 ? { kind, t: nums[0]!, peer: nums[1]! - 1, sock: nums[2]!, slot: -1, gen: 0, emoji: -1, on: false } : null;
  if (nums.length !== 7 || nums[0]! <= 0 || nums[5]! >= E || nums[6]! > 1) return null;
  return { kind, t: nums[0]!, peer: nums[1]! - 1, sock: nums[2]!, slot: nums[3]!, gen: nums[4]!, emoji: nums[5]!, on: nums[6] === 1 };
}

/** What the next scheduled operation is, given a uniform `r` in [0, 1). */
export function chooseKind(mix: Mix, r: number): OpKind | "send" {
  return r < mix.edit ? "edit" : r < mix.edit + mix.react ? "react" : "send";
}
