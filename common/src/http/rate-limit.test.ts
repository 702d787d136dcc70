import { describe, expect, test } from "bun:test";
import { addressRateKey, clientAddress, KeyedCounter, normalizeAddress, rateLimitedResponse, TokenBuckets } from "./rate-limit.ts";

describe("TokenBuckets", () => {
  test("a burst, then refusal with Retry-After, then refill at the rate", () => {
    const tb = new TokenBuckets({ rate: 50, burst: 100 });
    for (let i = 0; i < 100; i++) expect(tb.take("user:a", 0)).toEqual({ ok: true });
    expect(tb.take("user:a", 0)).toEqual({ ok: false, retryAfterSec: 1 });
    expect(tb.take("user:a", 19)).toEqual({ ok: false, retryAfterSec: 1 }); // 0.95 tokens
    expect(tb.take("user:a", 20)).toEqual({ ok: true }); // 1 token after 20 ms at 50/s
    expect(tb.take("user:a", 20).ok).toBe(false);
    expect(tb.take("user:b", 20)).toEqual({ ok: true }); // keys are independent
  });

  test("Retry-After is how long until one token, in whole seconds", () => {
    const tb = new TokenBuckets({ rate: 0.25, burst: 1 });
    expect(tb.take("k", 0).ok).toBe(true);
    expect(tb.take("k", 0)).toEqual({ ok: false, retryAfterSec: 4 });
    expect(tb.take("k", 1000)).toEqual({ ok: false, retryAfterSec: 3 });
    expect(tb.take("k", 4000)).toEqual({ ok: true });
  });

  test("over a long run it allows burst + rate × time, no more", () => {
    const tb = new TokenBuckets({ rate: 50, burst: 100 });
    let allowed = 0;
    for (let t = 0; t < 10_000; t++) if (tb.take("k", t).ok) allowed++; // 1,000 requests/s for 10 s
    expect(allowed).toBeGreaterThanOrEqual(100 + 50 * 10 - 1);
    expect(allowed).toBeLessThanOrEqual(100 + 50 * 10);
  });

  test("a clock stepping back refills nothing and breaks nothing", () => {
    const tb = new TokenBuckets({ rate: 1, burst: 1 });
    expect(tb.take("k", 10_000).ok).toBe(true);
    expect(tb.take("k", 0)).toEqual({ ok: false, retryAfterSec: 1 });
    expect(tb.take("k", 11_000).ok).toBe(true);
  });

  test("full buckets are dropped as later takes pass by: memory follows recent keys only", () => {
    const tb = new TokenBuckets({ rate: 50, burst: 100 });
    for (let i = 0; i < 10_000; i++) tb.take(`addr:${i}`, 0);
    expect(tb.size).toBe(10_000);
    // 2 s later every one of them is full again; ordinary traffic on one key sweeps them out.
    for (let i = 0; i < 5_000; i++) tb.take("user:busy", 2_000 + i);
    expect(tb.size).toBe(1);
  });

  test("a bucket still draining is kept, so its limit holds", () => {
    const tb = new TokenBuckets({ rate: 1, burst: 5 });
    for (let i = 0; i < 5; i++) tb.take("attacker", 0);
    for (let i = 0; i < 100; i++) tb.take(`other:${i}`, 1_000);
    expect(tb.take("attacker", 1_000)).toEqual({ ok: true }); // refilled 1, no more
    expect(tb.take("attacker", 1_000).ok).toBe(false);
  });

  test("maxKeys caps memory under a flood of new keys, dropping the least recently seen", () => {
    const tb = new TokenBuckets({ rate: 1, burst: 2, maxKeys: 1_000 });
    tb.take("user:steady", 0);
    tb.take("user:steady", 0);
    for (let i = 0; i < 100_000; i++) {
      tb.take(`addr:${i}`, 0);
      if (i % 500 === 0) tb.take("user:steady", 0); // seen recently, never the oldest
      expect(tb.size).toBeLessThanOrEqual(1_000);
    }
    expect(tb.take("user:steady", 0).ok).toBe(false); // its empty bucket survived the flood
  });

  test("bad settings are refused", () => {
    expect(() => new TokenBuckets({ rate: 0, burst: 1 })).toThrow(RangeError);
    expect(() => new TokenBuckets({ rate: 1, burst: 0 })).toThrow(RangeError);
  });

  test("rateLimitedResponse: 429, Retry-After, the envelope", async () => {
    const res = rateLimitedResponse(3);
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("3");
    expect(await res.json()).toEqual({ error: { code: "rate_limited", message: "too many requests" } });
  });
});

