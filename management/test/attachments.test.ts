import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { isAttachmentIdOf } from "@chat/common/grammar";
import { objectId } from "@chat/common/ids";
import type { Team } from "@chat/common/teams";
import { backends, createHarness, s3Config, type Harness, type ObjectsKind } from "./harness";

/** Create → PUT through the returned URL → GET /v1/attachments/... 302 → download, on each object store. */
function roundTrip(objects: ObjectsKind) {
  describe(`attachments on ${objects === "fs" ? "embedded storage" : `S3 (${s3Config?.endpoint})`}`, () => {
    let h: Harness;
    let team: Team;
    let S: string, U: string, N: string;
    beforeAll(async () => {
      h = await createHarness(backends[0]!, { objects });
      [S, U, N] = [h.user("super"), h.user("user"), h.user("outsider")];
      team = await h.seedTeam({ super_admin: S, members: [U] });
    });
    afterAll(() => h.close());

    test("a member uploads through the presigned URL; members download the same bytes; outsiders get 403", async () => {
      const bytes = new Uint8Array(randomBytes(200_000));
      const created = await h.call("POST", `/v1/teams/${team.id}/attachments`, {
        as: U,
        body: { type: "image", content_type: "Image/PNG", size: bytes.length, filename: "../../etc/Urlaub am Meer.png" },
      });
      expect(created.status).toBe(201);
      const { attachment_id, upload_url, upload_headers, expires_at } = created.json.data;
      expect(isAttachmentIdOf(team.id, attachment_id)).toBe(true);
      expect(upload_url).toStartWith("http");
      expect(upload_headers["content-type"]).toBe("image/png");
      const ttl = Date.parse(expires_at) - Date.now();
      expect(ttl > 14 * 60_000 && ttl <= 16 * 60_000).toBe(true);

      // Before the upload there is nothing to download.
      expect((await h.call("GET", `/v1/attachments/${attachment_id}`, { as: U })).status).toBe(404);

      const put = await h.fetchUrl(upload_url, { method: "PUT", headers: upload_headers, body: bytes });
      expect(put.status).toBe(200);

      for (const who of [U, S]) {
        const r = await h.call("GET", `/v1/attachments/${attachment_id}`, { as: who });
        expect(r.status).toBe(302);
        const location = r.headers.get("location")!;
        expect(location).toStartWith("http");
        expect(r.headers.get("cache-control")).toBe("no-store");
        const file = await h.fetchUrl(location);
        expect(file.status).toBe(200);
        expect(file.headers.get("content-type")).toBe("image/png");
        expect(file.headers.get("content-disposition")).toContain("Urlaub%20am%20Meer.png");
        expect(file.headers.get("content-disposition")).not.toContain("etc");
        expect(new Uint8Array(await file.arrayBuffer())).toEqual(bytes);
      }
      const outsider = await h.call("GET", `/v1/attachments/${attachment_id}`, { as: N });
      expect([outsider.status, outsider.json.error.code, outsider.headers.get("location")]).toEqual([403, "forbidden", null]);
      expect((await h.call("GET", `/v1/attachments/${attachment_id}`)).status).toBe(401);
    });

    test("the upload URL takes exactly the declared size and type", async () => {
      const created = await h.call("POST", `/v1/teams/${team.id}/attachments`, { as: U, body: { type: "audio", content_type: "audio/ogg", size: 100, filename: "a.ogg" } });
      const { attachment_id, upload_url, upload_headers } = created.json.data;
      for (const [headers, n] of [
        [upload_headers, 101],
        [upload_headers, 99],
        [{ ...upload_headers, "content-type": "text/html" }, 100],
      ] as const) {
        const put = await h.fetchUrl(upload_url, { method: "PUT", headers, body: new Uint8Array(n) });
        expect(put.status).toBeGreaterThanOrEqual(400);
        expect(put.status).toBeLessThan(500);
        await put.arrayBuffer();
      }
      expect((await h.call("GET", `/v1/attachments/${attachment_id}`, { as: U })).status).toBe(404);
    });

    test("an attachment id of another team is not readable through this one", async () => {
      const mine = await h.seedTeam({ super_admin: N });
      const created = await h.call("POST", `/v1/teams/${mine.id}/attachments`, { as: N, body: { type: "file", content_type: "text/plain", size: 2, filename: "t.txt" } });
      const { attachment_id, upload_url, upload_headers } = created.json.data;
      expect((await h.fetchUrl(upload_url, { method: "PUT", headers: upload_headers, body: "hi" })).status).toBe(200);
      const id = attachment_id.split("/")[1];
      expect((await h.call("GET", `/v1/attachments/${team.id}/${id}`, { as: U })).status).toBe(404);
      expect((await h.call("GET", `/v1/attachments/${attachment_id}`, { as: U })).status).toBe(403);
      expect((await h.call("GET", `/v1/attachments/${objectId()}/${id}`, { as: U })).status).toBe(404);
    });

    test("an inactive team keeps its downloads but takes no new uploads", async () => {
      const t = await h.seedTeam({ super_admin: S, members: [U] });
      const created = await h.call("POST", `/v1/teams/${t.id}/attachments`, { as: U, body: { type: "file", content_type: "text/plain", size: 2, filename: "t.txt" } });
      const { attachment_id, upload_url, upload_headers } = created.json.data;
      expect((await h.fetchUrl(upload_url, { method: "PUT", headers: upload_headers, body: "ok" })).status).toBe(200);
      expect((await h.call("DELETE", `/v1/teams/${t.id}`, { as: S })).status).toBe(200);
      expect((await h.call("GET", `/v1/attachments/${attachment_id}`, { as: U })).status).toBe(302);
      const again = await h.call("POST", `/v1/teams/${t.id}/attachments`, { as: U, body: { type: "file", content_type: "text/plain", size: 2, filename: "t.txt" } });
      expect([again.status, again.json.error.code]).toEqual([409, "conflict"]);
    });
  });
}

roundTrip("fs");
if (s3Config) roundTrip("s3");
else test.skip("attachments on S3 — S3_ENDPOINT is not set", () => {});

describe("attachments without an object store", () => {
  test("answer 503 unavailable", async () => {
    const h = await createHarness(backends[0]!, { objects: "none" });
    const S = h.user("s");
    const t = await h.seedTeam({ super_admin: S });
    const r = await h.call("POST", `/v1/teams/${t.id}/attachments`, { as: S, body: { type: "file", content_type: "text/plain", size: 2, filename: "t.txt" } });
    expect([r.status, r.json.error.code]).toEqual([503, "unavailable"]);
    await h.close();
  });
});
