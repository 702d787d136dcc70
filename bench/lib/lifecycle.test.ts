import { describe, expect, test } from "bun:test";
import { EMOJI, MsgRing, ReactRing, chooseKind, editClientMsgId, parseMix, parseOpClientMsgId, reactClientMsgId } from "./lifecycle";

// Correctness of the benchmark's op encoding and bookkeeping only; no speed targets here.
const id = (n: number) => n.toString(16).padStart(24, "0");

describe("parseMix", () => {
  test("fractions, defaults and refusals", () => {
    expect(parseMix("")).toEqual({ edit: 0, react: 0 });
    expect(parseMix("edit=0.15,react=.15")).toEqual({ edit: 0.15, react: 0.15 });
    expect(parseMix("react=1")).toEqual({ edit: 0, react: 1 });
    for (const bad of ["edit=0.6,react=0.5", "delete=0.1", "edit=-0.1", "edit=1.5", "edit=x", "edit=0.1,edit=0.2", "edit"])
      expect(() => parseMix(bad)).toThrow(/--mix/);
  });

  test("chooseKind splits [0, 1) in order edit, react, send", () => {
    const m = { edit: 0.15, react: 0.15 };
    expect([0, 0.149, 0.15, 0.299, 0.3, 0.999].map((r) => chooseKind(m, r))).toEqual(["edit", "edit", "react", "react", "send", "send"]);
  });
});

describe("op client_msg_id", () => {
  test("round-trips edits and reacts; sends and junk are not ops", () => {
    const e = editClientMsgId(1732900000123456, 7, 42, 9);
    expect(e.length).toBeLessThanOrEqual(64);
    expect(parseOpClientMsgId(e)).toMatchObject({ kind: "edit", t: 1732900000123456, peer: 7, sock: 42 });
    expect(parseOpClientMsgId(editClientMsgId(5, -1, 0, 1))).toMatchObject({ kind: "edit", peer: -1 });

    const r = reactClientMsgId(1732900000123456, -1, 59999, 31, 255, EMOJI.length - 1, false);
    expect(r.length).toBeLessThanOrEqual(64);
    expect(parseOpClientMsgId(r)).toEqual({ kind: "react", t: 1732900000123456, peer: -1, sock: 59999, slot: 31, gen: 255, emoji: EMOJI.length - 1, on: false });
    expect(parseOpClientMsgId(reactClientMsgId(9, 3, 1, 0, 1, 0, true))!.on).toBe(true);

    for (const bad of ["900.0.3.1", "", "e", "e1.2.3", "e1.2.3.4.5", "e1.2.3.x", "x1.2.3.4", "r1.0.3.1.1.9.1", "r1.0.3.1.1.0.2", "e0.1.1.1", "e1..3.4", "e1.2.3.4."])
      expect(parseOpClientMsgId(bad)).toBeNull();
  });
});

describe("rings", () => {
  test("MsgRing keeps the newest `capacity` messages and ignores malformed ids", () => {
    const r = new MsgRing(3);
    expect(r.pick(0.5)).toBe(-1);
    expect(r.push("short", -1)).toBe(-1);
    for (let i = 1; i <= 5; i++) r.push(id(i), i);
    expect(r.size).toBe(3);
    expect([id(1), id(2), id(3), id(4), id(5)].map((x) => r.find(x))).toEqual([-1, -1, 2, 0, 1]);
    expect(r.peer[r.find(id(4))]).toBe(4);
  });

  test("pick: only the newer half of what is stored, never a slot about to be overwritten", () => {
    const r = new MsgRing(4);
    r.push(id(1), -1);
    expect(r.pick(0.99)).toBe(0);
    r.push(id(2), -1);
    r.push(id(3), -1); // filling: slots 0..2 hold 1, 2, 3; slot 0 is overwritten first
    expect(new Set([0, 0.3, 0.6, 0.99].map((x) => r.ids[r.pick(x)]))).toEqual(new Set([id(3), id(2)]));
    for (let i = 4; i <= 9; i++) r.push(id(i), -1); // slots now hold 9, 6, 7, 8; the next push overwrites 6
    const picked = new Set([0, 0.2, 0.49, 0.5, 0.7, 0.999].map((x) => r.ids[r.pick(x)]));
    expect(picked).toEqual(new Set([id(9), id(8)]));
  });

  test("ReactRing toggles on then off, one toggle in flight per emoji, and times each way", () => {
    const r = new ReactRing(2);
    const slot = r.push(id(1), -1);
    const gen = r.gen[slot]!;
    expect(r.toggle(slot, 1, 100)).toBe(true);
    expect(r.toggle(slot, 1, 101)).toBeNull(); // in flight
    expect(r.toggle(slot, 2, 102)).toBe(true); // another emoji is independent
    r.settle(slot, gen, 1, true, true);
    expect(r.toggle(slot, 1, 200)).toBe(false); // now off
    expect(r.sentAt(id(1), 1, true)).toBe(100);
    expect(r.sentAt(id(1), 1, false)).toBe(200);
    expect(r.sentAt(id(1), 0, true)).toBe(0);
    expect(r.sentAt(id(9), 1, true)).toBe(0);
  });

  test("an error undoes the toggle; an answer for a reused slot changes nothing", () => {
    const r = new ReactRing(1);
    const slot = r.push(id(1), -1);
    const gen = r.gen[slot]!;
    expect(r.toggle(slot, 0, 10)).toBe(true);
    r.settle(slot, gen, 0, true, false); // rejected: still off
    expect(r.toggle(slot, 0, 11)).toBe(true);
    r.push(id(2), -1); // overwrites the only slot: fresh state
    expect(r.gen[slot]).not.toBe(gen);
    expect(r.toggle(slot, 0, 12)).toBe(true);
    r.settle(slot, gen, 0, true, false); // the old message's answer: ignored
    expect(r.toggle(slot, 0, 13)).toBeNull();
    expect(r.sentAt(id(1), 0, true)).toBe(0);
  });
});
