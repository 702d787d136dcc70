/**
 * Bits per key and probes per lookup: ~0.05 % false positives per generation (16 bits, 11 probes),
 * so that the rate summed over every live generation stays low (~3 % at 64 of them).
 */
const BITS_PER_KEY = 16;
const PROBES = 11;

interface Generation {
  bits: Uint32Array;
  size: number;
  keys: number;
  /** When its youngest key leaves the window: after that the whole generation is dropped. */
  until: number;
}

/**
 * Keys a bounded memory had to forget while they were still inside their window, as Bloom filters:
 * a key in none of them was certainly not forgotten (no false negatives); one in some probably was
 * (a false positive only costs a store read). Generations of `perGeneration` keys are added as keys
 * arrive (in order of age) and dropped whole once their youngest key is out of the window: memory is
 * 2 bytes per key of each generation's capacity, and a lookup probes every live generation. Past
 * `maxGenerations` the two oldest are merged into one (their bits or-ed: still no false negatives,
 * more false positives in it), so memory stays bounded and a flood degrades the filter, not the relay.
 */
export class EvictedKeys {
  private readonly generations: Generation[] = [];

  constructor(
    private readonly perGeneration: number,
    private readonly maxGenerations: number,
  ) {
    if (maxGenerations < 2) throw new Error("maxGenerations must be at least 2");
  }

  /** Remembers that `key` was forgotten while it could still be resent until `until`. */
  add(key: string, until: number, now: number): void {
    this.expire(now);
    let g = this.generations.at(-1);
    if (!g || g.keys >= this.perGeneration) {
      if (this.generations.length >= this.maxGenerations) this.mergeOldest();
      const size = Math.max(32, Math.ceil((this.perGeneration * BITS_PER_KEY) / 32) * 32);
      g = { bits: new Uint32Array(size / 32), size, keys: 0, until };
      this.generations.push(g);
    }
    const h1 = hash1(key);
    const h2 = hash2(key);
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + i * h2) % g.size;
      g.bits[bit >>> 5]! |= 1 << (bit & 31);
    }
    g.keys++;
    g.until = Math.max(g.until, until);
  }

  /** Whether `key` may have been forgotten within its window (false: certainly not). */
  mayHave(key: string, now: number): boolean {
    this.expire(now);
    if (this.generations.length === 0) return false;
    const h1 = hash1(key);
    const h2 = hash2(key);
    for (const g of this.generations) {
      let all = true;
      for (let i = 0; i < PROBES && all; i++) {
        const bit = (h1 + i * h2) % g.size;
        all = (g.bits[bit >>> 5]! & (1 << (bit & 31))) !== 0;
      }
      if (all) return true;
    }
    return false;
  }

  /** Generations held (tests, metrics). */
  get count(): number {
    return this.generations.length;
  }

  /** Drops generations from the oldest while they are out of the window (one kept longer holds the ones after it: conservative). */
  private expire(now: number): void {
    while (this.generations.length > 0 && this.generations[0]!.until < now) this.generations.shift();
  }

  private mergeOldest(): void {
    const [a, b] = this.generations.splice(0, 2) as [Generation, Generation];
    for (let i = 0; i < a.bits.length; i++) a.bits[i]! |= b.bits[i]!;
    this.generations.unshift({ bits: a.bits, size: a.size, keys: a.keys + b.keys, until: Math.max(a.until, b.until) });
  }
}

/** Two independent 32-bit hashes of `key` (double hashing: probe i is h1 + i·h2; h2 odd, so the probes differ). */
const hash1 = (key: string) => Bun.hash.xxHash32(key, 0x2545f491);
const hash2 = (key: string) => (Bun.hash.xxHash32(key, 0x9e3779b9) | 1) >>> 0;
