import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { access, constants, mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { contentDisposition, isObjectKey } from "../attachments";
import { AppError, errorResponse } from "../errors";
import type { Logger } from "../log";
import type { ObjectInfo, ObjectStore, PresignedPut } from "../ports";
import { readOrCreateSecretFile } from "../secret-file";

export interface FsObjectStoreOptions {
  /** Where objects live (DATA_DIR/objects). */
  dir: string;
  /** Signing secret, or the file holding it (created with mode 0600 on first use). */
  secret?: string;
  secretFile?: string;
  /** Public origin of the process serving the URLs; without it URLs are paths the host resolves. */
  baseUrl?: string;
  /** Where the host mounts `serve`. */
  pathPrefix?: string;
  logger?: Logger;
  /** Clock in ms, for tests. */
  now?: () => number;
}

interface Meta {
  size: number;
  contentType: string;
  filename?: string;
}

/**
 * Standalone attachments: files under DATA_DIR/objects, behind presigned URLs that this
 * process serves itself. A URL is `<prefix>/<key>?...&exp=<unix s>&sig=<HMAC-SHA256>`, the MAC
 * covering method, key, expiry and — for uploads — the exact content type, size and filename,
 * so a URL grants one kind of request on one object until it expires, and nothing else.
 */
export class FsObjectStore implements ObjectStore {
  readonly pathPrefix: string;
  private readonly key: Buffer;
  private readonly tmp: string;
  private readonly now: () => number;

  constructor(private readonly opts: FsObjectStoreOptions) {
    this.pathPrefix = (opts.pathPrefix ?? "/v1/objects").replace(/\/+$/, "");
    this.now = opts.now ?? Date.now;
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    // Half-written uploads of a previous run are garbage: they were never renamed into place.
    this.tmp = join(opts.dir, ".tmp");
    rmSync(this.tmp, { recursive: true, force: true });
    mkdirSync(this.tmp, { mode: 0o700 });
    const secret = opts.secret ?? readOrCreateSecretFile(opts.secretFile ?? join(opts.dir, ".signing-secret"), 32);
    this.key = createHmac("sha256", secret).update("chat/fs-objects/url-signing/v1").digest();
  }

  async presignPut(key: string, o: { contentType: string; size: number; expiresIn: number; filename?: string }): Promise<PresignedPut> {
    checkKey(key);
    const exp = this.expiry(o.expiresIn);
    const q = new URLSearchParams({ ct: o.contentType, size: String(o.size) });
    if (o.filename) q.set("fn", o.filename);
    q.set("exp", String(exp));
    q.set("sig", this.sign(["PUT", key, exp, o.contentType, o.size, o.filename ?? ""]));
    return { url: this.url(key, q), headers: { "content-type": o.contentType }, expiresAt: new Date(exp * 1000) };
  }

  async presignGet(key: string, o: { expiresIn: number; filename?: string }): Promise<string> {
    checkKey(key);
    const exp = this.expiry(o.expiresIn);
    const q = new URLSearchParams();
    if (o.filename) q.set("fn", o.filename);
    q.set("exp", String(exp));
    q.set("sig", this.sign(["GET", key, exp, o.filename ?? ""]));
    return this.url(key, q);
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    checkKey(key);
    const meta = await this.readMeta(key);
    if (!meta) return null;
    const s = await stat(this.path(key)).catch(() => null);
    return s ? { ...meta, size: s.size } : null;
  }

  async serve(request: Request): Promise<Response> {
    try {
      return await this.handle(request);
    } catch (err) {
      if (err instanceof AppError) return errorResponse(err.code, err.message);
      this.opts.logger?.error("object request failed", { method: request.method, err });
      return errorResponse("internal", "internal error");
    }
  }

  async ping(): Promise<void> {
    await access(this.opts.dir, constants.R_OK | constants.W_OK);
  }

  async close(): Promise<void> {}

  private async handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (!url.pathname.startsWith(this.pathPrefix + "/")) throw new AppError("not_found", "no such object");
    let key: string;
    try {
      key = decodeURIComponent(url.pathname.slice(this.pathPrefix.length + 1));
    } catch {
      throw new AppError("not_found", "no such object");
    }
    if (!isObjectKey(key)) throw new AppError("not_found", "no such object");
    const q = url.searchParams;
    const exp = Number(q.get("exp"));
    const fn = q.get("fn") ?? "";
    if (request.method === "PUT") {
      const ct = q.get("ct") ?? "";
      const size = Number(q.get("size"));
      this.verify(q.get("sig"), ["PUT", key, exp, ct, size, fn], exp);
      return this.receive(request, key, { contentType: ct, size, filename: fn || undefined });
    }
    if (request.method === "GET" || request.method === "HEAD") {
      this.verify(q.get("sig"), ["GET", key, exp, fn], exp);
      return this.send(key, fn || undefined, request.method === "HEAD");
    }
    return errorResponse("validation", "method not allowed", { status: 405, headers: { allow: "GET, HEAD, PUT" } });
  }

  /** Streams the body to a temporary file, counting bytes against the signed size, then renames it into place. */
  private async receive(request: Request, key: string, meta: Meta): Promise<Response> {
    const got = (request.headers.get("content-type") ?? "").trim().toLowerCase();
    if (got !== meta.contentType) throw new AppError("validation", `content-type must be ${meta.contentType}`);
    const declared = request.headers.get("content-length");
    if (declared !== null) {
      const n = Number(declared);
      if (n > meta.size) throw new AppError("too_large", `body must be exactly ${meta.size} bytes`);
      if (n !== meta.size) throw new AppError("validation", `body must be exactly ${meta.size} bytes`);
    }
    const tmp = join(this.tmp, randomBytes(12).toString("hex"));
    const file = await open(tmp, "wx", 0o600);
    let n = 0;
    try {
      if (request.body) {
        for await (const chunk of request.body) {
          n += chunk.byteLength;
          if (n > meta.size) throw new AppError("too_large", `body must be exactly ${meta.size} bytes`);
          for (let off = 0; off < chunk.byteLength; ) off += (await file.write(chunk, off)).bytesWritten;
        }
      }
      if (n !== meta.size) throw new AppError("validation", `body must be exactly ${meta.size} bytes, got ${n}`);
      await file.sync();
      await file.close();
      const path = this.path(key);
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await rename(tmp, path);
      const metaTmp = tmp + ".meta";
      await Bun.write(metaTmp, JSON.stringify(meta));
      await rename(metaTmp, path + ".meta");
      return new Response(null, { status: 200 });
    } catch (err) {
      await file.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw err;
    }
  }

  private async send(key: string, filename: string | undefined, headOnly: boolean): Promise<Response> {
    const meta = await this.readMeta(key);
    const file = Bun.file(this.path(key));
    if (!meta || !(await file.exists())) throw new AppError("not_found", "no such object");
    const headers = {
      "content-type": meta.contentType,
      "content-length": String(file.size),
      "content-disposition": contentDisposition(filename ?? meta.filename),
      // User content on the API's origin: never sniffed, never run as a page.
      "x-content-type-options": "nosniff",
      "content-security-policy": "default-src 'none'; sandbox",
      "cache-control": "private, max-age=60",
    };
    return new Response(headOnly ? null : file, { status: 200, headers });
  }

  private async readMeta(key: string): Promise<Meta | null> {
    try {
      return JSON.parse(await readFile(this.path(key) + ".meta", "utf8")) as Meta;
    } catch {
      return null;
    }
  }

  private path(key: string): string {
    return join(this.opts.dir, ...key.split("/"));
  }

  private url(key: string, q: URLSearchParams): string {
    return `${this.opts.baseUrl?.replace(/\/+$/, "") ?? ""}${this.pathPrefix}/${key}?${q}`;
  }

  /** Ends on a whole second at least `expiresIn` seconds from now. */
  private expiry(expiresIn: number): number {
    return Math.ceil(this.now() / 1000 + expiresIn);
  }

  private sign(fields: (string | number)[]): string {
    return createHmac("sha256", this.key).update(JSON.stringify(fields)).digest("base64url");
  }

  private verify(sig: string | null, fields: (string | number)[], exp: number): void {
    const want = Buffer.from(this.sign(fields));
    const got = Buffer.from(sig ?? "");
    if (got.length !== want.length || !timingSafeEqual(got, want)) throw new AppError("forbidden", "invalid signature");
    if (!Number.isSafeInteger(exp) || this.now() > exp * 1000) throw new AppError("forbidden", "URL expired");
  }
}

function checkKey(key: string): void {
  if (!isObjectKey(key)) throw new AppError("validation", "invalid object key");
}



