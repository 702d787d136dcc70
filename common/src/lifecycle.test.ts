import { describe, expect, test } from "bun:test";
import { AppError } from "./errors";
import { objectId } from "./ids";
import { authorizeOp, authorizeReply, isEmoji, MAX_DISTINCT_EMOJI, type LifecycleEntry, type MessageInfo, type MessageOp, type OpContext } from "./lifecycle";
import { applyOp, planBatch, reactionKey, readKey, type BatchState, type MessageState, type OpState, type Sequenced } from "./lifecycle-apply";
import type { Role } from "./teams";

const CH = objectId();
const info = (over: Partial<MessageInfo> = {}): MessageInfo => ({ id: objectId(), channel_id: CH, seq: 5, from: "author", to: "*", type: "text", deleted: false, emoji: [], ...over });
const ctx = (actor: string, role: Role, target: MessageInfo | null, active = true): OpContext => ({ actor, role, active, target });
const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return (e as AppError).code;
  }
};

describe("authorizeOp", () => {
  const m = info();
  const dm = info({ to: "bob" });
  const ops = (t: MessageInfo): Record<string, MessageOp> => ({
    edit: { op: "edit", channel_id: CH, id: t.id, data: "new" },
    delete: { op: "delete", channel_id: CH, id: t.id },
    react: { op: "react", channel_id: CH, id: t.id, emoji: "👍", on: true },
  });
  // actor → [role, edit, delete, react] on a broadcast by "author"
  const matrix: [string, Role, string | undefined, string | undefined, string | undefined][] = [
    ["author", "user", undefined, undefined, undefined],
    ["other", "user", "forbidden", "forbidden", undefined],
    ["admin", "admin", "forbidden", undefined, undefined],
    ["boss", "super_admin", "forbidden", undefined, undefined],
    ["stranger", "none", "forbidden", "forbidden", "forbidden"],
  ];
  for (const [actor, role, edit, del, react] of matrix)
    test(`a broadcast: ${actor} (${role})`, () => {
      const o = ops(m);
      expect([codeOf(() => authorizeOp(o.edit!, ctx(actor, role, m))), codeOf(() => authorizeOp(o.delete!, ctx(actor, role, m))), codeOf(() => authorizeOp(o.react!, ctx(actor, role, m)))]).toEqual([edit, del, react]);
    });

  test("a DM does not exist for anyone but its two users, admins included", () => {
    const o = ops(dm);
    for (const [actor, role] of [["carol", "user"], ["admin", "admin"], ["boss", "super_admin"]] as const)
      for (const op of Object.values(o)) expect(codeOf(() => authorizeOp(op, ctx(actor, role, dm)))).toBe("not_found");
    expect(codeOf(() => authorizeOp(o.react!, ctx("bob", "user", dm)))).toBeUndefined();
    expect(codeOf(() => authorizeOp(o.delete!, ctx("bob", "user", dm)))).toBe("forbidden");
    expect(codeOf(() => authorizeOp(o.edit!, ctx("bob", "user", dm)))).toBe("forbidden");
  });

  test("the entry copies the target's audience and stamps the actor", () => {
    const e = authorizeOp(ops(dm).react!, ctx("bob", "user", dm), new Date(0));
    expect(e).toEqual({ kind: "reaction", channel_id: CH, id: dm.id, emoji: "👍", user: "bob", on: true, to: "bob", author: "author", ts: new Date(0).toISOString() });
    expect(authorizeOp(ops(m).edit!, ctx("author", "user", m), new Date(0))).toMatchObject({ kind: "message_edited", by: "author", to: "*", author: "author", data: "new" });
  });

  test("unknown, foreign-team and deleted targets are not_found; deleting twice is allowed", () => {
    const gone = info({ deleted: true });
    const foreign = info({ channel_id: objectId() });
    for (const t of [gone, foreign]) {
      expect(codeOf(() => authorizeOp(ops(t).edit!, ctx("author", "user", t)))).toBe("not_found");
      expect(codeOf(() => authorizeOp(ops(t).react!, ctx("author", "user", t)))).toBe("not_found");
    }
    expect(codeOf(() => authorizeOp(ops(m).edit!, ctx("author", "user", null)))).toBe("not_found");
    expect(codeOf(() => authorizeOp(ops(gone).delete!, ctx("author", "user", gone)))).toBeUndefined();
    expect(codeOf(() => authorizeOp(ops(foreign).delete!, ctx("author", "user", foreign)))).toBe("not_found");
  });

  test("permission before state: an inactive team refuses edits and reactions (conflict), not deletes or reads", () => {
    const o = ops(m);
    expect(codeOf(() => authorizeOp(o.edit!, ctx("author", "user", m, false)))).toBe("conflict");
    expect(codeOf(() => authorizeOp(o.edit!, ctx("other", "user", m, false)))).toBe("forbidden");
    expect(codeOf(() => authorizeOp(o.react!, ctx("other", "user", m, false)))).toBe("conflict");
    expect(codeOf(() => authorizeOp(o.delete!, ctx("author", "user", m, false)))).toBeUndefined();
    expect(codeOf(() => authorizeOp({ op: "read", channel_id: CH, seq: 3 }, ctx("x", "user", null, false)))).toBeUndefined();
  });

  test("only text is edited", () => {
    const img = info({ type: "image" });
    expect(codeOf(() => authorizeOp(ops(img).edit!, ctx("author", "user", img)))).toBe("invalid_message");
  });

  test("the 21st distinct emoji is too_large; another reaction with a present emoji is fine", () => {
    const full = info({ emoji: Array.from({ length: MAX_DISTINCT_EMOJI }, (_, i) => `e${i}`) });
    expect(codeOf(() => authorizeOp({ op: "react", channel_id: CH, id: full.id, emoji: "new", on: true }, ctx("x", "user", full)))).toBe("too_large");
    expect(codeOf(() => authorizeOp({ op: "react", channel_id: CH, id: full.id, emoji: "e3", on: true }, ctx("x", "user", full)))).toBeUndefined();
    expect(codeOf(() => authorizeOp({ op: "react", channel_id: CH, id: full.id, emoji: "new", on: false }, ctx("x", "user", full)))).toBeUndefined();
  });
});

