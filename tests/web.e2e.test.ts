import { describe, expect, test } from "bun:test";
import { api } from "./harness";
import { useTarget } from "./target";

// Through the public port: standalone, or nginx in front of management in the distributed stack.
describe("web app, docs and AsyncAPI on the public port", () => {
  const t = useTarget();

  test("/ serves the app and its assets", async () => {
    const page = await fetch(t.base + "/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toStartWith("text/html");
    const script = /src="\.(\/chunk-[a-z0-9]+\.js)"/.exec(await page.text())?.[1];
    const js = await fetch(t.base + script);
    expect(js.status).toBe(200);
    expect(js.headers.get("cache-control")).toContain("immutable");
    expect((await fetch(t.base + "/missing.js")).status).toBe(404);
  });

  test("no dev sign-in where a secret is configured (every configuration but standalone's generated secret)", async () => {
    expect((await api(t, "GET", "/v1/dev/login")).status).toBe(404);
    expect((await api(t, "POST", "/v1/dev/login", undefined, { user_id: "mallory@example.dev" })).status).toBe(404);
  });

  test("the API reference loads its assets from this server, and the AsyncAPI document is beside it", async () => {
    const html = await (await fetch(t.base + "/v1/docs")).text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThan(1);
    for (const a of assets) {
      expect(a).toStartWith("/v1/");
      expect((await fetch(t.base + a)).status).toBe(200);
    }
    const doc = await api(t, "GET", "/v1/asyncapi.json");
    expect(doc.body.asyncapi).toStartWith("3.");
  });
});
