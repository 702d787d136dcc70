import { Database } from "bun:sqlite";
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, api, createTeam, stored, startStandalone, uniqueUser, type Frame } from "./harness";
import { distributed, useTarget } from "./target";

// Message lifecycle (PROTOCOL section 9) over real sockets: replies, edit, delete, reactions, read
// markers — who may do what, who hears about it, and what resume and history show afterwards.
setDefaultTimeout(60_000);

const dataDir = mkdtempSync(join(tmpdir(), "chat-e2e-life-"));
const t = useTarget(distributed ? undefined : () => startStandalone({}, dataDir));

let n = 0;
const cmid = () => `l-${++n}`;
const text = (channel_id: string, data: string, extra: Record<string, unknown> = {}) => ({ channel_id, to: "*", type: "text", data, client_msg_id: cmid(), ...extra });
const op = (o: Record<string, unknown>) => ({ client_msg_id: cmid(), ...o });
const connect = async (user: string, query = "") => Client.connect(t, await t.token(user), query);

/** Sends a broadcast from `sender` and waits until each of `who` has it: everything sent before in that channel has reached them. */
async function barrier(sender: Client, channel: string, ...who: Client[]) {
  const ack = await sender.request(text(channel, `barrier ${n}`));
  expect(ack.event).toBe("ack");
  for (const c of who) await c.find((f) => f.event === "message" && f.id === ack.id);
  await stored(t, channel, sender.token, ack.id); // history may lag live delivery by one store write
}

/** A client's view of a channel, rebuilt from the frames it received: what a UI would show. */
function view(frames: Frame[], channel: string) {
  const msgs = new Map<string, { data?: string; deleted: boolean; edited: boolean; reply_to?: string; reactions: Record<string, string[]> }>();
  for (const f of frames) {
    if (f.channel_id !== channel) continue;
    const m = f.id ? msgs.get(f.id) : undefined;
    switch (f.event) {
      case "message":
        msgs.set(f.id, { data: f.data, deleted: f.deleted === true, edited: f.edited_at !== undefined, reply_to: f.reply_to, reactions: {} });
        break;
      case "message_edited":
        if (m) Object.assign(m, { data: f.data, edited: true });
        break;
      case "message_deleted":
        if (m) Object.assign(m, { data: undefined, deleted: true, edited: false, reactions: {} });
        break;
      case "reaction_added":
      case "reaction_removed": {
        if (!m) break;
        const users = new Set(m.reactions[f.emoji] ?? []);
        if (f.event === "reaction_added") users.add(f.user);
        else users.delete(f.user);
        m.reactions[f.emoji] = [...users].sort();
        if (users.size === 0) delete m.reactions[f.emoji];
        break;
      }
    }
  }
  return Object.fromEntries([...msgs].sort(([a], [b]) => (a < b ? -1 : 1)));
}