describe("authorizeReply", () => {
  test("a reply attaches to the root; a reply to a reply too", () => {
    const root = info();
    expect(authorizeReply(CH, "*", ctx("x", "user", root))).toBe(root.id);
    const reply = info({ reply_to: root.id });
    expect(authorizeReply(CH, "*", ctx("x", "user", reply))).toBe(root.id);
  });
  test("a reply to a DM is a DM between the same two users", () => {
    const dm = info({ from: "a", to: "b" });
    expect(authorizeReply(CH, "a", ctx("b", "user", dm))).toBe(dm.id);
    expect(authorizeReply(CH, "b", ctx("a", "user", dm))).toBe(dm.id);
    expect(codeOf(() => authorizeReply(CH, "*", ctx("b", "user", dm)))).toBe("invalid_message");
    expect(codeOf(() => authorizeReply(CH, "c", ctx("a", "user", dm)))).toBe("invalid_message");
    expect(codeOf(() => authorizeReply(CH, "a", ctx("c", "user", dm)))).toBe("not_found");
  });
  test("no replies to deleted or unknown messages, nor by non-members", () => {
    expect(codeOf(() => authorizeReply(CH, "*", ctx("x", "user", info({ deleted: true }))))).toBe("not_found");
    expect(codeOf(() => authorizeReply(CH, "*", ctx("x", "user", null)))).toBe("not_found");
    expect(codeOf(() => authorizeReply(CH, "*", ctx("x", "none", info())))).toBe("forbidden");
  });
});

test("isEmoji: 1-32 code points, no whitespace or invisible controls; ZWJ sequences pass", () => {
  for (const ok of ["👍", "+1", "👨‍👩‍👧", "🇫🇷", "x".repeat(32), "😀".repeat(32), ":party:"]) expect([ok, isEmoji(ok)]).toEqual([ok, true]);
  for (const bad of ["", " ", "a b", "\n", "x".repeat(33), "😀".repeat(33), "a\u202eb", "\u0000", "\ud800", 5, null]) expect([bad, isEmoji(bad)]).toEqual([bad, false]);
});

