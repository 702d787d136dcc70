import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { Parser } from "@asyncapi/parser";
import { SERVER_EVENT_NAMES } from "@chat/client";
import { loadConfig } from "@chat/common/config";
import { ASYNCAPI_EVENTS } from "../src/asyncapi";
import { createManagement, type ManagementPorts } from "../src/service";
import { recordingLogger } from "./harness";

// The AsyncAPI parser compiles its schemas on first use: seconds on a busy 2-core machine.
setDefaultTimeout(30_000);

const config = loadConfig({ AUTH_JWT_SECRET: "asyncapi-test-".padEnd(48, "x"), PUBLIC_URL: "https://chat.example.dev" });
const m = createManagement(config, { teams: {}, messages: {}, log: {} } as unknown as ManagementPorts, { logger: recordingLogger() });
const get = (path: string) => m.fetch(new Request(`http://localhost${path}`), { requestIP: () => ({ address: "127.0.0.1" }) });
const parser = new Parser();
/** Errors (0) and warnings (1); hints such as "a newer AsyncAPI version exists" pass. */
const problems = async (doc: unknown) => (await parser.validate(doc as never)).filter((d) => d.severity <= 1).map((d) => `${d.code}: ${d.message} at ${d.path.join(".")}`);

describe("AsyncAPI document of the WebSocket protocol (GET /v1/asyncapi.json)", () => {
  test("is a valid AsyncAPI 3 document (@asyncapi/parser), with the server from configuration", async () => {
    const res = await get("/v1/asyncapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as any;
    expect(await problems(doc)).toEqual([]);
    expect(doc.servers.chat).toMatchObject({ host: "chat.example.dev", protocol: "wss", pathname: "/v1/ws" });
    expect(doc.operations.sendFrames.messages.length + doc.operations.receiveEvents.messages.length).toBe(Object.keys(doc.components.messages).length);
  });

  test("the validator is not a rubber stamp", async () => {
    const doc = (await (await get("/v1/asyncapi.json")).json()) as any;
    const broken = structuredClone(doc);
    broken.operations.sendFrames.action = "publish"; // AsyncAPI 2 wording
    expect((await problems(broken)).length).toBeGreaterThan(0);
    const dangling = structuredClone(doc);
    dangling.operations.receiveEvents.messages.push({ $ref: "#/channels/socket/messages/nope" });
    expect((await problems(dangling)).length).toBeGreaterThan(0);
  });

  test("names every event the client SDK handles, and no other", () => {
    expect([...ASYNCAPI_EVENTS].sort()).toEqual([...SERVER_EVENT_NAMES].sort());
  });

  test("the API reference page works offline: Swagger UI from node_modules, no CDN", async () => {
    const html = await (await get("/v1/docs")).text();
    expect(html).toContain('src="/v1/docs/assets/swagger-ui-bundle.js"');
    expect(html).toContain('href="/v1/docs/assets/swagger-ui.css"');
    expect(html).not.toMatch(/(src|href)="https?:/);
    for (const [path, type] of [["/v1/docs/assets/swagger-ui-bundle.js", "text/javascript"], ["/v1/docs/assets/swagger-ui.css", "text/css"]] as const) {
      const res = await get(path);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toStartWith(type);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
    }
    expect((await get("/v1/docs/assets/index.html")).status).toBe(404);
  });
});
