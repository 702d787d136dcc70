import { describe, expect, test } from "bun:test";
import { tracked } from "./tracked";
import { objectId } from "../ids";
import type { StoredMessage } from "../message";
import type { MessageStore } from "../ports";

export function messageStoreContract(name: string, make: () => Promise<MessageStore>) {
  describe(`MessageStore contract: ${name}`, () => {
    const open = tracked(make);
    const msg = (channel: string, seq: number, from: string, to = "*"): StoredMessage => ({
      id: objectId(),
      channel_id: channel,
      seq,
      from,
      to,
      type: "text",
      data: `m${seq}`,
      ts: new Date().toISOString(),
    });

    test("insertMany is idempotent by id", async () => {
      const s = await open();
      const ch = objectId();
      const m = msg(ch, 1, "a");
      await s.insertMany([m]);
      await s.insertMany([m, msg(ch, 2, "a")]);
      await s.insertMany([m]);
      expect((await s.history(ch, "a", { limit: 10 })).map((x) => x.seq)).toEqual([2, 1]);
      expect((await s.history(ch, "a", { limit: 10 }))[1]).toEqual(m);
    });

    test("history: newest first, before-cursor, limit, and DMs only for their two users", async () => {
      const s = await open();
      const ch = objectId();
      await s.insertMany([msg(ch, 1, "a"), msg(ch, 2, "a", "b"), msg(ch, 3, "c", "a"), msg(ch, 4, "b", "c"), msg(ch, 5, "b"), msg(objectId(), 6, "a")]);
      const seqs = (xs: StoredMessage[]) => xs.map((x) => x.seq);
      expect(seqs(await s.history(ch, "a", { limit: 10 }))).toEqual([5, 3, 2, 1]);
      expect(seqs(await s.history(ch, "b", { limit: 10 }))).toEqual([5, 4, 2, 1]);
      expect(seqs(await s.history(ch, "z", { limit: 10 }))).toEqual([5, 1]);
      expect(seqs(await s.history(ch, "a", { limit: 2 }))).toEqual([5, 3]);
      expect(seqs(await s.history(ch, "a", { before: 3, limit: 10 }))).toEqual([2, 1]);
    });

    test("since: oldest first after a seq, per viewer or everything", async () => {
      const s = await open();
      const ch = objectId();
      await s.insertMany([msg(ch, 10, "a"), msg(ch, 11, "a", "b"), msg(ch, 12, "c", "d"), msg(ch, 13, "b")]);
      const seqs = (xs: StoredMessage[]) => xs.map((x) => x.seq);
      expect(seqs(await s.since(ch, "b", 10, 100))).toEqual([11, 13]);
      expect(seqs(await s.since(ch, undefined, 10, 100))).toEqual([11, 12, 13]);
      expect(seqs(await s.since(ch, undefined, 10, 2))).toEqual([11, 12]);
    });
  });
}
