import { Kafka, logLevel, Partitioners, type Admin, type Consumer, type Producer } from "kafkajs";
import type { Config } from "../config";
import { AppError } from "../errors";
import type { Logger } from "../log";
import { OutageLog } from "../outage-log";
import type { Accepted, ConsumeHandler, LogRecord, MessageLog } from "../ports";
import { sleep } from "../retry";
import { withTimeout } from "../timeout";
import { OffsetCommitter } from "./kafka-commits";
import { logCreator, UNREACHABLE } from "./kafka-logging";
import { keyPartitioner } from "./kafka-partition";

export type KafkaConfig = NonNullable<Config["kafka"]>;

/** Timing knobs; production uses the defaults, tests shorten them. */
export interface KafkaTuning {
  /** Consumer group session timeout: a dead consumer's partitions move after this (broker minimum is 6 s). */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  rebalanceTimeoutMs?: number;
  /** Longest an idle fetch waits on the broker; also bounds how long stopping a consumer takes. */
  maxWaitMs?: number;
  /** Producer retries before append rejects (then the producer is replaced, see `send`). */
  sendRetries?: number;
  /** `max.message.bytes` of a topic we create: one append is one record batch per partition. */
  maxBatchBytes?: number;
  connectionTimeoutMs?: number;
  pingTimeoutMs?: number;
  /** Settled offsets are committed together at most this often (see kafka-commits.ts). */
  commitIntervalMs?: number;
  /** `MessageLog.appendIntervalMs`: a backlog of appends waits until this long after the previous produce started. */
  appendIntervalMs?: number;
}

const DEFAULTS: Required<KafkaTuning> = {
  sessionTimeoutMs: 30_000,
  heartbeatIntervalMs: 3_000,
  rebalanceTimeoutMs: 60_000,
  maxWaitMs: 1_000,
  sendRetries: 3,
  maxBatchBytes: 16 * 1024 * 1024,
  connectionTimeoutMs: 3_000,
  pingTimeoutMs: 5_000,
  commitIntervalMs: 100,
  appendIntervalMs: 0,
};

/**
 * The distributed MessageLog: one topic keyed by channel id, so a channel lives in one
 * partition and its seq is that partition's offset + 1. Appends are acknowledged by all
 * in-sync replicas through an idempotent producer; consumers commit only handled batches (in log
 * order, once a handler's `settled` resolves). A little over 300 lines: the producer and the
 * consumer of one port share its client and its outage tracking; partitioning and kafkajs logging
 * are already in kafka-partition.ts and kafka-logging.ts.
 */
export class KafkaLog implements MessageLog {
  private producerReady: Promise<Producer> | undefined;
  /** Appends go out one at a time, see `send`. */
  private tail: Promise<unknown> = Promise.resolve();
  private readonly stopConsumers = new AbortController();
  private readonly consumers = new Set<Promise<void>>();
  private closing: Promise<void> | undefined;
  private readonly partitionOf: (key: string) => number;

