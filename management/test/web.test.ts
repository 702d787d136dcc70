import { describe, expect, test } from "bun:test";
import { createVerifier } from "@chat/common/auth";
import { loadConfig } from "@chat/common/config";
import { createManagement, type ManagementPorts } from "../src/service";
import { recordingLogger } from "./harness";

const SECRET = "web-test-secret-".padEnd(48, "x");
const config = loadConfig({ AUTH_JWT_SECRET: SECRET });
// Neither the web app nor the dev sign-in touches a store.
const ports = { teams: {}, messages: {}, log: {} } as unknown as ManagementPorts;
const peer = (address: string) => ({ requestIP: () => ({ address }) });
const get = (m: ReturnType<typeof createManagement>, path: string, init: RequestInit = {}, from = "127.0.0.1") =>
  m.fetch(new Request(`http://localhost${path}`, init), peer(from));
const login = (user: string) => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id: user }) });

describe("the web app at /", () => {
  const m = createManagement(config, ports, { logger: recordingLogger() });

  test("serves the page and its hashed assets (gzip when asked), outside /v1", async () => {
    const page = await get(m, "/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toStartWith("text/html");
    expect(page.headers.get("cache-control")).toBe("no-cache");
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = await page.text();
    const script = /src="\.(\/chunk-[a-z0-9]+\.js)"/.exec(html)?.[1];
    const style = /href="\.(\/chunk-[a-z0-9]+\.css)"/.exec(html)?.[1];
    expect(script && style).toBeTruthy();
    const js = await get(m, script!, { headers: { "accept-encoding": "gzip, br" } });
    expect(js.headers.get("content-encoding")).toBe("gzip");
    expect(js.headers.get("cache-control")).toContain("immutable");
    expect(Bun.gunzipSync(new Uint8Array(await js.arrayBuffer())).length).toBeGreaterThan(1000);
    expect((await get(m, style!)).headers.get("content-type")).toStartWith("text/css");
  });

  test("unknown paths and methods answer with the JSON envelope", async () => {
    const missing = await get(m, "/nope.js");
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { code: "not_found", message: "no such route" } });
    const post = await get(m, "/", { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    // /v1 stays the API's
    expect((await get(m, "/v1/nope")).status).toBe(404);
  });
});

describe("dev sign-in (POST /v1/dev/login)", () => {
  test("does not exist unless the composition root asks for it", async () => {
    const m = createManagement(config, ports, { logger: recordingLogger() });
    expect((await get(m, "/v1/dev/login")).status).toBe(404);
    expect((await get(m, "/v1/dev/login", login("a@x.dev"))).status).toBe(404);
    const doc = (await (await get(m, "/v1/openapi.json")).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((p) => p.includes("dev"))).toEqual([]);
  });

  test("mints a token for the typed user id, for loopback clients only", async () => {
    const m = createManagement(config, ports, { logger: recordingLogger(), devLogin: { secret: SECRET, allowRemote: false } });
    expect(await (await get(m, "/v1/dev/login")).json()).toEqual({ data: { enabled: true } });
    const res = await get(m, "/v1/dev/login", login("alice@example.dev"));
    expect(res.status).toBe(201);
    const { data } = (await res.json()) as { data: { user_id: string; token: string } };
    expect(data.user_id).toBe("alice@example.dev");
    expect((await createVerifier({ jwtSecret: SECRET })(data.token)).user).toBe("alice@example.dev");
    expect((await get(m, "/v1/dev/login", login("not a user id"))).status).toBe(400);
    expect((await get(m, "/v1/dev/login", { ...login("a@x.dev"), body: '{"user_id":"a@x.dev","admin":true}' })).status).toBe(400);
    for (const ip of ["::1", "::ffff:127.0.0.1", "127.0.0.2"]) expect((await get(m, "/v1/dev/login", {}, ip)).status).toBe(200);
    for (const ip of ["192.0.2.7", "::ffff:10.0.0.1", "fe80::1"]) {
      expect((await get(m, "/v1/dev/login", {}, ip)).status).toBe(404);
      expect((await get(m, "/v1/dev/login", login("a@x.dev"), ip)).status).toBe(404);
    }
  });

  test("DEV_LOGIN=true opens it to other addresses", async () => {
    const m = createManagement(config, ports, { logger: recordingLogger(), devLogin: { secret: SECRET, allowRemote: true } });
    expect((await get(m, "/v1/dev/login", login("bob@example.dev"), "192.0.2.7")).status).toBe(201);
  });
});
