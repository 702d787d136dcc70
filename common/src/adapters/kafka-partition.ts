import { Partitioners, type PartitionMetadata } from "kafkajs";

/**
 * Which partition a channel's records go to, by kafkajs' default partitioner (the Java client's
 * murmur2): the one the producer would pick, so other Kafka clients agree too. We compute it
 * ourselves to know each record's offset from the produce response. Cached per key, as the
 * partitioner's 64-bit Long arithmetic costs microseconds per record.
 */
export function keyPartitioner(partitions: number): (key: string) => number {
  const pick = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0 }) as PartitionMetadata);
  const cache = new Map<string, number>();
  return (key) => {
    let partition = cache.get(key);
    if (partition === undefined) {
      if (cache.size >= 100_000) cache.clear();
      partition = pick({ topic: "", partitionMetadata, message: { key, value: null } });
      cache.set(key, partition);
    }
    return partition;
  };
}

/** The partition of a keyed record in a topic of `partitions` partitions (see keyPartitioner). */
export function partitionFor(key: string, partitions: number): number {
  return keyPartitioner(partitions)(key);
}