  private constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    readonly topic: string,
    /** The topic's partition count as read at connect; fixed for the topic's life. */
    readonly partitions: number,
    private readonly logger: Logger,
    private readonly tuning: Required<KafkaTuning>,
    private readonly outage: OutageLog,
  ) {
    this.partitionOf = keyPartitioner(partitions);
  }

  get appendIntervalMs(): number {
    return this.tuning.appendIntervalMs;
  }

  static async connect(config: KafkaConfig, clientId: string, logger: Logger, tuning: KafkaTuning = {}): Promise<KafkaLog> {
    const t = { ...DEFAULTS, ...tuning };
    const outage = new OutageLog(logger, "kafka");
    const kafka = new Kafka({
      clientId,
      brokers: config.brokers,
      connectionTimeout: t.connectionTimeoutMs,
      logLevel: logLevel.WARN,
      logCreator: logCreator(logger, outage),
    });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const created = await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic: config.topic,
            numPartitions: config.partitions,
            replicationFactor: config.replication,
            configEntries: [{ name: "max.message.bytes", value: String(t.maxBatchBytes) }],
          },
        ],
      });
      const partitions = await waitForLeaders(admin, config.topic);
      if (created) logger.info("created topic", { topic: config.topic, partitions, replication: config.replication });
      else if (partitions !== config.partitions)
        logger.warn("topic exists with a different partition count; using it", { topic: config.topic, partitions, configured: config.partitions });
      const log = new KafkaLog(kafka, admin, config.topic, partitions, logger, t, outage);
      await log.producer();
      return log;
    } catch (err) {
      await admin.disconnect().catch(() => undefined);
      throw err;
    }
  }

  private producer(): Promise<Producer> {
    if (!this.producerReady) {
      const p = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { retries: this.tuning.sendRetries },
      });
      const ready = p.connect().then(
        () => p,
        (err: unknown) => {
          if (this.producerReady === ready) this.producerReady = undefined;
          void p.disconnect().catch(() => undefined);
          throw err;
        },
      );
      this.producerReady = ready;
    }
    return this.producerReady;
  }

  append(records: LogRecord[]): Promise<number[]> {
    if (this.closing) return Promise.reject(new AppError("unavailable", "message log closed"));
    if (records.length === 0) return Promise.resolve([]);
    const run = this.tail.then(() => this.send(records));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * One produce request. Sends are serialized: kafkajs rolls a partition's idempotence
   * sequence back between retries, so a concurrent send could reuse it and be taken for
   * a duplicate. After a failed send the producer is replaced (new producer id) for the same reason.
   */
  private async send(records: LogRecord[]): Promise<number[]> {
    const perPartition = new Map<number, number>();
    const placed = records.map((r) => {
      const partition = this.partitionOf(r.channelId);
      const index = perPartition.get(partition) ?? 0;
      perPartition.set(partition, index + 1);
      return { partition, index };
    });
    const ready = this.producer();
    try {
      const producer = await ready;
      const meta = await producer.send({
        topic: this.topic,
        acks: -1,
        messages: records.map((r, i) => ({ key: r.channelId, value: r.value, partition: placed[i]!.partition })),
      });
      const base = new Map<number, number>();
      for (const m of meta) if (m.errorCode === 0 && m.baseOffset !== undefined) base.set(m.partition, Number(m.baseOffset));
      const seqs = placed.map(({ partition, index }) => {
        const b = base.get(partition);
        if (b === undefined) throw new Error(`no offset acknowledged for partition ${partition}`);
        return b + index + 1;
      });
      this.outage.ok();
      return seqs;
    } catch (err) {
      if (UNREACHABLE.test(String(err)) || this.outage.active) this.outage.failed({ err: String(err) });
      else this.logger.warn("append failed", { records: records.length, partitions: perPartition.size, err });
      if (this.producerReady === ready) {
        this.producerReady = undefined;
        void ready.then((p) => p.disconnect()).catch(() => undefined);
      }
      throw new AppError("unavailable", "message log unavailable");
    }
  }

  async consume(opts: { group: string; signal: AbortSignal; handle: ConsumeHandler }): Promise<void> {
    if (this.closing) throw new AppError("unavailable", "message log closed");
    const run = this.runConsumer(opts);
    const tracked = run.catch(() => undefined);
    this.consumers.add(tracked);
    try {
      await run;
    } finally {
      this.consumers.delete(tracked);
    }
  }

  private async runConsumer({ group, signal, handle }: { group: string; signal: AbortSignal; handle: ConsumeHandler }): Promise<void> {
    const t = this.tuning;
    const stopping = () => signal.aborted || this.stopConsumers.signal.aborted;
    if (stopping()) return;
    const consumer: Consumer = this.kafka.consumer({
      groupId: group,
      sessionTimeout: t.sessionTimeoutMs,
      heartbeatInterval: t.heartbeatIntervalMs,
      rebalanceTimeout: t.rebalanceTimeoutMs,
      maxWaitTimeInMs: t.maxWaitMs,
      allowAutoTopicCreation: false,
    });
    let fatal: unknown;
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    signal.addEventListener("abort", stop, { once: true });
    this.stopConsumers.signal.addEventListener("abort", stop, { once: true });
    // Bumped on every (re)join: partitions may have changed hands, and settled batches of a partition
    // this consumer lost are not committed any more (the new owner consumes them again).
    let assignment = 0;
    const committer = new OffsetCommitter(
      (offsets) =>
        consumer.commitOffsets(offsets.map((o) => ({ topic: this.topic, ...o }))).catch((err: unknown) =>
          this.logger.warn("offset commit failed; those batches will be consumed again", { group, partitions: offsets.map((o) => o.partition), err: String(err) }),
        ),
      t.commitIntervalMs,
    );
    consumer.on(consumer.events.GROUP_JOIN, () => {
      assignment++;
      committer.reset();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart) return; // kafkajs restarts the consumer itself
      fatal = payload.error;
      stop();
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: this.topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
          // Once stopping, the rest stays uncommitted and is delivered again next time.
          if (stopping() || !isRunning() || isStale() || batch.messages.length === 0) return;
          const records = batch.messages.map((m) => ({
            seq: Number(m.offset) + 1,
            channelId: m.key?.toString() ?? "",
            value: m.value?.toString() ?? "",
          }));
          // A long handle (the controller retries persistence) must not cost us the group membership.
          const beat = setInterval(() => void heartbeat().catch(() => undefined), t.heartbeatIntervalMs);
          this.outage.ok();
          let accepted: Accepted | void;
          try {
            accepted = await handle(records, { partition: String(batch.partition), lag: Math.max(0, Number(batch.offsetLag())), assignment });
          } finally {
            clearInterval(beat);
          }
          const last = batch.messages[batch.messages.length - 1]!.offset;
          const offset = String(Number(last) + 1);
          resolveOffset(last);
          if (accepted) return committer.after(batch.partition, offset, accepted.settled);
          await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset }] }] });
        },
      });
      this.logger.info("consumer started", { group, topic: this.topic });
      await stopped;
    } finally {
      signal.removeEventListener("abort", stop);
      this.stopConsumers.signal.removeEventListener("abort", stop);
      // Waits for the batch in hand to settle and commits what settled, then leaves the group. Offsets
      // are committed as batches settle, so a failed leave costs only a rebalance delay for the group.
      await committer.flush();
      await consumer.disconnect().catch((err: unknown) => this.logger.warn("consumer disconnect failed", { group, err }));
    }
    if (fatal) {
      this.logger.error("consumer crashed", { group, err: fatal });
      throw fatal;
    }
    this.logger.info("consumer stopped", { group });
  }

  ping(): Promise<void> {
    if (this.closing) return Promise.reject(new AppError("unavailable", "message log closed"));
    return withTimeout(
      this.admin.fetchTopicMetadata({ topics: [this.topic] }).then(() => this.outage.ok()),
      this.tuning.pingTimeoutMs,
      "kafka ping",
    );
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopConsumers.abort();
      await Promise.all(this.consumers);
      await this.tail;
      const producer = this.producerReady;
      this.producerReady = undefined;
      if (producer) await producer.then((p) => p.disconnect()).catch(() => undefined);
      await this.admin.disconnect().catch(() => undefined);
    })();
    return this.closing;
  }
}

/** The topic's partition count once every partition has a leader. */
async function waitForLeaders(admin: Admin, topic: string, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    const parts = topics[0]?.partitions ?? [];
    if (parts.length > 0 && parts.every((p) => p.leader >= 0)) return parts.length;
    if (Date.now() > deadline) throw new Error(`topic ${topic}: partitions without a leader after ${timeoutMs} ms`);
    await sleep(100);
  }
}
