import { join } from "node:path";
import type { Logger } from "@chat/common/log";

/** The web app (web/, Preact on @chat/client), bundled once in memory on first use and served at `/`. */
export interface WebApp {
  handle(req: Request): Promise<Response>;
  /** Builds now (start-up), so the first visitor does not wait. */
  ready(): Promise<void>;
}

interface Asset {
  body: Uint8Array;
  gzip: Uint8Array;
  type: string;
  immutable: boolean;
}

export const WEB_ROOT = join(import.meta.dir, "..", "..", "web");

// The app talks to its own origin only; presigned uploads may go to an S3 endpoint elsewhere.
const CSP = [
  "default-src 'self'",
  "connect-src 'self' ws: wss: http: https:",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "style-src 'self'",
  "script-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");
const SECURITY = { "content-security-policy": CSP, "x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "x-frame-options": "DENY" };

const notFound = () => Response.json({ error: { code: "not_found", message: "no such route" } }, { status: 404 });

export function createWebApp(logger: Logger, root = WEB_ROOT): WebApp {
  let built: Promise<Map<string, Asset>> | undefined;
  const build = () =>
    (built ??= (async () => {
      const t0 = performance.now();
      const result = await Bun.build({ entrypoints: [join(root, "index.html")], minify: true, target: "browser", sourcemap: "none" });
      if (!result.success) throw new AggregateError(result.logs, "web app build failed");
      const assets = new Map<string, Asset>();
      for (const out of result.outputs) {
        const body = new Uint8Array(await out.arrayBuffer());
        const name = out.path.replace(/^\.\//, "/");
        const html = name.endsWith(".html");
        assets.set(html ? "/" : name, { body, gzip: Bun.gzipSync(body), type: out.type, immutable: !html });
      }
      logger.info("web app built", { ms: Math.round(performance.now() - t0), files: assets.size });
      return assets;
    })().catch((err) => {
      built = undefined; // a later request tries again
      throw err;
    }));

  return {
    ready: async () => void (await build()),
    async handle(req) {
      const path = new URL(req.url).pathname;
      let assets: Map<string, Asset>;
      try {
        assets = await build();
      } catch (err) {
        logger.error("web app unavailable", { err });
        return Response.json({ error: { code: "unavailable", message: "the web app could not be built" } }, { status: 503 });
      }
      const asset = assets.get(path === "/index.html" ? "/" : path);
      if (!asset) return notFound();
      if (req.method !== "GET" && req.method !== "HEAD")
        return Response.json({ error: { code: "validation", message: "method not allowed" } }, { status: 405, headers: { allow: "GET, HEAD" } });
      const gzip = /\bgzip\b/.test(req.headers.get("accept-encoding") ?? "");
      const headers: Record<string, string> = {
        ...SECURITY,
        "content-type": asset.type,
        "cache-control": asset.immutable ? "public, max-age=31536000, immutable" : "no-cache",
        vary: "accept-encoding",
      };
      if (gzip) headers["content-encoding"] = "gzip";
      return new Response(req.method === "HEAD" ? null : gzip ? asset.gzip : asset.body, { headers });
    },
  };
}
