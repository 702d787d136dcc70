import { describe, expect, test } from "bun:test";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { bearer, createVerifier, signDevToken } from "./auth";
import { USER_IDS } from "./grammar-samples";

const secret = "x".repeat(40);
const verify = createVerifier({ jwtSecret: secret });
const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");

describe("JWT verification", () => {
  test("accepts a valid HS256 token and returns sub", async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    expect(await verify(await signDevToken(secret, "a@x.dev", 600))).toEqual({ user: "a@x.dev", expiresAt: expect.any(Number) });
    expect(Math.abs((await verify(await signDevToken(secret, "a@x.dev", 600))).expiresAt - exp * 1000)).toBeLessThanOrEqual(1000);
  });
  test("refuses expired, wrong-secret, alg none, and exp-less tokens", async () => {
    await expect(verify(await signDevToken(secret, "a@x.dev", -10))).rejects.toThrow("token expired");
    await expect(verify(await signDevToken("y".repeat(40), "a@x.dev"))).rejects.toThrow("invalid token");
    const none = `${enc({ alg: "none", typ: "JWT" })}.${enc({ sub: "a@x.dev", exp: 9999999999 })}.`;
    await expect(verify(none)).rejects.toThrow("unsupported token algorithm");
    const noExp = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("a@x.dev").sign(new TextEncoder().encode(secret));
    await expect(verify(noExp)).rejects.toThrow();
    await expect(verify("garbage")).rejects.toThrow();
  });
  test("refuses an over-long or whitespace subject", async () => {
    await expect(verify(await signDevToken(secret, "a".repeat(321)))).rejects.toThrow("invalid subject");
    await expect(verify(await signDevToken(secret, "a b"))).rejects.toThrow("invalid subject");
  });
  test("a subject is accepted exactly when it is a user id of the common grammar (the REST models' too)", async () => {
    for (const sub of USER_IDS.valid) expect(await verify(await signDevToken(secret, sub))).toMatchObject({ user: sub });
    for (const sub of USER_IDS.invalid) await expect(verify(await signDevToken(secret, sub))).rejects.toThrow("invalid subject");
    const numeric = await new SignJWT({ sub: 42 } as unknown as Record<string, never>).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(new TextEncoder().encode(secret));
    await expect(verify(numeric)).rejects.toThrow();
  });
  test("issuer and audience are enforced when configured", async () => {
    const v = createVerifier({ jwtSecret: secret, issuer: "auth", audience: "chat" });
    await expect(v(await signDevToken(secret, "a@x.dev"))).rejects.toThrow();
    expect(await v(await signDevToken(secret, "a@x.dev", 60, { issuer: "auth", audience: "chat" }))).toMatchObject({ user: "a@x.dev" });
  });
  test("JWKS: an RS256 token verifies against the key set served over HTTP, HS256 tokens are then refused", async () => {
    const { publicKey, privateKey } = await generateKeyPair("RS256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256" };
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => Response.json({ keys: [jwk] }) });
    try {
      const v = createVerifier({ jwksUrl: `http://127.0.0.1:${server.port}/jwks` });
      const token = await new SignJWT({}).setProtectedHeader({ alg: "RS256", kid: "k1" }).setSubject("r@x.dev").setExpirationTime("1h").sign(privateKey);
      expect(await v(token)).toMatchObject({ user: "r@x.dev" });
      await expect(v(await signDevToken(secret, "a@x.dev"))).rejects.toThrow("unsupported token algorithm");
    } finally {
      server.stop(true);
    }
  });
});

test("bearer: the scheme, one space and a token68; nothing looser", () => {
  const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.sig-_~+/=";
  for (const h of [`Bearer ${jwt}`, `bearer ${jwt}`, `BEARER ${jwt}`]) expect(bearer(h)).toBe(jwt);
  for (const h of [undefined, null, "", "Bearer", "Bearer ", `Bearer  ${jwt}`, `Bearer\t${jwt}`, ` Bearer ${jwt}`, `Bearer ${jwt} `, `Bearer ${jwt} x`, `Basic ${jwt}`, `Bearer ${jwt},x`, `Bearer "${jwt}"`, `Bearer =${jwt}`, `Bearer ${jwt}\n`])
    expect({ h, token: bearer(h) }).toEqual({ h, token: undefined });
});