describe("applyOp", () => {
  const state = (over: Partial<MessageState> = {}): MessageState => ({ id: "m1", channel_id: CH, from: "author", to: "*", type: "text", deleted: false, data: "old", edited_seq: 0, deleted_seq: 0, reactions: [], ...over });
  const edit = (data: string): LifecycleEntry => ({ kind: "message_edited", channel_id: CH, id: "m1", data, edited_at: "t", by: "author", to: "*", author: "author" });
  const del: LifecycleEntry = { kind: "message_deleted", channel_id: CH, id: "m1", by: "author", to: "*", author: "author", ts: "t" };
  const react = (user: string, emoji: string, on = true): LifecycleEntry => ({ kind: "reaction", channel_id: CH, id: "m1", emoji, user, on, to: "*", author: "author", ts: "t" });
  const read = (user: string, seq: number): LifecycleEntry => ({ kind: "read", channel_id: CH, user, seq, ts: "t" });
  const S = (message: MessageState | null): OpState => ({ message, reaction: null, read: null });

  test("edit: applies once by seq; an older or redelivered edit changes nothing", () => {
    const r1 = applyOp(S(state()), edit("new"), 10);
    expect(r1.next.message).toMatchObject({ data: "new", edited_at: "t", edited_seq: 10 });
    expect(r1.effective).toEqual(edit("new"));
    const again = applyOp(r1.next, edit("new"), 10);
    expect(again.next).toBe(r1.next); // nothing to write
    expect(again.effective).not.toBeNull(); // but published again: relays drop it by seq
    expect(applyOp(r1.next, edit("older"), 9)).toEqual({ next: r1.next, effective: null });
  });

  test("delete: content gone; nothing applies after it, and a redelivered edit never republishes content", () => {
    const edited = applyOp(S(state()), edit("secret"), 10).next;
    const d = applyOp(edited, del, 11);
    expect(d.next.message!.deleted).toBe(true);
    expect("data" in d.next.message!).toBe(false);
    expect(d.next.message).toMatchObject({ deleted_seq: 11, deleted_by: "author" });
    expect(applyOp(d.next, edit("late"), 12).effective).toBeNull();
    expect(applyOp(d.next, edit("secret"), 10).effective).toBeNull(); // redelivery after the delete
    expect(applyOp(d.next, react("x", "👍"), 13).effective).toBeNull();
    expect(applyOp(d.next, del, 14).effective).toBeNull(); // a second delete: no event
    expect(applyOp(d.next, del, 11).effective).toEqual(del); // redelivered: the same event again
  });

  test("an edit by someone else than the author, or of another team's message, changes nothing", () => {
    expect(applyOp(S(state()), { ...edit("x"), by: "intruder" } as LifecycleEntry, 10).effective).toBeNull();
    expect(applyOp(S(state({ channel_id: objectId() })), edit("x"), 10).effective).toBeNull();
    expect(applyOp(S(null), edit("x"), 10).effective).toBeNull();
  });

  test("reactions: idempotent per (message, user, emoji); counts follow; removal of what is not there is nothing", () => {
    let s: OpState = S(state());
    const step = (e: LifecycleEntry, seq: number, reaction: { on: boolean; seq: number } | null) => {
      const r = applyOp({ ...s, reaction }, e, seq);
      s = { ...r.next, reaction: null };
      return r;
    };
    expect(step(react("a", "👍"), 10, null).effective).not.toBeNull();
    expect(step(react("b", "👍"), 11, null).effective).not.toBeNull();
    expect(step(react("a", "👍"), 12, { on: true, seq: 10 }).effective).toBeNull(); // twice
    expect(step(react("a", "🎉", false), 13, null).effective).toBeNull(); // not there
    expect(s.message!.reactions).toEqual([{ emoji: "👍", count: 2 }]);
    expect(step(react("a", "👍", false), 14, { on: true, seq: 10 }).next.reaction).toEqual({ on: false, seq: 14 });
    expect(s.message!.reactions).toEqual([{ emoji: "👍", count: 1 }]);
    step(react("b", "👍", false), 15, { on: true, seq: 11 });
    expect(s.message!.reactions).toEqual([]);
    // redelivered: the row already carries this seq
    const redo = applyOp({ ...s, reaction: { on: false, seq: 15 } }, react("b", "👍", false), 15);
    expect(redo.next.message).toBe(s.message);
    expect(redo.effective).not.toBeNull();
  });

  test("a 21st emoji raced in takes no effect", () => {
    const full = state({ reactions: Array.from({ length: MAX_DISTINCT_EMOJI }, (_, i) => ({ emoji: `e${i}`, count: 1 })) });
    expect(applyOp(S(full), react("x", "new"), 50).effective).toBeNull();
    expect(applyOp(S(full), react("x", "e1"), 50).next.message!.reactions[1]).toEqual({ emoji: "e1", count: 2 });
  });

  test("read: forward only, clamped to the entry's own seq, idempotent by entry seq", () => {
    const r1 = applyOp({ message: null, reaction: null, read: null }, read("u", 30), 40);
    expect(r1.next.read).toEqual({ seq: 30, event_seq: 40 });
    expect(r1.effective).toMatchObject({ seq: 30 });
    expect(applyOp(r1.next, read("u", 20), 41).effective).toBeNull(); // backwards
    expect(applyOp(r1.next, read("u", 30), 42).effective).toBeNull(); // no move
    const far = applyOp(r1.next, read("u", 10 ** 12), 50); // nothing after the entry itself can have been read
    expect(far.next.read).toEqual({ seq: 50, event_seq: 50 });
    expect(applyOp(r1.next, read("u", 30), 40).effective).toMatchObject({ seq: 30 }); // redelivered
  });
});

