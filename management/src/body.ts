import { parseJsonRequest } from "@chat/common/http/json";

/**
 * The body parser of every JSON route: the one safe parser of common/src/http (the edge's), not the
 * router's. `application/json` only (415), at most LIMIT_JSON_BODY_BYTES (64 KiB), declared or streamed (413), valid UTF-8 and JSON,
 * no `__proto__`/`constructor`/`prototype` key at any depth (400): Elysia's own parser handed a route a body
 * whose prototype the `__proto__` key had set. Listed before "json" in a route's `parse`, which then only
 * names the media type for the OpenAPI document; an empty body stands for `{}` where `allowEmpty`.
 */
export const jsonBody =
  (limit: number, opts: { allowEmpty?: boolean } = {}) =>
  async ({ request }: { request: Request }): Promise<unknown> => {
    const parsed = await parseJsonRequest(request, { limit, allowEmpty: opts.allowEmpty });
    if (!parsed.ok) throw parsed.error;
    return parsed.value === undefined ? {} : parsed.value;
  };
