import { Elysia } from "elysia";
import { bearer, type Principal, type Verifier } from "@chat/common/auth";
import { AppError } from "@chat/common/errors";
import { HttpError } from "@chat/common/http/errors";
import { addressRateKey } from "@chat/common/http/rate-limit";
import type { RestLimiter } from "./context";

/** Set by the edge in front of every server to the client's address (a client-supplied one is stripped). */
export const CLIENT_ADDRESS_HEADER = "x-chat-client-address";

/**
 * Authentication as one plugin: every route mounted after it has `principal`, or the request got a 401.
 * With a limiter, a verified request is charged to its user and a refused one to its client address,
 * so guessing tokens is limited too; past the allowance the answer is 429 with Retry-After.
 */
export const authPlugin = (verify: Verifier, limiter?: RestLimiter) =>
  new Elysia({ name: "auth" }).derive({ as: "scoped" }, async ({ headers }) => {
    let principal: Principal;
    try {
      const token = bearer(headers.authorization);
      if (!token) throw new AppError("unauthenticated", "missing bearer token");
      principal = await verify(token);
    } catch (err) {
      charge(limiter, `addr:${addressRateKey(headers[CLIENT_ADDRESS_HEADER] || "unknown")}`);
      throw err;
    }
    charge(limiter, `user:${principal.user}`);
    return { principal };
  });

function charge(limiter: RestLimiter | undefined, key: string): void {
  const taken = limiter?.take(key);
  if (taken && !taken.ok) throw new HttpError("rate_limited", "too many requests", { "retry-after": String(taken.retryAfterSec) });
}
