import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { objectId } from "@chat/common/ids";
import { backends, createHarness, deref, type Harness } from "./harness";

/** The team name, tag and history limits are settings, and the REST models and their documentation follow them. */
describe("configured limits", () => {
  let h: Harness;
  let S: string;
  beforeAll(async () => {
    h = await createHarness(backends[0]!, {
      env: { LIMIT_TEAM_NAME_CHARS: "10", LIMIT_META_TAGS: "2", LIMIT_META_TAG_CHARS: "4", LIMIT_HISTORY_PAGE: "150" },
    });
    S = h.user("s");
  });
  afterAll(() => h.close());

  test("LIMIT_TEAM_NAME_CHARS, LIMIT_META_TAGS and LIMIT_META_TAG_CHARS bound create, patch and the tag filter", async () => {
    const status = async (method: string, path: string, body?: unknown) => (await h.call(method, path, { as: S, body })).status;
    expect(await status("POST", "/v1/teams", { name: "x".repeat(10), meta_tags: ["abcd", "ef"] })).toBe(201);
    expect(await status("POST", "/v1/teams", { name: "😀".repeat(10) })).toBe(201);
    expect(await status("POST", "/v1/teams", { name: "x".repeat(11) })).toBe(400);
    expect(await status("POST", "/v1/teams", { name: "ok", meta_tags: ["a", "b", "c"] })).toBe(400);
    expect(await status("POST", "/v1/teams", { name: "ok", meta_tags: ["abcde"] })).toBe(400);
    const team = await h.seedTeam({ super_admin: S });
    expect(await status("PATCH", `/v1/teams/${team.id}`, { name: "x".repeat(11) })).toBe(400);
    expect(await status("PATCH", `/v1/teams/${team.id}`, { meta_tags: ["abcde"] })).toBe(400);
    expect(await status("GET", "/v1/teams?tag=abcde")).toBe(400);
    expect(await status("GET", "/v1/teams?tag=abcd")).toBe(200);
  });

  test("the OpenAPI document states the configured limits", async () => {
    const doc = (await h.call("GET", "/v1/openapi.json")).json;
    const create = deref(doc, doc.paths["/v1/teams"].post.requestBody.content["application/json"].schema);
    expect([create.properties.name.maxLength, create.properties.meta_tags.maxItems, create.properties.meta_tags.items.maxLength]).toEqual([10, 2, 4]);
    const limit = doc.paths["/v1/teams/{id}/messages"].get.parameters.find((p: any) => p.name === "limit").schema;
    expect(limit.maximum).toBe(150);
  });

  test("LIMIT_HISTORY_PAGE above the contract's 100 is served", async () => {
    const team = await h.seedTeam({ super_admin: S });
    await h.messages.insertMany(
      Array.from({ length: 160 }, (_, i) => ({ id: objectId(), channel_id: team.id, seq: i + 1, from: S, to: "*", type: "text" as const, data: `m${i}`, ts: new Date().toISOString() })),
    );
    const page = await h.call("GET", `/v1/teams/${team.id}/messages?limit=150`, { as: S });
    expect([page.status, page.json.data.length, page.json.next]).toEqual([200, 150, 11]);
    expect((await h.call("GET", `/v1/teams/${team.id}/messages?limit=151`, { as: S })).status).toBe(400);
    expect((await h.call("GET", `/v1/teams/${team.id}/messages`, { as: S })).json.data.length).toBe(50);
  });
});
