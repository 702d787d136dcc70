// Hostile tokens (PROTOCOL §2, §8): every one is a 401 with the envelope on REST and at the WebSocket upgrade,
// before anything else is looked at; the same tokens in a refresh frame are `forbidden` and the socket stays open.
// An expired token on an open socket (4001) and another user's token in a refresh (4003): tests/abuse.e2e.test.ts.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHmac } from "node:crypto";
import { SignJWT, UnsecuredJWT } from "jose";
import { USER_IDS } from "@chat/common/grammar-samples";
import { api, Client, createTeam, uniqueUser } from "../harness";
import { useTarget } from "../target";
import { expectEnvelope, rest, signingSecret, table, upgrade } from "./corpus";

setDefaultTimeout(60_000);
const t = useTarget();

const now = () => Math.floor(Date.now() / 1000);
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

/**
 * A token with exactly the claims and header given, HMAC-signed with the server's secret (or `secret`) by
 * hand: jose refuses to sign some of the hostile headers (an unknown `crit`), and its own tokens are the control.
 */
async function signed(claims: Record<string, unknown>, header: Record<string, unknown> = { alg: "HS256" }, secret = signingSecret()): Promise<string> {
  const hash = { HS256: "sha256", HS384: "sha384", HS512: "sha512" }[String(header.alg)] ?? "sha256";
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${createHmac(hash, secret).update(input).digest("base64url")}`;
}

let user: string;
let team: string;

interface TokenCase {
  name: string;
  /** The Authorization header as sent (REST and upgrade), or undefined for none. */
  authorization: () => Promise<string | undefined>;
  /** Added to the upgrade's query (`access_token=` included when the case is about the query). */
  query?: () => Promise<string>;
}
const bearer = (token: () => Promise<string>) => async () => `Bearer ${await token()}`;

const TOKENS: TokenCase[] = [
  { name: "no Authorization header", authorization: async () => undefined },
  { name: "alg none (unsecured JWT)", authorization: bearer(async () => new UnsecuredJWT({ sub: user }).setExpirationTime(now() + 600).encode()) },
  { name: "alg none with a signature appended", authorization: bearer(async () => `${b64({ alg: "none" })}.${b64({ sub: user, exp: now() + 600 })}.${"a".repeat(43)}`) },
  { name: "alg NONE", authorization: bearer(async () => `${b64({ alg: "NONE" })}.${b64({ sub: user, exp: now() + 600 })}.`) },
  { name: "HS256 signed with another secret", authorization: bearer(() => signed({ sub: user, exp: now() + 600 }, undefined, "another-secret-".padEnd(48, "y"))) },
  { name: "HS512 with the right secret (unexpected alg)", authorization: bearer(() => signed({ sub: user, exp: now() + 600 }, { alg: "HS512" })) },
  { name: "HS384 with the right secret (unexpected alg)", authorization: bearer(() => signed({ sub: user, exp: now() + 600 }, { alg: "HS384" })) },
  { name: "RS256 header over an HS256 signature", authorization: bearer(async () => { const [, p, s] = (await signed({ sub: user, exp: now() + 600 })).split("."); return `${b64({ alg: "RS256" })}.${p}.${s}`; }) },
  { name: "expired a minute ago", authorization: bearer(() => signed({ sub: user, exp: now() - 60 })) },
  { name: "no exp", authorization: bearer(() => signed({ sub: user })) },
  { name: "exp as a string", authorization: bearer(() => signed({ sub: user, exp: String(now() + 600) })) },
  { name: "not valid before an hour from now", authorization: bearer(() => signed({ sub: user, exp: now() + 7200, nbf: now() + 3600 })) },
  { name: "no sub", authorization: bearer(() => signed({ exp: now() + 600 })) },
  { name: "sub as a number", authorization: bearer(() => signed({ sub: 5, exp: now() + 600 })) },
  { name: "sub as an object", authorization: bearer(() => signed({ sub: { $ne: null }, exp: now() + 600 })) },
  { name: "payload tampered after signing", authorization: bearer(async () => { const [h, , s] = (await signed({ sub: user, exp: now() + 600 })).split("."); return `${h}.${b64({ sub: "admin@x.dev", exp: now() + 600 })}.${s}`; }) },
  { name: "signature stripped", authorization: bearer(async () => (await signed({ sub: user, exp: now() + 600 })).split(".").slice(0, 2).join(".") + ".") },
  { name: "crit header the server does not know", authorization: bearer(() => signed({ sub: user, exp: now() + 600 }, { alg: "HS256", crit: ["x-unknown"], "x-unknown": 1 })) },
  { name: "kid path traversal, another secret", authorization: bearer(() => signed({ sub: user, exp: now() + 600 }, { alg: "HS256", kid: "../../../dev/null" }, "x".repeat(48))) },
  { name: "header not JSON", authorization: bearer(async () => `${Buffer.from("{not json").toString("base64url")}.${b64({ sub: user })}.sig`) },
  { name: "three empty parts", authorization: async () => "Bearer .." },
  { name: "one part", authorization: async () => "Bearer abc" },
  { name: "8 KiB and more (a valid token padded with claims)", authorization: bearer(() => signed({ sub: user, exp: now() + 600, pad: "p".repeat(8300) })) },
  { name: "Bearer with two spaces", authorization: async () => `Bearer  ${await t.token(user)}` },
  { name: "Bearer with a tab", authorization: async () => `Bearer\t${await t.token(user)}` },
  { name: "Bearer with a trailing word", authorization: async () => `Bearer ${await t.token(user)} extra` },
  { name: "Basic scheme", authorization: async () => `Basic ${Buffer.from(`${user}:pw`).toString("base64")}` },
  { name: "the scheme alone", authorization: async () => "Bearer" },
  { name: "the token without a scheme", authorization: async () => t.token(user) },
  { name: "two tokens in one header", authorization: async () => `Bearer ${await t.token(user)}, Bearer ${await t.token(user)}` },
  // Every `sub` the user-id grammar refuses: the same rule as user ids in bodies, paths and `to`.
  ...USER_IDS.invalid.map((sub): TokenCase => ({ name: `sub ${JSON.stringify(sub).slice(0, 40)}`, authorization: bearer(() => signed({ sub, exp: now() + 600 })) })),
];

/** Only the upgrade reads `?access_token=`; the header wins when both are there. */
const UPGRADE_ONLY: TokenCase[] = [
  { name: "bad header, good access_token: the header wins", authorization: async () => "Bearer garbage", query: async () => `access_token=${await t.token(user)}` },
  { name: "access_token alg none", authorization: async () => undefined, query: async () => `access_token=${new UnsecuredJWT({ sub: user }).setExpirationTime(now() + 600).encode()}` },
  { name: "access_token expired", authorization: async () => undefined, query: async () => `access_token=${await signed({ sub: user, exp: now() - 60 })}` },
  { name: "access_token with another secret", authorization: async () => undefined, query: async () => `access_token=${await signed({ sub: user, exp: now() + 600 }, undefined, "z".repeat(48))}` },
  { name: "access_token empty", authorization: async () => undefined, query: async () => "access_token=" },
];
/** REST reads the header only: a good token in the query is no token. */
const REST_ONLY: TokenCase[] = [{ name: "a good token in ?access_token= only", authorization: async () => undefined, query: async () => `access_token=${await t.token(user)}` }];

beforeAll(async () => {
  user = uniqueUser("tok");
  team = await createTeam(t, user);
});

describe("hostile tokens", () => {
  table("REST", [...TOKENS, ...REST_ONLY], async (c) => {
    const authorization = await c.authorization();
    const query = c.query ? `?${await c.query()}` : "";
    const r = await rest(t, `/v1/teams/${team}${query}`, { authorization, as: "anonymous" });
    expectEnvelope(`GET ${c.name}`, r, 401, "unauthenticated");
    // A token that is refused changes nothing either.
    const w = await rest(t, `/v1/teams/${team}${query}`, { method: "DELETE", authorization, as: "anonymous" });
    expectEnvelope(`DELETE ${c.name}`, w, 401, "unauthenticated");
  });

  table("upgrade", [...TOKENS, ...UPGRADE_ONLY], async (c) => {
    const authorization = await c.authorization();
    const r = await upgrade(t, c.query ? `?${await c.query()}` : "", authorization === undefined ? {} : { authorization });
    expectEnvelope(c.name, r, 401, "unauthenticated");
  });
});

describe("the same tokens in a refresh frame: forbidden, the socket stays open", () => {
  let c: Client;
  beforeAll(async () => {
    c = await Client.connect(t, await t.token(user));
  });
  afterAll(() => c?.close());
  let n = 0;
  table(
    "refresh",
    TOKENS.filter((x) => !/Bearer|scheme|Basic|no Authorization|two tokens/.test(x.name)),
    async (x) => {
      const token = (await x.authorization())!.replace(/^Bearer /, "");
      const answer = await c.request({ op: "refresh", token, client_msg_id: `r-${++n}` });
      expect({ name: x.name, event: answer.event, code: answer.code }).toEqual({ name: x.name, event: "error", code: "forbidden" });
      expect(c.closed).toBeUndefined();
      await Bun.sleep(60); // the socket's bucket: 20 frames/s
    },
  );
});

test("after the corpus: the team is untouched and the right token works on both transports, hand-signed or not", async () => {
  const token = await t.token(user);
  const control = await signed({ sub: user, exp: now() + 600 });
  expect((await rest(t, `/v1/teams/${team}`, { token: control })).status).toBe(200);
  const jose = await new SignJWT({ sub: user }).setProtectedHeader({ alg: "HS256" }).setExpirationTime(now() + 600).sign(new TextEncoder().encode(signingSecret()));
  expect((await rest(t, `/v1/teams/${team}`, { token: jose })).status).toBe(200);
  const r = await api(t, "GET", `/v1/teams/${team}`, token);
  expect([r.status, r.body.data.active, r.body.data.members]).toEqual([200, true, [user]]);
  await (await Client.connect(t, token, "", "query")).close();
  await (await Client.connect(t, token)).close();
});
