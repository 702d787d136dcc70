/**
 * REST rate limits (PROTOCOL §7: 50 requests/s, burst 100, per user, or per client address when
 * unauthenticated; 429 with Retry-After) and the per-user socket cap (20; the next upgrade gets 429).
 */
import { isIP } from "node:net";
import { errorResponse } from "../errors";

export type Take = { ok: true } | { ok: false; retryAfterSec: number };

export interface TokenBucketOptions {
  /** Tokens added per second. */
  rate: number;
  /** Bucket size: the most requests one key can make at once after a quiet spell. */
  burst: number;
  /** Hard cap on keys held; the least recently seen go first (default 100,000). */
  maxKeys?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** How many of the least recently seen buckets each take() looks at for eviction. */
const SWEEP_PER_TAKE = 2;

/**
 * Token buckets refilled lazily on take(). A full bucket is the same as no bucket, so the Map keeps
 * only keys seen within about burst/rate seconds: it is kept in least-recently-seen order and each
 * take() drops full buckets from its old end, so eviction is amortised O(1) with no timer. Past
 * maxKeys the least recently seen key goes even if not full (it then starts again with a full burst).
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly rate: number;
  private readonly burst: number;
  private readonly maxKeys: number;

  constructor(opts: TokenBucketOptions) {
    if (!(opts.rate > 0) || !(opts.burst >= 1)) throw new RangeError("rate must be > 0 and burst >= 1");
    this.rate = opts.rate;
    this.burst = opts.burst;
    this.maxKeys = opts.maxKeys ?? 100_000;
  }

  /** Takes one token for `key` (namespace keys yourself, e.g. "user:" + sub, "addr:" + address). */
  take(key: string, now: number = Date.now()): Take {
    const b = this.buckets.get(key);
    let tokens = this.burst;
    if (b) {
      tokens = this.refilled(b, now);
      this.buckets.delete(key); // re-inserted below: Map order becomes least-recently-seen first
    }
    const ok = tokens >= 1;
    if (ok) tokens -= 1;
    this.buckets.set(key, { tokens, at: now });
    this.sweep(now);
    return ok ? { ok: true } : { ok: false, retryAfterSec: Math.max(1, Math.ceil((1 - tokens) / this.rate)) };
  }

  get size(): number {
    return this.buckets.size;
  }

  private refilled(b: Bucket, now: number): number {
    const elapsed = Math.max(0, now - b.at); // a clock stepping back refills nothing
    return Math.min(this.burst, b.tokens + (elapsed / 1000) * this.rate);
  }

  private sweep(now: number): void {
    let looked = 0;
    for (const [key, b] of this.buckets) {
      if (this.buckets.size > this.maxKeys) {
        this.buckets.delete(key);
        continue;
      }
      if (looked++ >= SWEEP_PER_TAKE || this.refilled(b, now) < this.burst) break;
      this.buckets.delete(key);
    }
  }
}

export function rateLimitedResponse(retryAfterSec: number): Response {
  return errorResponse("rate_limited", "too many requests", { headers: { "retry-after": String(retryAfterSec) } });
}

/** What clientAddress needs of a Bun server (Bun's Server fits). */
export interface AddressSource {
  requestIP(req: Request): { address: string } | null;
}

export interface ClientAddressOptions {
  /** Believe the proxy header at all (set when only a reverse proxy can reach the process). */
  trustProxy: boolean;
  header?: "x-forwarded-for" | "x-real-ip";
  /**
   * Proxy addresses to skip from the right of X-Forwarded-For when several proxies are chained. When
   * given, the header is believed only if the socket peer is one of them.
   */
  trustedProxies?: readonly string[];
}

/**
 * The client's address: the socket peer, or, behind a trusted proxy, the address that proxy saw.
 * X-Forwarded-For grows to the right, each proxy appending the peer it saw, so entries left of the
 * last trusted hop were written by the client and are never believed: we take the right-most entry
 * that is not a trusted proxy. A malformed entry there means a misconfigured proxy: the socket peer is used.
 */
export function clientAddress(req: Request, server: AddressSource, opts: ClientAddressOptions): string | null {
  const peer = server.requestIP(req)?.address;
  const socket = peer ? normalizeAddress(peer) : null;
  if (!opts.trustProxy) return socket;
  const trusted = new Set((opts.trustedProxies ?? []).map(normalizeAddress));
  if (trusted.size > 0 && (socket === null || !trusted.has(socket))) return socket;
  const header = opts.header ?? "x-forwarded-for";
  const value = req.headers.get(header);
  if (value === null) return socket;
  if (header === "x-real-ip") return parseHop(value) ?? socket;
  const hops = value.split(",");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = parseHop(hops[i]!);
    if (hop === null) return socket;
    if (!trusted.has(hop) || i === 0) return hop;
  }
  return socket;
}

/** An address from a proxy header, port stripped ("1.2.3.4:80", "[::1]:80"), or null if it is none. */
function parseHop(raw: string): string | null {
  let s = raw.trim();
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  if (bracket) s = bracket[1]!;
  else if (/^[\d.]+:\d+$/.test(s)) s = s.slice(0, s.lastIndexOf(":"));
  return isIP(s) ? normalizeAddress(s) : null;
}

/** One spelling per address: lower case, and IPv4-mapped IPv6 (Bun's dual-stack sockets) as plain IPv4. */
export function normalizeAddress(address: string): string {
  const a = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  return mapped ? mapped[1]! : a;
}

/**
 * The rate-limit key for an address: IPv4 as is, IPv6 by its /64 (one host usually holds a whole
 * /64 and can rotate through it at will).
 */
export function addressRateKey(address: string): string {
  const a = normalizeAddress(address);
  if (isIP(a) !== 6) return a;
  const groups = expandIPv6(a);
  return groups ? `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64` : a;
}

function expandIPv6(a: string): number[] | null {
  const [head = "", tail, extra] = a.split("::");
  if (extra !== undefined) return null;
  const part = (s: string): number[] => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (g.includes(".")) {
        const [w = 0, x = 0, y = 0, z = 0] = g.split(".").map(Number);
        out.push((w << 8) | x, (y << 8) | z);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const h = part(head);
  const t = tail === undefined ? [] : part(tail);
  const zeros = tail === undefined ? 0 : 8 - h.length - t.length;
  const all = [...h, ...Array<number>(zeros).fill(0), ...t];
  return all.length === 8 ? all : null;
}

/**
 * A cap per key, such as sockets per user: acquire() refuses past `max`; O(1), and a key at zero
 * holds no memory. release() never goes below zero, so a double release cannot lift the cap.
 */
export class KeyedCounter {
  private readonly counts = new Map<string, number>();

  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError("max must be >= 1");
  }

  acquire(key: string): boolean {
    const n = this.counts.get(key) ?? 0;
    if (n >= this.max) return false;
    this.counts.set(key, n + 1);
    return true;
  }

  release(key: string): void {
    const n = this.counts.get(key);
    if (n === undefined) return;
    if (n <= 1) this.counts.delete(key);
    else this.counts.set(key, n - 1);
  }

  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** Keys holding at least one. */
  get size(): number {
    return this.counts.size;
  }
}
