import { afterEach, expect, test } from "bun:test";
import { backends, createHarness, type Harness } from "./harness";

// GET /v1/teams/:id/presence over the app, with the controllers' answer scripted.
let h: Harness | undefined;
afterEach(() => h?.close());

test("members get the online list, filtered to current members; others 403", async () => {
  let asked = "";
  h = await createHarness(backends[0]!, { presence: { online: async (id) => ((asked = id), ["a@x.dev", "gone@x.dev", "b@x.dev"]) } });
  const created = await h.call("POST", "/v1/teams", { as: "a@x.dev", body: { name: "T" } });
  const id = created.json.data.id;
  await h.call("POST", `/v1/teams/${id}/members`, { as: "a@x.dev", body: { user_id: "b@x.dev" } });
  const r = await h.call("GET", `/v1/teams/${id}/presence`, { as: "b@x.dev" });
  expect([r.status, r.json, asked]).toEqual([200, { data: { online: ["a@x.dev", "b@x.dev"] } }, id]);
  expect((await h.call("GET", `/v1/teams/${id}/presence`, { as: "out@x.dev" })).status).toBe(403);
});

test("503 when no controller can answer", async () => {
  h = await createHarness(backends[0]!, { presence: null });
  const id = (await h.call("POST", "/v1/teams", { as: "a@x.dev", body: { name: "T" } })).json.data.id;
  const r = await h.call("GET", `/v1/teams/${id}/presence`, { as: "a@x.dev" });
  expect([r.status, r.json.error.code]).toEqual([503, "unavailable"]);
});
