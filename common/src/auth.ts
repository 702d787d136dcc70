import { join } from "node:path";
import { SignJWT, createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from "jose";
import { AppError } from "./errors";
import { isUserId } from "./grammar";
import type { Config } from "./config";
import { readOrCreateSecretFile } from "./secret-file";

export interface Principal {
  user: string;
  /** The token's `exp`, in ms since the epoch. */
  expiresAt: number;
}
export type Verifier = (token: string) => Promise<Principal>;

const ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"];

/** A verifier over the configured HS256 secret and/or JWKS; `exp` is required and `alg: none` never accepted. */
export function createVerifier(auth: Config["auth"]): Verifier {
  const secret = auth.jwtSecret ? new TextEncoder().encode(auth.jwtSecret) : undefined;
  const jwks: JWTVerifyGetKey | undefined = auth.jwksUrl ? createRemoteJWKSet(new URL(auth.jwksUrl)) : undefined;
  if (!secret && !jwks) throw new Error("AUTH_JWT_SECRET or AUTH_JWKS_URL must be set");
  const common = { issuer: auth.issuer, audience: auth.audience, requiredClaims: ["exp", "sub"] };

  return async (token) => {
    if (!token || token.length > 8192) throw new AppError("unauthenticated", "missing or malformed token");
    try {
      const header = JSON.parse(Buffer.from(token.split(".")[0] ?? "", "base64url").toString("utf8")) as { alg?: string };
      let payload;
      if (header.alg === "HS256" && secret) payload = (await jwtVerify(token, secret, { ...common, algorithms: ["HS256"] })).payload;
      else if (header.alg && ASYMMETRIC.includes(header.alg) && jwks) payload = (await jwtVerify(token, jwks, { ...common, algorithms: ASYMMETRIC })).payload;
      else throw new AppError("unauthenticated", "unsupported token algorithm");
      // The same grammar as every user id the API accepts: a `sub` the REST models would refuse never connects.
      if (!isUserId(payload.sub)) throw new AppError("unauthenticated", "invalid subject");
      return { user: payload.sub, expiresAt: (payload.exp as number) * 1000 };
    } catch (err) {
      if (err instanceof AppError) throw err;
      const expired = (err as { code?: string }).code === "ERR_JWT_EXPIRED";
      throw new AppError("unauthenticated", expired ? "token expired" : "invalid token");
    }
  };
}

/**
 * The token of `Authorization: Bearer <token>`: the scheme (any case), one space, a token68 (RFC 6750).
 * Anything looser (two spaces, a tab, a second word) is no bearer token at all, on every transport.
 */
const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;
export function bearer(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  return BEARER.exec(header)?.[1];
}

/** Standalone only: the configured secret, or one generated once under DATA_DIR with mode 0600. */
export function ensureDevSecret(dataDir: string, configured?: string): string {
  return configured || readOrCreateSecretFile(join(dataDir, "jwt-secret"), 48);
}

export async function signDevToken(secret: string, user: string, ttlSeconds = 12 * 3600, extra: { issuer?: string; audience?: string } = {}): Promise<string> {
  let jwt = new SignJWT({}).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setSubject(user).setIssuedAt().setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds);
  if (extra.issuer) jwt = jwt.setIssuer(extra.issuer);
  if (extra.audience) jwt = jwt.setAudience(extra.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