describe("live delivery of each op", () => {
  test("broadcast ops reach every member socket; a DM's ops only its two users; read only the reader's own sockets", async () => {
    const [a, b, c] = [uniqueUser("a"), uniqueUser("b"), uniqueUser("c")];
    const team = await createTeam(t, a, [b, c]);
    const [a1, a2, b1, c1] = await Promise.all([connect(a), connect(a), connect(b), connect(c)]);

    const root = await a1.request(text(team, "root"));
    const reply = await b1.request(text(team, "a reply", { reply_to: root.id }));
    expect(reply.event).toBe("ack");
    const edit = await a1.request(op({ op: "edit", channel_id: team, id: root.id, data: "root (edited)" }));
    expect(edit).toMatchObject({ event: "ack", op: "edit", id: root.id });
    expect(edit.seq).toBeGreaterThan(reply.seq);
    const react = await c1.request(op({ op: "react", channel_id: team, id: root.id, emoji: "👍", on: true }));
    expect(react).toMatchObject({ event: "ack", op: "react", id: root.id });
    for (const cl of [a1, a2, b1, c1]) {
      expect(await cl.find((f) => f.event === "message" && f.id === reply.id)).toMatchObject({ reply_to: root.id, data: "a reply" });
      expect(await cl.find((f) => f.event === "message_edited" && f.id === root.id)).toMatchObject({ channel_id: team, seq: edit.seq, data: "root (edited)", by: a });
      expect(await cl.find((f) => f.event === "reaction_added" && f.id === root.id)).toEqual({ event: "reaction_added", channel_id: team, id: root.id, seq: react.seq, emoji: "👍", user: c });
    }

    // A DM a→b and everything done to it: c hears nothing.
    const dm = await a1.request({ ...text(team, "psst"), to: b });
    const dmReply = await b1.request({ ...text(team, "psst back", { reply_to: dm.id }), to: a });
    expect(dmReply.event).toBe("ack");
    await a1.request(op({ op: "edit", channel_id: team, id: dm.id, data: "psst!" }));
    await b1.request(op({ op: "react", channel_id: team, id: dm.id, emoji: "🤫" }));
    const del = await a1.request(op({ op: "delete", channel_id: team, id: dm.id }));
    expect(del).toMatchObject({ event: "ack", op: "delete", id: dm.id });
    for (const cl of [a1, a2, b1]) expect(await cl.find((f) => f.event === "message_deleted" && f.id === dm.id)).toEqual({ event: "message_deleted", channel_id: team, id: dm.id, seq: del.seq, by: a });

    // A read marker: b's own sockets only.
    const b2 = await connect(b);
    const read = await b1.request(op({ op: "read", channel_id: team, seq: del.seq }));
    expect(read).toMatchObject({ event: "ack", op: "read" });
    for (const cl of [b1, b2]) expect(await cl.find((f) => f.event === "read")).toEqual({ event: "read", channel_id: team, seq: read.seq, user: b, last_read_seq: del.seq });

    await barrier(a1, team, a1, a2, b1, b2, c1);
    expect(c1.frames.filter((f) => f.id === dm.id || f.id === dmReply.id || f.event === "read")).toEqual([]);
    expect(a1.frames.filter((f) => f.event === "read")).toEqual([]);
    expect(JSON.stringify(c1.frames)).not.toContain("psst");
    await Promise.all([a1, a2, b1, b2, c1].map((x) => x.close()));
  });

  test("a reply to a reply attaches to the root; a reply to a DM must be a DM between the same two users", async () => {
    const [a, b, c] = [uniqueUser("a"), uniqueUser("b"), uniqueUser("c")];
    const team = await createTeam(t, a, [b, c]);
    const [a1, c1] = await Promise.all([connect(a), connect(c)]);
    const root = await a1.request(text(team, "root"));
    const r1 = await a1.request(text(team, "r1", { reply_to: root.id }));
    const r2 = await a1.request(text(team, "r2", { reply_to: r1.id }));
    expect((await a1.find((f) => f.event === "message" && f.id === r2.id)).reply_to).toBe(root.id);
    const dm = await a1.request({ ...text(team, "dm"), to: b });
    expect(await a1.request(text(team, "public reply", { reply_to: dm.id }))).toMatchObject({ event: "error", code: "invalid_message" });
    expect(await a1.request({ ...text(team, "to c", { reply_to: dm.id }), to: c })).toMatchObject({ event: "error", code: "invalid_message" });
    expect(await c1.request({ ...text(team, "outsider", { reply_to: dm.id }), to: a })).toMatchObject({ event: "error", code: "not_found" });
    expect(await a1.request(text(team, "nothing", { reply_to: "0".repeat(24) }))).toMatchObject({ event: "error", code: "not_found" });
    await stored(t, team, a1.token, dm.id);
    const page = await api(t, "GET", `/v1/teams/${team}/messages?thread=${root.id}`, await t.token(c));
    expect(page.body.data.map((m: any) => m.data)).toEqual(["r2", "r1", "root"]);
    expect(page.body.data[2]).toMatchObject({ reply_count: 2, last_reply_seq: r2.seq });
    await Promise.all([a1.close(), c1.close()]);
  });
});

