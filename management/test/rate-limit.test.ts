import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TokenBuckets } from "@chat/common/http/rate-limit";
import type { RestLimiter } from "../src/context";
import { backends, createHarness, type Harness, type Reply } from "./harness";

const BURST = 5;
const ADDRESS = "x-chat-client-address";

/** A limiter that records the keys it is charged, over real token buckets (1/s, so a test never refills much). */
function recording(): RestLimiter & { keys: string[] } {
  const buckets = new TokenBuckets({ rate: 1, burst: BURST });
  const keys: string[] = [];
  return { keys, take: (key) => (keys.push(key), buckets.take(key)) };
}

const expect429 = (r: Reply) => {
  expect({ status: r.status, code: r.json?.error?.code, retryAfter: r.headers.get("retry-after") }).toEqual({ status: 429, code: "rate_limited", retryAfter: "1" });
  expect(r.headers.get("content-type")).toStartWith("application/json");
};

describe("REST rate limit (PROTOCOL §7)", () => {
  let h: Harness;
  let limiter: ReturnType<typeof recording>;
  beforeAll(async () => {
    limiter = recording();
    h = await createHarness(backends[0]!, { restLimiter: limiter });
  });
  afterAll(() => h.close());

  test("a verified request is charged once to its user; past the burst 429 with Retry-After, other users unaffected", async () => {
    const a = h.user("a");
    const team = await h.seedTeam({ super_admin: a });
    limiter.keys.length = 0;
    const paths = ["/v1/teams", `/v1/teams/${team.id}`, `/v1/teams/${team.id}/messages`, "/v1/teams", `/v1/teams/${team.id}`];
    for (const p of paths) expect((await h.call("GET", p, { as: a })).status).toBe(200);
    expect(limiter.keys).toEqual(paths.map(() => `user:${a}`));
    expect429(await h.call("GET", "/v1/teams", { as: a }));
    expect429(await h.call("POST", "/v1/teams", { as: a, body: { name: "refused" } }));
    expect(await h.store.listForUser(a, { limit: 10 }).then((t) => t.length)).toBe(1);
    expect((await h.call("GET", "/v1/teams", { as: h.user("b") })).status).toBe(200);
    // Open routes are the edge's business (per address), not charged here.
    expect((await h.call("GET", "/v1/health")).status).toBe(200);
    expect(limiter.keys.at(-1)).toBe(`user:${h.user("b")}`);
  });

  test("a missing or failing token is charged to the client address the edge names, so guessing is limited too", async () => {
    limiter.keys.length = 0;
    const from = (address: string) => ({ [ADDRESS]: address });
    for (let i = 0; i < BURST; i++) {
      const r = await h.call("GET", "/v1/teams", { token: `guess-${i}`, headers: from("203.0.113.7") });
      expect(r.status).toBe(401);
    }
    expect429(await h.call("GET", "/v1/teams", { token: "guess-x", headers: from("203.0.113.7") }));
    expect429(await h.call("GET", "/v1/teams", { headers: from("203.0.113.7") })); // no token at all
    expect((await h.call("GET", "/v1/teams", { token: "guess-y", headers: from("203.0.113.8") })).status).toBe(401);
    // A valid token from the limited address is charged to its user, not to the address.
    expect((await h.call("GET", "/v1/teams", { as: h.user("c"), headers: from("203.0.113.7") })).status).toBe(200);
    expect(limiter.keys).toEqual([
      ...Array(BURST + 2).fill("addr:203.0.113.7"),
      "addr:203.0.113.8",
      `user:${h.user("c")}`,
    ]);
  });

  test("IPv6 addresses share a bucket per /64; no address header is one shared bucket", async () => {
    limiter.keys.length = 0;
    await h.call("GET", "/v1/teams", { token: "x", headers: { [ADDRESS]: "2001:db8:1:2:aaaa::1" } });
    await h.call("GET", "/v1/teams", { token: "x" });
    expect(limiter.keys).toEqual(["addr:2001:db8:1:2::/64", "addr:unknown"]);
  });
});

test("without a limiter nothing is limited", async () => {
  const h = await createHarness(backends[0]!);
  try {
    const a = h.user("a");
    for (let i = 0; i < 3 * BURST; i++) expect((await h.call("GET", "/v1/teams", { as: a })).status).toBe(200);
  } finally {
    await h.close();
  }
});
