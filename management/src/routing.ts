/**
 * The methods each known path serves, read from the app's own routes, for the 405's `Allow`
 * (PROTOCOL §8). Paths match segment by segment as given (no normalising): `:param` takes one
 * non-empty segment, a final `*` the rest; a path no route has stays a 404.
 */
export class AllowedMethods {
  private table: { segments: string[]; rest: boolean; methods: Set<string> }[] = [];

  load(routes: readonly { method: string; path: string }[]): void {
    const byPath = new Map<string, Set<string>>();
    for (const r of routes) {
      const method = r.method.toUpperCase();
      if (method === "WS" || method === "ALL") continue;
      const methods = byPath.get(r.path) ?? new Set<string>();
      methods.add(method);
      if (method === "GET") methods.add("HEAD"); // the router answers HEAD from the GET handler
      byPath.set(r.path, methods);
    }
    this.table = [...byPath].map(([path, methods]) => {
      const segments = path.split("/");
      const rest = segments.at(-1) === "*";
      return { segments: rest ? segments.slice(0, -1) : segments, rest, methods };
    });
  }

  /** The methods served at `pathname`, sorted; empty when no route has this path. */
  for(pathname: string): string[] {
    const parts = pathname.split("/");
    const out = new Set<string>();
    for (const route of this.table) if (matches(route.segments, route.rest, parts)) for (const m of route.methods) out.add(m);
    return [...out].sort();
  }
}

function matches(segments: string[], rest: boolean, parts: string[]): boolean {
  if (rest ? parts.length < segments.length : parts.length !== segments.length) return false;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (s.startsWith(":") ? parts[i] === "" : s !== parts[i]) return false;
  }
  return true;
}

/**
 * Elysia finds the path in `request.url` by searching for "/" from index 11, assuming a host of at least
 * four characters: with `Host: x`, `http://x/v1/health` is routed as `/health` (and `/v1/v1/teams` as
 * `/v1/teams`). A request whose host is shorter gets a placeholder host, so the path routed is the path sent.
 */
export function routable(req: Request): Request {
  const url = req.url;
  const scheme = url.indexOf("://");
  const path = url.indexOf("/", scheme + 3);
  if (scheme === -1 || path === -1 || path >= 11) return req;
  return new Request(`http://invalid${url.slice(path)}`, req);
}

const PRINTABLE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Why the query is refused when a parameter is given twice (PROTOCOL §8: no "last one wins"), else undefined. */
export function repeatedQueryParameter(url: string): string | undefined {
  const seen = new Set<string>();
  for (const name of new URL(url).searchParams.keys()) {
    if (seen.has(name)) return PRINTABLE_NAME.test(name) ? `query parameter "${name}" repeated` : "a query parameter is repeated";
    seen.add(name);
  }
  return undefined;
}