describe("authorization", () => {
  test("edit, delete, react by author, other user, admin, super_admin, non-member and DM outsider", async () => {
    const [S, A, U, V, X] = [uniqueUser("super"), uniqueUser("admin"), uniqueUser("author"), uniqueUser("other"), uniqueUser("outsider")];
    const team = await createTeam(t, S, [A, U, V]);
    expect((await api(t, "POST", `/v1/teams/${team}/admins`, await t.token(S), { user_id: A })).status).toBe(201);
    const elsewhere = await createTeam(t, X, [U]);
    const socks = Object.fromEntries(await Promise.all(([["S", S], ["A", A], ["U", U], ["V", V], ["X", X]] as const).map(async ([k, u]) => [k, await connect(u)] as const)));
    const author = socks.U!;
    // Fresh messages come from three more sockets of the author, so no socket nears its rate limit.
    const writers = await Promise.all([connect(U), connect(U), connect(U)]);
    let w = 0;
    const outcome = (f: Frame) => (f.event === "ack" ? "ok" : f.code);

    // Each cell on a fresh message: [actor, edit, delete, react] on a broadcast by U, then on a DM U→V.
    const cells = async (to: string) => {
      const got: Record<string, string[]> = {};
      for (const k of ["U", "V", "A", "S", "X"]) {
        const writer = () => writers[w++ % writers.length]!;
        const fresh = async () => (await writer().request(to === "*" ? text(team, "msg") : { ...text(team, "msg"), to })).id;
        const c = socks[k]!;
        got[k] = [
          outcome(await c.request(op({ op: "edit", channel_id: team, id: await fresh(), data: "changed" }))),
          outcome(await c.request(op({ op: "delete", channel_id: team, id: await fresh() }))),
          outcome(await c.request(op({ op: "react", channel_id: team, id: await fresh(), emoji: "👀" }))),
        ];
      }
      return got;
    };
    expect(await cells("*")).toEqual({
      U: ["ok", "ok", "ok"],
      V: ["forbidden", "forbidden", "ok"],
      A: ["forbidden", "ok", "ok"],
      S: ["forbidden", "ok", "ok"],
      X: ["forbidden", "forbidden", "forbidden"], // not a member (the team is not on its connection)
    });
    // A DM U→V: the admins are outsiders to it.
    expect(await cells(V)).toEqual({
      U: ["ok", "ok", "ok"],
      V: ["forbidden", "forbidden", "ok"],
      A: ["not_found", "not_found", "not_found"],
      S: ["not_found", "not_found", "not_found"],
      X: ["forbidden", "forbidden", "forbidden"],
    });
    // A message of another team, named with this team's id, does not exist here.
    const foreign = await author.request(text(elsewhere, "elsewhere"));
    expect(outcome(await author.request(op({ op: "delete", channel_id: team, id: foreign.id })))).toBe("not_found");
    // A deleted message: only deleting it again is acked.
    const gone = await author.request(text(team, "gone"));
    expect(outcome(await author.request(op({ op: "delete", channel_id: team, id: gone.id })))).toBe("ok");
    expect(outcome(await author.request(op({ op: "delete", channel_id: team, id: gone.id })))).toBe("ok");
    expect(outcome(await author.request(op({ op: "edit", channel_id: team, id: gone.id, data: "x" })))).toBe("not_found");
    expect(outcome(await author.request(op({ op: "react", channel_id: team, id: gone.id, emoji: "x" })))).toBe("not_found");
    // Malformed ops
    for (const bad of [
      { op: "edit", channel_id: team, id: gone.id },
      { op: "react", channel_id: team, id: gone.id, emoji: "two words" },
      { op: "react", channel_id: team, id: gone.id, emoji: "x".repeat(33) },
      { op: "react", channel_id: team, id: gone.id, emoji: "x", on: "yes" },
      { op: "read", channel_id: team, seq: -1 },
      { op: "delete", channel_id: team, id: { $ne: null } },
      { op: "frobnicate", channel_id: team },
    ])
      expect(outcome(await author.request(op(bad)))).toBe("invalid_message");
    expect(outcome(await author.request(op({ op: "edit", channel_id: team, id: gone.id, data: "y".repeat(4001) })))).toBe("too_large");
    await Promise.all([...Object.values(socks), ...writers].map((c) => c.close()));
  });

  test("reactions: idempotent per user (two sockets adding at once count once), removing what is not there is acked, 21st emoji is too_large", async () => {
    const [a, b] = [uniqueUser("a"), uniqueUser("b")];
    const team = await createTeam(t, a, [b]);
    const [a1, b1, b2] = await Promise.all([connect(a), connect(b), connect(b)]);
    const m = await a1.request(text(team, "react to me"));
    const [x, y] = await Promise.all([
      b1.request(op({ op: "react", channel_id: team, id: m.id, emoji: "🔥" })),
      b2.request(op({ op: "react", channel_id: team, id: m.id, emoji: "🔥" })),
    ]);
    expect([x.event, y.event]).toEqual(["ack", "ack"]);
    expect((await b1.request(op({ op: "react", channel_id: team, id: m.id, emoji: "🙈", on: false }))).event).toBe("ack");
    await barrier(a1, team, a1);
    expect(a1.frames.filter((f) => f.event.startsWith("reaction_")).map((f) => [f.event, f.emoji])).toEqual([["reaction_added", "🔥"]]);
    const h = await api(t, "GET", `/v1/teams/${team}/messages`, await t.token(b));
    expect(h.body.data.find((d: any) => d.id === m.id).reactions).toEqual([{ emoji: "🔥", count: 1, me: true }]);
    const ha = await api(t, "GET", `/v1/teams/${team}/messages`, await t.token(a));
    expect(ha.body.data.find((d: any) => d.id === m.id).reactions).toEqual([{ emoji: "🔥", count: 1, me: false }]);

    for (let i = 0; i < 19; i++) expect((await a1.request(op({ op: "react", channel_id: team, id: m.id, emoji: `e${i}` }))).event).toBe("ack");
    await barrier(a1, team, a1); // the 20th distinct emoji is stored before the next lookup
    expect(await b1.request(op({ op: "react", channel_id: team, id: m.id, emoji: "one-too-many" }))).toMatchObject({ event: "error", code: "too_large" });
    expect((await b1.request(op({ op: "react", channel_id: team, id: m.id, emoji: "e3" }))).event).toBe("ack");
    await Promise.all([a1, b1, b2].map((c) => c.close()));
  });
});

