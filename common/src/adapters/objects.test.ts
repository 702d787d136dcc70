import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../config";
import { objectStoreContract } from "../contracts/object-store.contract";
import { objectId } from "../ids";
import { log } from "../log";
import { FsObjectStore } from "./fs-objects";
import { S3ObjectStore } from "./s3-objects";

/** The filesystem store behind a real HTTP server, as standalone mounts it. */
function serveFs(opts: { now?: () => number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "chat-objects-"));
  let store: FsObjectStore | undefined;
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => store!.serve(req) });
  store = new FsObjectStore({ dir: join(dir, "objects"), secretFile: join(dir, "objects-secret"), baseUrl: server.url.origin, ...opts });
  const close = store.close.bind(store);
  store.close = async () => {
    await close();
    await server.stop(true);
  };
  return { store, dir, server };
}

objectStoreContract("filesystem", async () => serveFs().store);

const s3 = process.env.S3_ENDPOINT ? loadConfig(process.env).s3 : undefined;
if (s3) {
  // A fresh bucket each run, so connect's create-if-missing is exercised too.
  objectStoreContract(`s3 (${s3.endpoint})`, () => S3ObjectStore.connect({ ...s3, bucket: `chat-test-${objectId()}` }, log));
  // Presigned URLs name the endpoint clients use (S3_PUBLIC_ENDPOINT), not the one this process talks to.
  const publicEndpoint = s3.endpoint.replace("127.0.0.1", "localhost");
  if (publicEndpoint !== s3.endpoint)
    test("s3: presigned URLs carry S3_PUBLIC_ENDPOINT and work there", async () => {
      const store = await S3ObjectStore.connect({ ...s3, publicEndpoint, bucket: `chat-test-${objectId()}` }, log);
      try {
        const key = `${objectId()}/${objectId()}`;
        const put = await store.presignPut(key, { contentType: "text/plain", size: 5, expiresIn: 60 });
        expect(new URL(put.url).host).toBe(new URL(publicEndpoint).host);
        expect((await fetch(put.url, { method: "PUT", headers: put.headers, body: "hello" })).status).toBe(200);
        const get = await store.presignGet(key, { expiresIn: 60 });
        expect(new URL(get).host).toBe(new URL(publicEndpoint).host);
        expect(await (await fetch(get)).text()).toBe("hello");
      } finally {
        await store.close();
      }
    });
} else {
  test.skip("ObjectStore contract: s3 — S3_ENDPOINT is not set", () => {});
}

describe("FsObjectStore specifics", () => {
  const { store, dir, server } = serveFs();
  afterAll(() => store.close());
  const key = () => `${objectId()}/${objectId()}`;

  test("the signing secret is created once under DATA_DIR with mode 0600", () => {
    const file = join(dir, "objects-secret");
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  test("uploads answer 413 when too long and 400 when short or of another type", async () => {
    const k = key();
    const p = await store.presignPut(k, { contentType: "audio/ogg", size: 10, expiresIn: 60 });
    const status = async (body: Uint8Array | ReadableStream<Uint8Array>, headers = p.headers) => (await fetch(p.url, { method: "PUT", headers, body })).status;
    expect(await status(new Uint8Array(11))).toBe(413);
    expect(await status(new Uint8Array(9))).toBe(400);
    expect(await status(new Uint8Array(10), { "content-type": "audio/mpeg" })).toBe(400);
    expect(await status(new Uint8Array(10), {})).toBe(400);
    // Without a Content-Length the byte count is enforced while streaming.
    const chunked = (n: number) =>
      new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < n; i++) c.enqueue(new Uint8Array(4));
          c.close();
        },
      });
    expect(await status(chunked(3))).toBe(413);
    expect(await status(chunked(2))).toBe(400);
    expect(await store.stat(k)).toBeNull();
    expect(readdirSync(join(dir, "objects", ".tmp"))).toEqual([]);
  });

  test("a tampered signature, a changed size or a missing expiry is refused", async () => {
    const k = key();
    const p = await store.presignPut(k, { contentType: "text/plain", size: 3, expiresIn: 60 });
    const u = new URL(p.url);
    const variants = [
      (x: URL) => x.searchParams.set("sig", x.searchParams.get("sig")!.replace(/^./, (c) => (c === "A" ? "B" : "A"))),
      (x: URL) => x.searchParams.set("size", "4"),
      (x: URL) => x.searchParams.set("ct", "text/html"),
      (x: URL) => x.searchParams.set("exp", String(Number(x.searchParams.get("exp")) + 3600)),
      (x: URL) => x.searchParams.delete("exp"),
    ];
    for (const change of variants) {
      const x = new URL(u);
      change(x);
      const res = await fetch(x, { method: "PUT", headers: p.headers, body: "abc" });
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ error: { code: "forbidden" } });
    }
    // A GET signature does not authorize a PUT.
    const get = new URL(await store.presignGet(k, { expiresIn: 60 }));
    expect((await fetch(get, { method: "PUT", headers: p.headers, body: "abc" })).status).toBe(403);
  });

  test("keys that could escape the directory are refused", async () => {
    await expect(store.presignPut("../etc/passwd", { contentType: "text/plain", size: 1, expiresIn: 60 })).rejects.toThrow();
    await expect(store.presignGet("a/../../b", { expiresIn: 60 })).rejects.toThrow();
    const res = await fetch(`${server.url.origin}/v1/objects/..%2F..%2Fobjects-secret?exp=9999999999&sig=x`);
    expect(res.status).toBe(404);
  });

  test("downloads are served as attachments that a browser never runs", async () => {
    const k = key();
    const p = await store.presignPut(k, { contentType: "text/html", size: 20, expiresIn: 60, filename: 'x"y.html' });
    expect((await fetch(p.url, { method: "PUT", headers: p.headers, body: "<script>1</script>  " })).status).toBe(200);
    const res = await fetch(await store.presignGet(k, { expiresIn: 60, filename: 'x"y.html' }));
    expect(res.headers.get("content-disposition")).toStartWith('attachment; filename="x_y.html"');
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("content-security-policy")).toContain("sandbox");
    const head = await fetch(await store.presignGet(k, { expiresIn: 60 }), { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("20");
  });

  test("a 100 MiB upload streams to disk while it arrives, not after being buffered", async () => {
    const size = 100 * 1024 * 1024;
    const k = key();
    const p = await store.presignPut(k, { contentType: "video/mp4", size, expiresIn: 60 });
    const chunk = new Uint8Array(1024 * 1024).fill(7);
    const tmp = join(dir, "objects", ".tmp");
    const onDisk = () => readdirSync(tmp).reduce((n, f) => n + statSync(join(tmp, f)).size, 0);
    let sent = 0;
    let seenBeforeEnd = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (sent === size - chunk.length) {
          // Hold back the last MiB until the server has written most of the rest to disk:
          // a server that buffers the body never gets there.
          const deadline = Date.now() + 3000;
          while ((seenBeforeEnd = onDisk()) < size - 16 * chunk.length && Date.now() < deadline) await Bun.sleep(10);
        }
        if (sent >= size) return c.close();
        sent += chunk.length;
        c.enqueue(chunk);
      },
    });
    const res = await fetch(p.url, { method: "PUT", headers: p.headers, body });
    expect(res.status).toBe(200);
    expect(seenBeforeEnd).toBeGreaterThanOrEqual(size - 16 * chunk.length);
    expect((await store.stat(k))!.size).toBe(size);
    expect(existsSync(join(dir, "objects", ...k.split("/")))).toBe(true);
    expect(readdirSync(tmp)).toEqual([]);
  });
});
