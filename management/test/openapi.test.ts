import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import SwaggerParser from "@apidevtools/swagger-parser";
import { backends, createHarness, deref, type Harness } from "./harness";

describe("OpenAPI document", () => {
  let h: Harness;
  let doc: any;
  beforeAll(async () => {
    h = await createHarness(backends[0]!);
    const r = await h.call("GET", "/v1/openapi.json");
    expect(r.status).toBe(200);
    doc = r.json;
  });
  afterAll(() => h.close());

  test("is a valid OpenAPI 3 document (swagger-parser)", async () => {
    expect(doc.openapi).toStartWith("3.");
    const api = await SwaggerParser.validate(structuredClone(doc));
    expect(api.info.title).toBe("Chat management API");
  });

  test("the validator is not a rubber stamp", async () => {
    const broken = structuredClone(doc);
    broken.paths["/v1/teams"].post.responses = { "201": { content: {} } }; // a response without its required description
    await expect(SwaggerParser.validate(broken)).rejects.toThrow();
  });

  test("documents every served route with its responses, errors and security", () => {
    const hidden = ["/v1/objects/", "/v1/docs"];
    const served = h.app.routes
      .filter((r) => !hidden.some((p) => r.path.startsWith(p)))
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, "{$1}")}`);
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops as object).map((m) => `${m} ${p}`));
    expect(documented.sort()).toEqual(served.sort());
    const open = ["/v1/health", "/v1/ready", "/v1/metrics", "/v1/openapi.json", "/v1/asyncapi.json"];
    for (const [path, ops] of Object.entries<any>(doc.paths))
      for (const [method, op] of Object.entries<any>(ops)) {
        const where = `${method} ${path}`;
        expect({ where, summary: typeof op.summary }).toEqual({ where, summary: "string" });
        expect(Object.keys(op.responses).some((s) => s.startsWith("2") || s === "302")).toBe(true);
        if (open.includes(path)) expect({ where, security: op.security }).toEqual({ where, security: [] });
        else {
          expect({ where, security: op.security }).toEqual({ where, security: undefined }); // the document-wide bearer requirement
          expect({ where, has401: "401" in op.responses }).toEqual({ where, has401: true });
        }
      }
    expect(doc.security).toEqual([{ bearer: [] }]);
    expect(doc.components.securitySchemes.bearer.scheme).toBe("bearer");
  });

  test("request schemas are the ones enforced: closed objects with the protocol's limits", () => {
    const body = (p: string, m: string) => deref(doc, doc.paths[p][m].requestBody.content["application/json"].schema);
    const create = body("/v1/teams", "post");
    expect(create.additionalProperties).toBe(false);
    expect(create.properties.name.maxLength).toBe(100);
    expect(create.properties.meta_tags.maxItems).toBe(20);
    expect(body("/v1/teams/{id}/attachments", "post").required.sort()).toEqual(["content_type", "filename", "size", "type"]);
    const params = doc.paths["/v1/teams/{id}/members/{user_id}"].delete.parameters.map((p: any) => [p.name, p.in]);
    expect(params).toEqual([["id", "path"], ["user_id", "path"]]);
  });

  test("integers are documented as integers, not as string-or-number", () => {
    const param = (path: string, name: string) => doc.paths[path].get.parameters.find((p: any) => p.name === name).schema;
    for (const [path, name] of [
      ["/v1/teams", "limit"],
      ["/v1/teams/{id}/messages", "limit"],
      ["/v1/teams/{id}/messages", "before"],
    ] as const)
      expect({ path, name, type: param(path, name).type, anyOf: param(path, name).anyOf }).toEqual({ path, name, type: "integer", anyOf: undefined });
    expect(param("/v1/teams/{id}/messages", "limit").maximum).toBe(100);
    const size = deref(doc, doc.paths["/v1/teams/{id}/attachments"].post.requestBody.content["application/json"].schema).properties.size;
    expect([size.type, size.anyOf]).toEqual(["integer", undefined]);
    const { Message, MessagePage } = doc.components.schemas;
    expect([Message.properties.seq.type, Message.properties.seq.anyOf]).toEqual(["integer", undefined]);
    expect(MessagePage.properties.next.type).toEqual(["integer", "null"]);
    // Nowhere in the document an integer that also admits a string (Elysia's t.Integer documents itself so).
    const text = JSON.stringify(doc);
    expect(text).not.toContain('"format":"integer"');
    expect(text).not.toContain('"type":"number"');
  });

  test("bodies and responses are named components that generated clients can type", () => {
    const { schemas } = doc.components;
    for (const name of [
      "Error",
      "Team",
      "TeamResponse",
      "TeamPage",
      "Message",
      "MessagePage",
      "Attachment",
      "AttachmentResponse",
      "CreateTeamRequest",
      "UpdateTeamRequest",
      "MemberRequest",
      "LeaveRequest",
      "CreateAttachmentRequest",
    ])
      expect({ name, type: schemas[name]?.type }).toEqual({ name, type: "object" });
    const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
    const json = (r: any) => r.content["application/json"].schema;
    const op = (p: string, m: string) => doc.paths[p][m];
    expect(json(op("/v1/teams", "post").requestBody)).toEqual(ref("CreateTeamRequest"));
    expect(json(op("/v1/teams", "post").responses["201"])).toEqual(ref("TeamResponse"));
    expect(json(op("/v1/teams", "get").responses["200"])).toEqual(ref("TeamListPage"));
    expect(json(op("/v1/teams/{id}", "patch").requestBody)).toEqual(ref("UpdateTeamRequest"));
    expect(json(op("/v1/teams/{id}/members", "post").requestBody)).toEqual(ref("MemberRequest"));
    expect(json(op("/v1/teams/{id}/leave", "post").requestBody)).toEqual(ref("LeaveRequest"));
    expect(json(op("/v1/teams/{id}/messages", "get").responses["200"])).toEqual(ref("MessagePage"));
    expect(json(op("/v1/teams/{id}/attachments", "post").requestBody)).toEqual(ref("CreateAttachmentRequest"));
    expect(json(op("/v1/teams/{id}/attachments", "post").responses["201"])).toEqual(ref("AttachmentResponse"));
    expect(schemas.TeamResponse.properties.data).toEqual(ref("Team"));
    expect(schemas.TeamPage.properties.data.items).toEqual(ref("Team"));
    expect(schemas.MessagePage.properties.data.items).toEqual(ref("Message"));
    expect(schemas.AttachmentResponse.properties.data).toEqual(ref("Attachment"));
    // Every error response is the Error component, described by what its status means; every component is used.
    const text = JSON.stringify(doc.paths);
    for (const [path, ops] of Object.entries<any>(doc.paths))
      for (const [method, o] of Object.entries<any>(ops))
        for (const [status, r] of Object.entries<any>(o.responses))
          if (Number(status) >= 400 && path !== "/v1/ready") {
            const where = `${method} ${path} ${status}`;
            expect({ where, schema: json(r) }).toEqual({ where, schema: ref("Error") });
            expect({ where, generic: r.description === schemas.Error.description }).toEqual({ where, generic: false });
          }
    const components = JSON.stringify(schemas);
    for (const name of Object.keys(schemas)) expect({ name, used: text.includes(`"#/components/schemas/${name}"`) || components.includes(`"#/components/schemas/${name}"`) }).toEqual({ name, used: true });
  });

  test("routes answer through the referenced components (the validator resolves them by $id)", async () => {
    const a = h.user("a");
    const team = await h.seedTeam({ super_admin: a });
    const T = `/v1/teams/${team.id}`;
    expect((await h.call("GET", T, { as: a })).json.data.id).toBe(team.id);
    expect((await h.call("GET", "/v1/teams", { as: a })).json.data.map((x: any) => x.id)).toEqual([team.id]);
    expect((await h.call("GET", `${T}/messages`, { as: a })).json).toEqual({ data: [], next: null });
    const created = await h.call("POST", `${T}/attachments`, { as: a, body: { type: "file", content_type: "text/plain", size: 3, filename: "a.txt" } });
    expect([created.status, typeof created.json.data.upload_url]).toEqual([201, "string"]);
    expect((await h.call("POST", `${T}/members`, { as: a, body: { user_id: h.user("b") } })).status).toBe(201);
  });

  test("the docs page is served and reads the document", async () => {
    const r = await h.call("GET", "/v1/docs");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("text/html");
    expect(r.text).toContain("openapi.json");
  });
});