describe("resume", () => {
  test("a client offline during an edit, a delete and reactions resumes with ?since into exactly the state of one that stayed online", async () => {
    const [a, b] = [uniqueUser("a"), uniqueUser("b")];
    const team = await createTeam(t, a, [b]);
    const online = await connect(b);
    let away = await connect(b);
    const a1 = await connect(a);
    const m1 = await a1.request(text(team, "first"));
    const m2 = await a1.request(text(team, "second, soon gone"));
    const m3 = await a1.request({ ...text(team, "dm"), to: b });
    await a1.request(op({ op: "react", channel_id: team, id: m1.id, emoji: "👋" }));
    await barrier(a1, team, away, online);
    const since = Math.max(...away.frames.filter((f) => typeof f.seq === "number").map((f) => f.seq));
    await away.close();

    await a1.request(op({ op: "edit", channel_id: team, id: m1.id, data: "first, edited" }));
    await a1.request(op({ op: "edit", channel_id: team, id: m2.id, data: "second, edited before its delete" }));
    await a1.request(op({ op: "delete", channel_id: team, id: m2.id }));
    await a1.request(op({ op: "react", channel_id: team, id: m1.id, emoji: "👋", on: false }));
    await a1.request(op({ op: "react", channel_id: team, id: m3.id, emoji: "💌" }));
    await online.request(op({ op: "react", channel_id: team, id: m1.id, emoji: "🎉" }));
    const m4 = await a1.request(text(team, "new while away"));
    await a1.request(op({ op: "react", channel_id: team, id: m4.id, emoji: "🆕" }));
    await a1.request(op({ op: "react", channel_id: team, id: m4.id, emoji: "🆕", on: false }));
    await a1.request(op({ op: "edit", channel_id: team, id: m4.id, data: "new, edited" }));
    await barrier(a1, team, online);

    const resumed = await Client.connect(t, await t.token(b), `since=${team}:${since}`);
    await barrier(a1, team, resumed, online);
    // What the away client saw before leaving, then after resuming, makes the same channel as the online client's.
    expect(view([...away.frames, ...resumed.frames], team)).toEqual(view(online.frames, team));
    expect(view(online.frames, team)[m1.id]).toEqual({ data: "first, edited", deleted: false, edited: true, reply_to: undefined, reactions: { "🎉": [b] } });
    expect(view(online.frames, team)[m2.id]).toMatchObject({ deleted: true, data: undefined });
    expect(JSON.stringify(resumed.frames)).not.toContain("soon gone");
    expect(JSON.stringify(resumed.frames)).not.toContain("before its delete");
    await Promise.all([online, resumed, a1].map((c) => c.close()));
  });
});

