import { expect, test } from "bun:test";
import { keyPartitioner, partitionFor } from "./kafka-partition";

// org.apache.kafka.common.utils.UtilsTest#testMurmur2: the Java client's murmur2 of each key.
const JAVA_MURMUR2: [string, number][] = [
  ["21", -973932308],
  ["foobar", -790332482],
  ["a-little-bit-long-string", -985981536],
  ["a-little-bit-longer-string", -1486304829],
  ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
  ["abc", 479470107],
];

test("a key's partition is the Java client's: toPositive(murmur2(key)) % partitions", () => {
  for (const n of [1, 3, 7, 12, 50, 1000])
    for (const [key, hash] of JAVA_MURMUR2) expect([key, n, partitionFor(key, n)]).toEqual([key, n, (hash & 0x7fffffff) % n]);
});

test("the cached partitioner answers the same as an uncached one, for any key", () => {
  const cached = keyPartitioner(12);
  for (let i = 0; i < 500; i++) {
    const key = `ch-${i}-é✓${"x".repeat(i % 9)}`;
    expect(cached(key)).toBe(partitionFor(key, 12));
    expect(cached(key)).toBe(partitionFor(key, 12));
  }
});
