import { afterAll, describe, expect, test } from "bun:test";
import { ConfigResourceTypes, Kafka, logLevel, Partitioners, type Admin, type PartitionMetadata } from "kafkajs";
import { missingInfra } from "../contracts/infra";
import { consumeN, messageLogContract } from "../contracts/message-log.contract";
import { objectId } from "../ids";
import type { Logger } from "../log";
import type { ConsumedRecord } from "../ports";
import { KafkaLog, type KafkaTuning } from "./kafka-log";
import { partitionFor } from "./kafka-partition";

const brokers = process.env.KAFKA_BROKERS?.split(",").filter(Boolean);

/** Collects log lines so a test can check what was (not) logged. */
function memoryLogger(lines: string[] = []): Logger & { lines: string[] } {
  const make = (b: Record<string, unknown>): Logger => ({
    debug: () => {},
    info: (msg, f) => lines.push(JSON.stringify({ level: "info", msg, ...b, ...f })),
    warn: (msg, f) => lines.push(JSON.stringify({ level: "warn", msg, ...b, ...f })),
    error: (msg, f) => lines.push(JSON.stringify({ level: "error", msg, ...b, ...f }), String(f?.error ?? f?.err ?? "")),
    child: (more) => make({ ...b, ...more }),
  });
  return Object.assign(make({}), { lines });
}

describe("Kafka partitioning (no broker needed)", () => {
  test("partitionFor agrees with kafkajs' (Java-compatible) default partitioner", () => {
    const pick = Partitioners.DefaultPartitioner();
    for (const n of [1, 3, 12, 50]) {
      const partitionMetadata = Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 1 }) as PartitionMetadata);
      for (let i = 0; i < 300; i++) {
        const key = i % 2 ? objectId() : `ch-${i}-é✓${"x".repeat(i % 7)}`;
        expect(partitionFor(key, n)).toBe(pick({ topic: "t", partitionMetadata, message: { key, value: null } }));
      }
    }
  });
});