describe("REST", () => {
  test("the same ops over REST, with the same rules and the same live events", async () => {
    const [a, b, c] = [uniqueUser("a"), uniqueUser("b"), uniqueUser("c")];
    const team = await createTeam(t, a, [b, c]);
    const [a1, b1, b2, c1] = await Promise.all([connect(a), connect(b), connect(b), connect(c)]);
    const [ta, tb, tc] = await Promise.all([t.token(a), t.token(b), t.token(c)]);
    const m = await a1.request(text(team, "via rest"));
    const base = `/v1/teams/${team}/messages/${m.id}`;

    const edit = await api(t, "PATCH", base, ta, { data: "via rest, edited" });
    expect(edit).toMatchObject({ status: 200, body: { data: { op: "edit", id: m.id } } });
    expect(await c1.find((f) => f.event === "message_edited" && f.id === m.id)).toMatchObject({ seq: edit.body.data.seq, data: "via rest, edited", by: a });
    expect((await api(t, "PATCH", base, tb, { data: "not mine" })).status).toBe(403);
    expect((await api(t, "PATCH", base, ta, { data: "x", extra: 1 })).status).toBe(400);
    expect((await api(t, "PATCH", base, ta, { data: "y".repeat(4001) })).status).toBe(413);

    const emoji = encodeURIComponent("100%");
    const put = await api(t, "PUT", `${base}/reactions/${emoji}`, tb);
    expect(put).toMatchObject({ status: 200, body: { data: { op: "react", id: m.id } } });
    expect(await a1.find((f) => f.event === "reaction_added" && f.id === m.id)).toMatchObject({ emoji: "100%", user: b, seq: put.body.data.seq });
    expect((await api(t, "PUT", `${base}/reactions/${encodeURIComponent("two words")}`, tb)).status).toBe(400);
    const del = await api(t, "DELETE", `${base}/reactions/${emoji}`, tb);
    expect(await a1.find((f) => f.event === "reaction_removed" && f.id === m.id)).toMatchObject({ emoji: "100%", user: b, seq: del.body.data.seq });

    const read = await api(t, "PUT", `/v1/teams/${team}/read`, tb, { seq: m.seq });
    expect(read).toMatchObject({ status: 200, body: { data: { op: "read" } } });
    for (const cl of [b1, b2]) expect(await cl.find((f) => f.event === "read")).toMatchObject({ user: b, last_read_seq: m.seq, seq: read.body.data.seq });

    expect((await api(t, "DELETE", base, tc)).status).toBe(403);
    const gone = await api(t, "DELETE", base, ta); // the super_admin, also its author
    expect(gone.status).toBe(200);
    expect(await c1.find((f) => f.event === "message_deleted" && f.id === m.id)).toMatchObject({ seq: gone.body.data.seq, by: a });
    expect((await api(t, "DELETE", base, ta)).status).toBe(200); // again: nothing more
    expect((await api(t, "PATCH", base, ta, { data: "back?" })).status).toBe(404);
    await barrier(a1, team, a1, c1);
    expect(a1.frames.filter((f) => f.event === "read")).toEqual([]);
    expect(c1.frames.filter((f) => f.event === "message_deleted").length).toBe(1);

    const reads = await api(t, "GET", `/v1/teams/${team}/reads`, tc);
    expect(reads.body.data).toEqual([
      { user_id: a, last_read_seq: 0 },
      { user_id: b, last_read_seq: m.seq },
      { user_id: c, last_read_seq: 0 },
    ]);
    expect((await api(t, "GET", `/v1/teams/${team}/reads`, await t.token(uniqueUser("x")))).status).toBe(403);
    await Promise.all([a1, b1, b2, c1].map((x) => x.close()));
  });

  test("unread counts are exact: others' messages and replies, not own ones, not others' DMs; a read on another device", async () => {
    const [a, b, c] = [uniqueUser("a"), uniqueUser("b"), uniqueUser("c")];
    const team = await createTeam(t, a, [b, c]);
    const quiet = await createTeam(t, a, [b]);
    const [a1, b1, b2, c1] = await Promise.all([connect(a), connect(b), connect(b), connect(c)]);
    const tb = await t.token(b);
    const unread = async () => {
      const r = await api(t, "GET", "/v1/teams?limit=100", tb);
      return Object.fromEntries(r.body.data.map((x: any) => [x.id, { last_seq: x.last_seq, last_read_seq: x.last_read_seq, unread: x.unread }]));
    };
    const m1 = await a1.request(text(team, "one"));
    await b1.request(text(team, "mine"));
    await c1.request(text(team, "reply", { reply_to: m1.id }));
    await a1.request({ ...text(team, "dm to c"), to: c });
    const toB = await a1.request({ ...text(team, "dm to b"), to: b });
    await b1.request({ ...text(team, "my dm"), to: a });
    const last = await a1.request(text(team, "two"));
    await stored(t, team, tb, last.id);
    expect((await unread())[team]).toEqual({ last_seq: last.seq, last_read_seq: 0, unread: 4 });
    expect((await unread())[quiet]).toEqual({ last_seq: 0, last_read_seq: 0, unread: 0 });

    // b reads up to the DM on its other device: the first socket hears about it, the count follows.
    await b2.request(op({ op: "read", channel_id: team, seq: toB.seq }));
    expect(await b1.find((f) => f.event === "read")).toMatchObject({ last_read_seq: toB.seq });
    expect((await unread())[team]).toEqual({ last_seq: last.seq, last_read_seq: toB.seq, unread: 1 });
    // Backwards does nothing; a deleted unread message stops counting.
    await b2.request(op({ op: "read", channel_id: team, seq: m1.seq }));
    await a1.request(op({ op: "delete", channel_id: team, id: last.id }));
    await b1.find((f) => f.event === "message_deleted" && f.id === last.id);
    expect((await unread())[team]).toEqual({ last_seq: last.seq, last_read_seq: toB.seq, unread: 0 });
    await Promise.all([a1, b1, b2, c1].map((x) => x.close()));
  });
});

