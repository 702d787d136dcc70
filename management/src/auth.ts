import { Elysia } from "elysia";
import { bearer, type Verifier } from "@chat/common/auth";
import { AppError } from "@chat/common/errors";

/** Authentication as one plugin: every route mounted after it has `principal`, or the request got a 401. */
export const authPlugin = (verify: Verifier) =>
  new Elysia({ name: "auth" }).derive({ as: "scoped" }, async ({ headers }) => {
    const token = bearer(headers.authorization);
    if (!token) throw new AppError("unauthenticated", "missing bearer token");
    return { principal: await verify(token) };
  });
