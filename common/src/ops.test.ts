import { expect, test } from "bun:test";
import { createMetrics } from "./metrics";
import { opsFetch } from "./ops";

const deps = (checks: Record<string, () => Promise<void>>, metricsToken?: string) => ({ metrics: createMetrics(), metricsToken, checks });
const get = (path: string, headers: Record<string, string> = {}) => new Request(`http://x${path}`, { headers });

test("health, readiness naming what is down, and a JSON 404 for anything else", async () => {
  const ok = deps({ db: async () => {} });
  expect((await opsFetch(get("/v1/health"), ok)).status).toBe(200);
  expect(await (await opsFetch(get("/v1/ready"), ok)).json()).toEqual({ data: { status: "ready", checks: { db: "ok" } } });
  const down = await opsFetch(get("/v1/ready"), deps({ db: async () => {}, kafka: () => Promise.reject(new Error("x")) }));
  expect(down.status).toBe(503);
  expect(((await down.json()) as any).checks).toEqual({ db: "ok", kafka: "down" });
  const nf = await opsFetch(get("/nope"), ok);
  expect(nf.status).toBe(404);
  expect(((await nf.json()) as any).error.code).toBe("not_found");
});

test("metrics are never public: the token on a public port (none configured = closed), nothing on the private ops port", async () => {
  expect((await opsFetch(get("/v1/metrics"), deps({}))).status).toBe(401);
  expect((await opsFetch(get("/v1/metrics"), { ...deps({}), privatePort: true })).status).toBe(200);
  const guarded = deps({}, "t".repeat(20));
  expect((await opsFetch(get("/v1/metrics"), guarded)).status).toBe(401);
  const res = await opsFetch(get("/v1/metrics", { authorization: `Bearer ${"t".repeat(20)}` }), guarded);
  expect(res.status).toBe(200);
  expect(await res.text()).toContain("chat_ws_connections");
});