if (!brokers?.length) {
  missingInfra("KafkaLog contract and adapter tests", "KAFKA_BROKERS is not set");
} else {
  // Short group timings keep joins, leaves and idle fetches fast; the broker's minimum session timeout is 6 s.
  const TUNING: KafkaTuning = { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500, rebalanceTimeoutMs: 6_000, maxWaitMs: 200, sendRetries: 2 };
  const PARTITIONS = 3;
  let admin: Admin | undefined;
  const adminClient = async () => {
    if (!admin) {
      admin = new Kafka({ brokers, clientId: "kafka-test-admin", logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
    }
    return admin;
  };
  const created: string[] = [];
  afterAll(async () => {
    if (!admin) return;
    await admin.deleteTopics({ topics: created }).catch(() => undefined);
    await admin.disconnect();
  });

  const connect = (topic: string, logger: Logger = memoryLogger()) => {
    created.push(topic);
    return KafkaLog.connect({ brokers, topic, partitions: PARTITIONS, replication: 1, group: "unused" }, "kafka-test", logger, TUNING);
  };
  const freshTopic = () => `chat-test-${objectId()}`;

  messageLogContract("kafka", () => connect(freshTopic()));

  describe("KafkaLog", () => {
    test("creates a missing topic with the configured partition count and batch size limit", async () => {
      const topic = freshTopic();
      const log = await connect(topic);
      try {
        expect(log.partitions).toBe(PARTITIONS);
        const a = await adminClient();
        const meta = await a.fetchTopicMetadata({ topics: [topic] });
        expect(meta.topics[0]!.partitions.length).toBe(PARTITIONS);
        const { resources } = await a.describeConfigs({
          includeSynonyms: false,
          resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ["max.message.bytes"] }],
        });
        expect(resources[0]!.configEntries[0]!.configValue).toBe(String(16 * 1024 * 1024));
      } finally {
        await log.close();
      }
    });

    test("an existing topic keeps its partition count, which routing then uses", async () => {
      const topic = freshTopic();
      const a = await adminClient();
      await a.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
      const log = await connect(topic);
      try {
        expect(log.partitions).toBe(2);
        await log.append(["x", "y", "z", "w"].map((c) => ({ channelId: c, value: c })));
        const offsets = await a.fetchTopicOffsets(topic);
        const expected = [0, 0];
        for (const c of ["x", "y", "z", "w"]) expected[partitionFor(c, 2)]!++;
        expect(offsets.sort((p, q) => p.partition - q.partition).map((o) => Number(o.high))).toEqual(expected);
      } finally {
        await log.close();
      }
    });

    test("a multi-channel append: each record's seq is its offset + 1 in its channel's partition", async () => {
      const topic = freshTopic();
      const log = await connect(topic);
      try {
        const channels = Array.from({ length: 7 }, () => objectId());
        const first = await log.append([{ channelId: channels[0]!, value: "first" }]);
        expect(first).toEqual([1]); // offset 0 of an empty partition
        const sent = Array.from({ length: 40 }, (_, i) => ({ channelId: channels[(i * 5) % 7]!, value: `v${i}` }));
        const seqs = await log.append(sent);
        const got = await consumeN(log, `g-${objectId()}`, sent.length + 1);
        const byValue = new Map(got.map((r) => [r.value, r]));
        sent.forEach((r, i) => {
          expect(byValue.get(r.value)).toEqual({ seq: seqs[i]!, channelId: r.channelId, value: r.value });
        });
        // Partition high watermarks = records routed there: our explicit routing reached Kafka as computed.
        const expected = Array.from({ length: PARTITIONS }, () => 0);
        for (const r of [{ channelId: channels[0]! }, ...sent]) expected[partitionFor(r.channelId, PARTITIONS)]!++;
        const offsets = await (await adminClient()).fetchTopicOffsets(topic);
        expect(offsets.sort((p, q) => p.partition - q.partition).map((o) => Number(o.high))).toEqual(expected);
      } finally {
        await log.close();
      }
    });

    test("one channel's append above Kafka's 1 MB default batch size is stored and consumed", async () => {
      const log = await connect(freshTopic());
      try {
        const big = Array.from({ length: 120 }, (_, i) => ({ channelId: "hot", value: `${i}:${"x".repeat(16 * 1024)}` }));
        const seqs = await log.append(big);
        expect(seqs).toEqual(big.map((_, i) => i + 1));
        const got = await consumeN(log, `g-${objectId()}`, big.length);
        expect(got.map((r) => r.seq)).toEqual(seqs);
      } finally {
        await log.close();
      }
    });

    test("a batch whose handle throws is delivered again, and committed only once handled", async () => {
      const logger = memoryLogger();
      const log = await connect(freshTopic(), logger);
      try {
        await log.append([
          { channelId: "c", value: "secret-1" },
          { channelId: "c", value: "secret-2" },
        ]);
        const group = `g-${objectId()}`;
        const deliveries: ConsumedRecord[][] = [];
        const ac = new AbortController();
        await log.consume({
          group,
          signal: ac.signal,
          handle: async (batch) => {
            deliveries.push(batch);
            if (deliveries.length === 1) throw new Error("persist failed");
            ac.abort();
          },
        });
        expect(deliveries.length).toBe(2);
        expect(deliveries[1]).toEqual(deliveries[0]!);
        expect(deliveries[0]!.map((r) => r.value)).toEqual(["secret-1", "secret-2"]);
        // Committed after the successful delivery: the group goes on with what follows.
        await log.append([{ channelId: "c", value: "next" }]);
        expect((await consumeN(log, group, 1)).map((r) => r.value)).toEqual(["next"]);
        expect(logger.lines.join("\n")).not.toContain("secret-");
      } finally {
        await log.close();
      }
    });

    test("a slow handle keeps the group membership (heartbeats during the batch)", async () => {
      const log = await connect(freshTopic());
      try {
        await log.append([{ channelId: "c", value: "slow" }]);
        const group = `g-${objectId()}`;
        const ac = new AbortController();
        let calls = 0;
        await log.consume({
          group,
          signal: ac.signal,
          handle: async () => {
            calls++;
            await Bun.sleep(TUNING.sessionTimeoutMs! + 1_500); // longer than the session timeout
            ac.abort();
          },
        });
        expect(calls).toBe(1);
        await log.append([{ channelId: "c", value: "after" }]);
        expect((await consumeN(log, group, 1)).map((r) => r.value)).toEqual(["after"]);
      } finally {
        await log.close();
      }
    }, 20_000);

    test("close stops running consumers, is idempotent, and later appends reject", async () => {
      const log = await connect(freshTopic());
      // A consumer that has delivered a record is past connecting and joining: close must stop it running.
      await log.append([{ channelId: "c", value: "sentinel" }]);
      let delivered!: () => void;
      const consuming = new Promise<void>((resolve) => (delivered = resolve));
      const running = log.consume({
        group: `g-${objectId()}`,
        signal: new AbortController().signal,
        handle: async (batch) => {
          if (batch.some((r) => r.value === "sentinel")) delivered();
        },
      });
      await Promise.race([consuming, running.then(() => Promise.reject(new Error("consume ended before delivering the sentinel")))]);
      await Promise.all([log.close(), log.close()]);
      await running;
      await expect(log.append([{ channelId: "c", value: "x" }])).rejects.toMatchObject({ code: "unavailable" });
      await expect(log.ping()).rejects.toMatchObject({ code: "unavailable" });
    });

    test("ping answers while the broker is up", async () => {
      const log = await connect(freshTopic());
      try {
        await log.ping();
      } finally {
        await log.close();
      }
    });
  });
}
