/** Bits per key and probes per lookup: ~1 % false positives (10 bits, 7 probes). */
const BITS_PER_KEY = 10;
const PROBES = 7;

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
 * (~1 % of the others are false positives, which only cost a store read). Generations of `perGeneration`
 * keys are added as keys arrive (in order of age) and dropped whole once their youngest key is out of
 * the window, so memory is ~1.2 bytes per forgotten key and a lookup probes every live generation.
 * Past `maxGenerations` the oldest is dropped early: `overflowUntil` says until when anything may
 * have been forgotten.
 */
export class EvictedKeys {
  private readonly generations: Generation[] = [];
  /** Until then a key in no generation may still have been forgotten (a generation dropped early). */
  private overflowUntil = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly perGeneration: number,
    private readonly maxGenerations: number,
  ) {}

  /** Remembers that `key` was forgotten while it could still be resent until `until`. */
  add(key: string, until: number, now: number): void {
    this.expire(now);
    let g = this.generations.at(-1);
    if (!g || g.keys >= this.perGeneration) {
      if (this.generations.length >= this.maxGenerations) this.overflowUntil = Math.max(this.overflowUntil, this.generations.shift()!.until);
      const size = Math.max(32, Math.ceil((this.perGeneration * BITS_PER_KEY) / 32) * 32);
      g = { bits: new Uint32Array(size / 32), size, keys: 0, until };
      this.generations.push(g);
    }
    const [h1, h2] = hashes(key);
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + i * h2) % g.size;
      g.bits[bit >>> 5]! |= 1 << (bit & 31);
    }
    g.keys++;
    g.until = Math.max(g.until, until);
  }

  /** Whether `key` may have been forgotten within its window (false: certainly not). */
  mayHave(key: string, now: number): boolean {
    if (now <= this.overflowUntil) return true;
    this.expire(now);
    if (this.generations.length === 0) return false;
    const [h1, h2] = hashes(key);
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

  private expire(now: number): void {
    while (this.generations.length > 0 && this.generations[0]!.until < now) this.generations.shift();
  }
}

/** Two independent 32-bit hashes of `key` (double hashing: probe i is h1 + i·h2). */
function hashes(key: string): [number, number] {
  // h2 odd, so that the probes differ even when it shares a factor with the filter's size.
  return [Bun.hash.xxHash32(key, 0x2545f491), (Bun.hash.xxHash32(key, 0x9e3779b9) | 1) >>> 0];
}