describe("planBatch", () => {
  const fresh = (): BatchState => ({
    messages: new Map([["m1", { id: "m1", channel_id: CH, from: "a", to: "*", type: "text", deleted: false, data: "v0", edited_seq: 0, deleted_seq: 0, reactions: [] }]]),
    reactions: new Map(),
    reads: new Map(),
  });
  const batch: Sequenced<LifecycleEntry>[] = [
    { seq: 10, entry: { kind: "reaction", channel_id: CH, id: "m1", emoji: "👍", user: "b", on: true, to: "*", author: "a", ts: "t" } },
    { seq: 11, entry: { kind: "reaction", channel_id: CH, id: "m1", emoji: "👍", user: "b", on: true, to: "*", author: "a", ts: "t" } },
    { seq: 12, entry: { kind: "message_edited", channel_id: CH, id: "m1", data: "v1", edited_at: "t", by: "a", to: "*", author: "a" } },
    { seq: 13, entry: { kind: "read", channel_id: CH, user: "b", seq: 12, ts: "t" } },
    { seq: 14, entry: { kind: "message_deleted", channel_id: CH, id: "m1", by: "a", to: "*", author: "a", ts: "t" } },
    { seq: 15, entry: { kind: "message_edited", channel_id: CH, id: "m1", data: "v2", edited_at: "t", by: "a", to: "*", author: "a" } },
  ];

  test("applies in log order and marks what must be written", () => {
    const s = fresh();
    const { effective, dirty } = planBatch(batch, s);
    expect(effective.map((e) => e !== null)).toEqual([true, false, true, true, true, false]);
    expect(s.messages.get("m1")).toMatchObject({ deleted: true, deleted_seq: 14, edited_seq: 12, reactions: [{ emoji: "👍", count: 1 }] });
    expect(s.reactions.get(reactionKey("m1", "b", "👍"))).toEqual({ on: true, seq: 10 });
    expect(s.reads.get(readKey(CH, "b"))).toEqual({ seq: 12, event_seq: 13 });
    expect([...dirty.messages, ...dirty.reactions, ...dirty.reads].length).toBe(3);
  });

  test("a redelivered batch writes nothing and republishes no deleted content", () => {
    const s = fresh();
    planBatch(batch, s);
    const { effective, dirty } = planBatch(batch, s);
    expect([...dirty.messages, ...dirty.reactions, ...dirty.reads]).toEqual([]);
    // the read and the delete again (relays drop them by seq); nothing about the deleted message's content or reactions
    expect(effective.map((e) => e?.kind ?? null)).toEqual([null, null, null, "read", "message_deleted", null]);
  });
});
