import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { createChatClient, type ChatClient } from "@chat/client";
import { api, stored, uniqueUser, type Target } from "./harness";
import { distributed, useTarget } from "./target";

// Real processes and sockets: each wait inside has its own deadline; this bounds a whole test.
setDefaultTimeout(90_000);

const script = process.env.E2E_DIST_SCRIPT;
/** The server restart: the standalone process, or every relay of the distributed stack one after the other. */
async function restartServer(t: Target): Promise<void> {
  if (!distributed) {
    await t.stop("SIGTERM");
    await t.restart();
    return;
  }
  for (const name of ["relay1", "relay2"]) {
    const p = Bun.spawn(["bash", join(import.meta.dir, "..", script!), "restart", name], { stdout: "ignore", stderr: "pipe" });
    if ((await p.exited) !== 0) throw new Error(`restart ${name} failed: ${await new Response(p.stderr).text()}`);
  }
}

async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

describe.skipIf(distributed && !script)("@chat/client against the real server", () => {
  const t = useTarget();
  const clients: ChatClient[] = [];
  const open = async (user: string, offline?: () => boolean) => {
    const c = createChatClient({
      baseUrl: t.base,
      token: () => t.token(user),
      backoff: { initialMs: 100, maxMs: 1_000 },
      // A client whose network is down cannot open sockets: it keeps backing off.
      webSocket: (url) => {
        if (offline?.()) throw new Error("offline");
        return new WebSocket(url) as never;
      },
    });
    clients.push(c);
    await c.connection.connect();
    return c;
  };

  test("REST helpers, a team message, a DM and an attachment, through the SDK", async () => {
    const [a, b] = [uniqueUser("a"), uniqueUser("b")];
    const alice = await open(a);
    const team = await alice.rest.createTeam({ name: "SDK" });
    await alice.rest.addMember(team.id, b);
    const bob = await open(b);
    expect(bob.connection.channels.has(team.id)).toBe(true);

    await alice.store.send(team.id, { data: "hello team" });
    await alice.store.send(team.id, { to: b, data: "hi bob" });
    const bytes = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4]);
    const attachment = await alice.rest.upload(team.id, new Blob([bytes], { type: "image/png" }), { filename: "dot.png" });
    await alice.store.send(team.id, { type: "image", data: attachment });
    await until(() => bob.store.timeline(team.id).length === 2 && bob.store.timeline(team.id, a).length === 1, "bob's messages");
    expect(bob.store.timeline(team.id).map((m) => m.data)).toEqual(["hello team", attachment]);
    expect(bob.store.timeline(team.id, a)[0]!.data).toBe("hi bob");
    expect(new Uint8Array(await (await bob.rest.downloadAttachment(attachment)).arrayBuffer())).toEqual(bytes);
    expect(await bob.rest.attachmentUrl(attachment)).toStartWith("http");

    // History through the view model: a fresh client pages back to the same messages (once stored).
    await stored(t, team.id, await t.token(b), bob.store.timeline(team.id).at(-1)!.id!);
    const carol = createChatClient({ baseUrl: t.base, token: () => t.token(b), store: { pageSize: 2 } });
    clients.push(carol);
    while ((await carol.store.loadOlder(team.id)) > 0 || carol.store.channel(team.id).hasMore);
    expect(carol.store.timeline(team.id).map((m) => m.data)).toEqual(["hello team", attachment]);
  });

  test("message lifecycle (§9) through the view model: reply, edit, react, delete, read and unread", async () => {
    const [a, b] = [uniqueUser("a"), uniqueUser("b")];
    const alice = await open(a);
    const team = await alice.rest.createTeam({ name: "Lifecycle" });
    await alice.rest.addMember(team.id, b);
    const bob = await open(b);
    await bob.store.loadTeams();

    const root = await alice.store.send(team.id, { data: "root" });
    await until(() => bob.store.timeline(team.id).length === 1, "the root at bob");
    await bob.store.send(team.id, { data: "a reply", reply_to: root.id });
    await alice.store.edit(team.id, root.id!, "root, edited");
    await bob.store.toggleReaction(team.id, root.id!, "👍");
    const gone = await alice.store.send(team.id, { data: "to be deleted" });
    await alice.store.delete(team.id, gone.id!);
    for (const [who, c] of [["alice", alice], ["bob", bob]] as const) {
      await until(() => {
        const [r, d] = c.store.timeline(team.id);
        return r?.data === "root, edited" && r.reply_count === 1 && r.reactions.length === 1 && d?.deleted === true;
      }, `${who}'s view`);
      const [r, d] = c.store.timeline(team.id);
      expect(r!.reactions).toEqual([{ emoji: "👍", count: 1, me: who === "bob" }]);
      expect(d!.data).toBeUndefined();
      expect(c.store.thread(team.id, root.id!).map((m) => m.data)).toEqual(["root, edited", "a reply"]);
    }
    // Unread for bob: alice's root (the deleted one no longer counts); reading clears it, on the server too.
    expect(bob.store.unread(team.id)).toBe(1);
    bob.store.markRead(team.id);
    await until(() => bob.connection.pendingCount === 0, "the read ack");
    await bob.store.loadTeams();
    expect(bob.store.teams.get(team.id)?.unread).toBe(0);
    expect(bob.store.unread(team.id)).toBe(0);
    // A fresh client sees the same state from history.
    const later = createChatClient({ baseUrl: t.base, token: () => t.token(b) });
    clients.push(later);
    await later.store.loadOlder(team.id);
    expect(later.store.timeline(team.id).map((m) => [m.data, m.deleted ?? false, m.reply_count])).toEqual([
      ["root, edited", false, 1],
      [undefined, true, 0],
    ]);
  });

  test("a server restart: sends queued while it is down are delivered once, and every client resumes without gap or duplicate", async () => {
    const [a, b] = [uniqueUser("a"), uniqueUser("b")];
    const alice = await open(a);
    const team = await alice.rest.createTeam({ name: "Restart" });
    await alice.rest.addMember(team.id, b);
    let bobOffline = false;
    const bob = await open(b, () => bobOffline);

    const sent: string[] = [];
    const send = (text: string) => {
      sent.push(text);
      return alice.store.send(team.id, { data: text });
    };
    await Promise.all(Array.from({ length: 5 }, (_, i) => send(`before-${i}`)));
    await until(() => bob.store.timeline(team.id).length === 5, "bob before the restart");

    // Bob's network is down across the restart and until everything was sent: all he gets comes from `since`.
    bobOffline = true;
    const restarted = restartServer(t);
    // Sends made while the server goes away and comes back: they wait in the outbox and are resent.
    const during = Array.from({ length: 5 }, (_, i) => send(`during-${i}`));
    await restarted;
    await Promise.all(during);
    await Promise.all(Array.from({ length: 5 }, (_, i) => send(`after-${i}`)));
    expect(bob.connection.state).toBe("reconnecting");
    bobOffline = false;

    for (const [who, c] of [["alice", alice], ["bob", bob]] as const) {
      await until(() => c.store.timeline(team.id).length >= sent.length, `${who}'s messages`);
      await Bun.sleep(200); // a duplicate would arrive right behind
      const view = c.store.timeline(team.id);
      expect(view.map((m) => m.data)).toEqual(sent);
      expect(new Set(view.map((m) => m.id)).size).toBe(sent.length);
      expect(view.map((m) => m.seq)).toEqual(view.map((m) => m.seq).sort((x, y) => x - y));
      expect(c.store.pendingIn(team.id)).toHaveLength(0);
    }
    // The server lost nothing either. It may hold a send twice: sends accepted while the server shut down
    // are acked by nobody, and the resend reaches a relay process that no longer remembers their
    // client_msg_id (dedupe is per relay process; see README "Choices"). The views above show each once.
    await stored(t, team.id, await t.token(b), bob.store.timeline(team.id).at(-1)!.id!);
    const h = await api(t, "GET", `/v1/teams/${team.id}/messages?limit=100`, await t.token(b));
    const kept: string[] = h.body.data.map((m: { data: string }) => m.data).reverse();
    expect([...new Set(kept)]).toEqual(sent);
    for (const c of clients) c.close();
  });
});