describe("clientAddress", () => {
  const from = (address: string | null) => ({ requestIP: () => (address === null ? null : { address }) });
  const req = (headers: Record<string, string> = {}) => new Request("http://x/v1/teams", { headers });

  test("without a trusted proxy: the socket peer, headers ignored", () => {
    expect(clientAddress(req({ "x-forwarded-for": "6.6.6.6" }), from("203.0.113.9"), { trustProxy: false })).toBe("203.0.113.9");
    expect(clientAddress(req({ "x-real-ip": "6.6.6.6" }), from("203.0.113.9"), { trustProxy: false, header: "x-real-ip" })).toBe(
      "203.0.113.9",
    );
    expect(clientAddress(req(), from(null), { trustProxy: false })).toBeNull();
  });

  test("behind a trusted proxy: the right-most X-Forwarded-For hop, never a spoofed left one", () => {
    const nginx = from("10.0.0.2");
    const opts = { trustProxy: true };
    expect(clientAddress(req({ "x-forwarded-for": "198.51.100.7" }), nginx, opts)).toBe("198.51.100.7");
    // The client sent "X-Forwarded-For: 6.6.6.6"; nginx appended the address it saw.
    expect(clientAddress(req({ "x-forwarded-for": "6.6.6.6, 198.51.100.7" }), nginx, opts)).toBe("198.51.100.7");
    expect(clientAddress(req(), nginx, opts)).toBe("10.0.0.2");
  });

  test("chained proxies: trusted hops are skipped from the right", () => {
    const opts = { trustProxy: true, trustedProxies: ["10.0.0.2", "10.0.0.3"] };
    const h = { "x-forwarded-for": "6.6.6.6, 198.51.100.7, 10.0.0.3" };
    expect(clientAddress(req(h), from("10.0.0.2"), opts)).toBe("198.51.100.7");
    expect(clientAddress(req({ "x-forwarded-for": "10.0.0.3" }), from("10.0.0.2"), opts)).toBe("10.0.0.3");
    // A peer that is not a listed proxy is the client itself, whatever it claims.
    expect(clientAddress(req(h), from("198.51.100.50"), opts)).toBe("198.51.100.50");
  });

  test("ports and brackets are stripped; garbage falls back to the socket peer", () => {
    const nginx = from("10.0.0.2");
    const opts = { trustProxy: true };
    expect(clientAddress(req({ "x-forwarded-for": "198.51.100.7:5555" }), nginx, opts)).toBe("198.51.100.7");
    expect(clientAddress(req({ "x-forwarded-for": "[2001:DB8::1]:443" }), nginx, opts)).toBe("2001:db8::1");
    expect(clientAddress(req({ "x-forwarded-for": "unknown" }), nginx, opts)).toBe("10.0.0.2");
    expect(clientAddress(req({ "x-forwarded-for": "1.2.3.4, " }), nginx, opts)).toBe("10.0.0.2");
  });

  test("X-Real-IP when chosen", () => {
    const opts = { trustProxy: true, header: "x-real-ip" as const };
    expect(clientAddress(req({ "x-real-ip": "198.51.100.7", "x-forwarded-for": "6.6.6.6" }), from("10.0.0.2"), opts)).toBe("198.51.100.7");
    expect(clientAddress(req({ "x-real-ip": "nonsense" }), from("10.0.0.2"), opts)).toBe("10.0.0.2");
  });

  test("a real Bun.serve: requestIP gives the loopback peer", async () => {
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (r, s) => new Response(clientAddress(r, s, { trustProxy: false })),
    });
    try {
      expect(await (await fetch(server.url, { headers: { "x-forwarded-for": "6.6.6.6" } })).text()).toBe("127.0.0.1");
    } finally {
      server.stop(true);
    }
  });

  test("addresses have one spelling; IPv6 is keyed by its /64", () => {
    expect(normalizeAddress("::ffff:192.0.2.1")).toBe("192.0.2.1");
    expect(normalizeAddress("2001:DB8::1")).toBe("2001:db8::1");
    expect(addressRateKey("192.0.2.1")).toBe("192.0.2.1");
    expect(addressRateKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(addressRateKey("2001:db8:1:2:bbbb:cccc:dddd:eeee")).toBe("2001:db8:1:2::/64");
    expect(addressRateKey("::1")).toBe("0:0:0:0::/64");
    expect(addressRateKey("2001:db8::")).toBe("2001:db8:0:0::/64");
    expect(addressRateKey("64:ff9b::192.0.2.33")).toBe("64:ff9b:0:0::/64");
  });
});

describe("KeyedCounter", () => {
  test("acquire up to max, then refuse; release frees one", () => {
    const sockets = new KeyedCounter(20);
    for (let i = 0; i < 20; i++) expect(sockets.acquire("a@x.dev")).toBe(true);
    expect(sockets.acquire("a@x.dev")).toBe(false);
    expect(sockets.acquire("b@x.dev")).toBe(true);
    sockets.release("a@x.dev");
    expect(sockets.count("a@x.dev")).toBe(19);
    expect(sockets.acquire("a@x.dev")).toBe(true);
  });

  test("a key at zero holds no memory; extra releases cannot lift the cap", () => {
    const c = new KeyedCounter(1);
    expect(c.acquire("k")).toBe(true);
    c.release("k");
    expect(c.size).toBe(0);
    c.release("k");
    c.release("k");
    expect(c.count("k")).toBe(0);
    expect(c.acquire("k")).toBe(true);
    expect(c.acquire("k")).toBe(false);
  });

  test("max must be at least 1", () => {
    expect(() => new KeyedCounter(0)).toThrow(RangeError);
  });
});