describe.skipIf(distributed)("deleted content is gone (standalone store)", () => {
  test("after a delete, the old text is in no frame, no history page and no row of the store", async () => {
    const [a, b] = [uniqueUser("a"), uniqueUser("b")];
    const team = await createTeam(t, a, [b]);
    const [a1, b1] = await Promise.all([connect(a), connect(b)]);
    const secret = `hunter2-${Date.now()}`;
    const m = await a1.request(text(team, `first ${secret}`));
    await a1.request(op({ op: "edit", channel_id: team, id: m.id, data: `edited ${secret}` }));
    await b1.request(op({ op: "react", channel_id: team, id: m.id, emoji: "😱" }));
    await b1.request(text(team, "reply", { reply_to: m.id }));
    const del = await a1.request(op({ op: "delete", channel_id: team, id: m.id }));
    await b1.find((f) => f.event === "message_deleted" && f.id === m.id);
    const after = b1.frames.slice(b1.frames.findIndex((f) => f.event === "message_deleted"));
    expect(JSON.stringify(after)).not.toContain(secret);

    const late = await Client.connect(t, await t.token(b), `since=${team}:0`);
    await barrier(a1, team, late);
    expect(JSON.stringify(late.frames)).not.toContain(secret);
    expect(late.frames.find((f) => f.event === "message" && f.id === m.id)).toMatchObject({ deleted: true });
    expect(late.frames.find((f) => f.event === "message" && f.id === m.id)!.data).toBeUndefined();

    const page = await api(t, "GET", `/v1/teams/${team}/messages`, await t.token(b));
    expect(JSON.stringify(page.body)).not.toContain(secret);
    expect(page.body.data.find((x: any) => x.id === m.id)).toMatchObject({ id: m.id, deleted: true, reply_count: 1 });
    expect("data" in page.body.data.find((x: any) => x.id === m.id)).toBe(false);
    expect(del.seq).toBeGreaterThan(m.seq);

    const db = new Database(join(dataDir, "chat.db"), { readonly: true });
    try {
      const tables = db.query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => r.name);
      for (const table of tables) {
        const rows = db.query(`SELECT * FROM "${table}"`).all();
        expect({ table, leak: JSON.stringify(rows).includes(secret) }).toEqual({ table, leak: false });
      }
      expect(db.query("SELECT deleted, data FROM messages WHERE id = ?").get(m.id)).toEqual({ deleted: 1, data: "" });
    } finally {
      db.close();
    }
    await Promise.all([a1, b1, late].map((c) => c.close()));
  });
});

