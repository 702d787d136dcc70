import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { objectId } from "../ids";
import type { ObjectStore } from "../ports";

/**
 * Every ObjectStore, driven the way clients drive it: over HTTP with fetch, through the URLs it
 * presigns (absolute URLs: the factory gives the filesystem store its server's origin).
 */
export function objectStoreContract(name: string, make: () => Promise<ObjectStore>) {
  describe(`ObjectStore contract: ${name}`, () => {
    let store: ObjectStore;
    beforeAll(async () => {
      store = await make();
    });
    afterAll(async () => {
      await store?.close();
    });
    const newKey = () => `${objectId()}/${objectId()}`;
    const put = (url: string, headers: Record<string, string>, body: Uint8Array | string) => fetch(url, { method: "PUT", headers, body });

    test("ping answers", async () => {
      await store.ping();
    });

    test("upload through the presigned PUT; stat and the presigned GET give back type, name and bytes", async () => {
      const key = newKey();
      const bytes = new Uint8Array(randomBytes(70_001));
      const filename = "Grüße aus Köln (1).png";
      const p = await store.presignPut(key, { contentType: "image/png", size: bytes.length, expiresIn: 60, filename });
      expect(p.expiresAt.getTime()).toBeGreaterThan(Date.now() + 50_000);
      // PROTOCOL §5: the upload carries Content-Type and no other header, in every mode.
      expect(p.headers).toEqual({ "content-type": "image/png" });
      const up = await put(p.url, { "content-type": "image/png" }, bytes);
      expect(up.status).toBe(200);
      await up.arrayBuffer();

      expect(await store.stat(key)).toEqual({ size: bytes.length, contentType: "image/png", filename });
      const res = await fetch(await store.presignGet(key, { expiresIn: 60, filename }));
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("image/png");
      expect(res.headers.get("content-disposition")).toContain("filename*=UTF-8''Gr%C3%BC%C3%9Fe%20aus%20K%C3%B6ln%20%281%29.png");
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
    });

    test("nothing uploaded: stat is null and the presigned GET is 404", async () => {
      const key = newKey();
      expect(await store.stat(key)).toBeNull();
      const res = await fetch(await store.presignGet(key, { expiresIn: 60 }));
      expect(res.status).toBe(404);
      await res.arrayBuffer();
    });

    test("a body of another size is refused and nothing is stored", async () => {
      const key = newKey();
      const p = await store.presignPut(key, { contentType: "application/pdf", size: 1000, expiresIn: 60 });
      for (const n of [1001, 999, 0]) {
        const res = await put(p.url, p.headers, new Uint8Array(n));
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        await res.arrayBuffer();
      }
      expect(await store.stat(key)).toBeNull();
    });

    test("another content type is refused and nothing is stored", async () => {
      const key = newKey();
      const p = await store.presignPut(key, { contentType: "image/png", size: 10, expiresIn: 60 });
      for (const ct of ["text/html", "image/jpeg"]) {
        const res = await put(p.url, { ...p.headers, "content-type": ct }, new Uint8Array(10));
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        await res.arrayBuffer();
      }
      expect(await store.stat(key)).toBeNull();
    });

    test("a URL is bound to its object: pointed at another key it is refused", async () => {
      const key = newKey();
      const other = newKey();
      const p = await store.presignPut(key, { contentType: "text/plain", size: 2, expiresIn: 60 });
      const moved = p.url.replace(key, other);
      expect(moved).not.toBe(p.url);
      const res = await put(moved, p.headers, "hi");
      expect(res.status).toBe(403);
      await res.arrayBuffer();
      expect(await store.stat(other)).toBeNull();

      const ok = await put(p.url, p.headers, "hi");
      expect(ok.status).toBe(200);
      const get = await fetch((await store.presignGet(key, { expiresIn: 60 })).replace(key, other));
      expect(get.status).toBe(403);
      await get.arrayBuffer();
    });

    test("expired URLs are refused, for upload and for download", async () => {
      const key = newKey();
      const stale = await store.presignPut(key, { contentType: "text/plain", size: 5, expiresIn: 1 });
      const fresh = await store.presignPut(key, { contentType: "text/plain", size: 5, expiresIn: 60 });
      expect((await put(fresh.url, fresh.headers, "hello")).status).toBe(200);
      const staleGet = await store.presignGet(key, { expiresIn: 1 });
      await Bun.sleep(2500);
      const up = await put(stale.url, stale.headers, "HELLO");
      expect(up.status).toBe(403);
      await up.arrayBuffer();
      const down = await fetch(staleGet);
      expect(down.status).toBe(403);
      await down.arrayBuffer();
      expect(await (await fetch(await store.presignGet(key, { expiresIn: 60 }))).text()).toBe("hello");
    });
  });
}
