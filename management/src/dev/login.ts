import { Elysia, t } from "elysia";
import { signDevToken } from "@chat/common/auth";
import { AppError } from "@chat/common/errors";
import { ok } from "../envelope";
import { UserId } from "../teams/model";

/**
 * The web app's dev sign-in: mints a token for a typed user id. Standalone mounts it only when it
 * signs with its own generated secret (no AUTH_JWT_SECRET, no AUTH_JWKS_URL), and only loopback
 * clients see it unless DEV_LOGIN=true. In every other configuration the route does not exist.
 */
export interface DevLogin {
  secret: string;
  /** DEV_LOGIN=true: clients on other addresses may use it too. */
  allowRemote: boolean;
  /** The client's address as the edge determined it (undefined when unknown). */
  peer: (req: Request) => string | undefined;
  ttlSeconds?: number;
}

export const isLoopback = (addr: string | undefined) => !!addr && (/^127\./.test(addr) || addr === "::1" || /^::ffff:127\./i.test(addr));

export const devLoginRoutes = (dev: DevLogin) => {
  const ttl = dev.ttlSeconds ?? 12 * 3600;
  return new Elysia({ name: "dev-login", normalize: false })
    .onBeforeHandle({ as: "local" }, ({ request }) => {
      // Elsewhere the route is as absent as in any other configuration.
      if (!dev.allowRemote && !isLoopback(dev.peer(request))) throw new AppError("not_found", "no such route");
    })
    .get("/dev/login", () => ok({ enabled: true }), { detail: { hide: true } })
    .post(
      "/dev/login",
      async ({ body, set }) => {
        const token = await signDevToken(dev.secret, body.user_id, ttl);
        set.status = 201;
        return ok({ user_id: body.user_id, token, expires_at: new Date(Date.now() + ttl * 1000).toISOString() });
      },
      { parse: "json", body: t.Object({ user_id: UserId }, { additionalProperties: false }), detail: { hide: true } },
    );
};
