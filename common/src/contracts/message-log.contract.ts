import { describe, expect, test } from "bun:test";
import { tracked } from "./tracked";
import type { ConsumedRecord, MessageLog } from "../ports";

/** Reads from `log` as `group` until `count` records arrived, then stops the consumer. */
export async function consumeN(log: MessageLog, group: string, count: number): Promise<ConsumedRecord[]> {
  const got: ConsumedRecord[] = [];
  const ac = new AbortController();
  const done = log.consume({
    group,
    signal: ac.signal,
    handle: async (batch) => {
      got.push(...batch);
      if (got.length >= count) ac.abort();
    },
  });
  await done;
  return got;
}

/** The behaviour every MessageLog adapter must show; `make` returns a fresh, empty log. */
export function messageLogContract(name: string, make: () => Promise<MessageLog>) {
  describe(`MessageLog contract: ${name}`, () => {
    const open = tracked(make);

    test("append resolves with seqs strictly increasing within a channel", async () => {
      const log = await open();
      const a = await log.append([
        { channelId: "c1", value: "1" },
        { channelId: "c2", value: "x" },
        { channelId: "c1", value: "2" },
      ]);
      const b = await log.append([{ channelId: "c1", value: "3" }]);
      expect(a.length).toBe(3);
      expect(a[2]!).toBeGreaterThan(a[0]!);
      expect(b[0]!).toBeGreaterThan(a[2]!);
    });

    test("consumers receive every record in channel order, with the seq append returned", async () => {
      const log = await open();
      const sent = Array.from({ length: 60 }, (_, i) => ({ channelId: `c${i % 3}`, value: JSON.stringify({ i }) }));
      const seqs = (await Promise.all(sent.map((r) => log.append([r])))).flat();
      const got = await consumeN(log, "g1", sent.length);
      expect(got.length).toBe(sent.length);
      for (const ch of ["c0", "c1", "c2"]) {
        const mine = got.filter((r) => r.channelId === ch);
        const values = mine.map((r) => JSON.parse(r.value).i as number);
        expect(values).toEqual([...values].sort((x, y) => x - y));
        for (let i = 1; i < mine.length; i++) expect(mine[i]!.seq).toBeGreaterThan(mine[i - 1]!.seq);
      }
      const bySeqValue = new Map(got.map((r) => [`${r.channelId}:${r.seq}`, r.value]));
      sent.forEach((r, i) => expect(bySeqValue.get(`${r.channelId}:${seqs[i]}`)).toBe(r.value));
    });

    test("a group resumes after its committed position; another group starts from the beginning", async () => {
      const log = await open();
      await log.append([{ channelId: "c", value: "a" }, { channelId: "c", value: "b" }]);
      expect((await consumeN(log, "g", 2)).map((r) => r.value)).toEqual(["a", "b"]);
      await log.append([{ channelId: "c", value: "c" }]);
      expect((await consumeN(log, "g", 1)).map((r) => r.value)).toEqual(["c"]);
      expect((await consumeN(log, "other", 3)).map((r) => r.value)).toEqual(["a", "b", "c"]);
    });

    test("each batch reports its partition and the records still behind it (none after the last)", async () => {
      const log = await open();
      await log.append(Array.from({ length: 5 }, (_, i) => ({ channelId: "lag", value: String(i) })));
      const positions: { partition: string; lag: number }[] = [];
      let got = 0;
      const ac = new AbortController();
      await log.consume({
        group: "lag",
        signal: ac.signal,
        handle: async (batch, position) => {
          positions.push(position);
          if ((got += batch.length) >= 5) ac.abort();
        },
      });
      expect(positions.every((p) => typeof p.partition === "string" && p.lag >= 0)).toBe(true);
      expect(positions.at(-1)!.lag).toBe(0);
    });

    test("a consumer waiting on an empty log wakes for a new append", async () => {
      const log = await open();
      const pending = consumeN(log, "w", 1);
      await log.append([{ channelId: "c", value: "late" }]);
      expect((await pending).map((r) => r.value)).toEqual(["late"]);
    });

    test("many concurrent appends all become durable with distinct seqs per channel", async () => {
      const log = await open();
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append([{ channelId: "hot", value: String(i) }])));
      const seqs = results.flat();
      expect(new Set(seqs).size).toBe(200);
      const got = await consumeN(log, "c", 200);
      expect(got.map((r) => r.value).sort()).toEqual(Array.from({ length: 200 }, (_, i) => String(i)).sort());
    });
  });
}
