/**
 * A fixed-size log-linear latency histogram (HdrHistogram-style), in microseconds.
 * Values below 128 µs are exact; above, each power of two is split into 128 buckets,
 * so a reported percentile is within 0.8% of the true value. Recording is O(1) and
 * allocation-free; the whole histogram is 3,200 counters whatever the sample count.
 */
const SUB_BITS = 7;
const SUB = 1 << SUB_BITS; // 128 buckets per octave
const MAX_VALUE = 2 ** 31 - 1; // ~35 min in µs; larger values are clamped
const BUCKETS = (31 - SUB_BITS + 1) * SUB;

function indexOf(v: number): number {
  if (v < SUB) return v;
  const e = 31 - Math.clz32(v); // v in [2^e, 2^(e+1)), e >= 7
  return (e - SUB_BITS + 1) * SUB + ((v >>> (e - SUB_BITS)) - SUB);
}

/** The midpoint of bucket `i`, the value a percentile in it reports. */
function valueOf(i: number): number {
  if (i < SUB) return i;
  const e = Math.floor(i / SUB) + SUB_BITS - 1;
  const shift = e - SUB_BITS;
  const low = ((i % SUB) + SUB) * 2 ** shift;
  return low + (2 ** shift - 1) / 2;
}

export interface Summary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
}

export class Histogram {
  private readonly counts = new Uint32Array(BUCKETS);
  count = 0;
  sum = 0;
  max = 0;
  min = Infinity;

  /** Records one value in microseconds (negative values count as 0). */
  record(us: number): void {
    const v = us <= 0 ? 0 : us >= MAX_VALUE ? MAX_VALUE : Math.round(us);
    this.counts[indexOf(v)]!++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
    if (v < this.min) this.min = v;
  }

  /** The value at quantile q (0..1), in microseconds; 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(valueOf(i), this.max);
    }
    return this.max;
  }

  merge(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
    this.sum += other.sum;
    this.max = Math.max(this.max, other.max);
    this.min = Math.min(this.min, other.min);
  }

  /** Percentiles in milliseconds, rounded to µs. */
  summary(): Summary {
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      count: this.count,
      mean: this.count ? ms(this.sum / this.count) : 0,
      p50: ms(this.quantile(0.5)),
      p90: ms(this.quantile(0.9)),
      p95: ms(this.quantile(0.95)),
      p99: ms(this.quantile(0.99)),
      p999: ms(this.quantile(0.999)),
      max: ms(this.max),
    };
  }
}
