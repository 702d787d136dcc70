import { errorResponse } from "./errors";
import { safeUrl } from "./http/errors";
import type { Metrics } from "./metrics";
import { withTimeout } from "./timeout";

export interface OpsDeps {
  metrics: Metrics;
  metricsToken?: string;
  checks: Record<string, () => Promise<void>>;
  /** Served on OPS_PORT, which only operators reach: metrics need no token there. */
  privatePort?: boolean;
}

const CHECK_TIMEOUT_MS = 2000;

/** Every check at once, each bounded by a timeout: one hung dependency cannot hang readiness. */
export async function runChecks(checks: OpsDeps["checks"]) {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        await withTimeout(check(), CHECK_TIMEOUT_MS, name);
        return [name, "ok"] as const;
      } catch {
        return [name, "down"] as const;
      }
    }),
  );
  return { checks: Object.fromEntries(results) as Record<string, "ok" | "down">, ready: results.every(([, s]) => s === "ok") };
}

async function readiness(checks: OpsDeps["checks"]): Promise<Response> {
  const { checks: out, ready } = await runChecks(checks);
  return ready
    ? Response.json({ data: { status: "ready", checks: out } })
    : errorResponse("unavailable", "not ready", { fields: { checks: out } });
}

const notFound = () => errorResponse("not_found", "no such route");

/**
 * True when /v1/metrics may be read: always on the private ops port (OPS_PORT); on a public port
 * only with `Authorization: Bearer <METRICS_TOKEN>`, so metrics are never public by default.
 */
export function metricsAllowed(token: string | undefined, authorization: string | null | undefined, privatePort = false): boolean {
  return privatePort || (token !== undefined && authorization === `Bearer ${token}`);
}

/** /v1/health, /v1/ready and /v1/metrics for the relay and controller processes (management serves its own); 404 otherwise. */
export async function opsFetch(req: Request, deps: OpsDeps): Promise<Response> {
  const path = safeUrl(req)?.pathname;
  if (req.method !== "GET") return notFound();
  if (path === "/v1/health") return Response.json({ data: { status: "ok" } });
  if (path === "/v1/ready") return readiness(deps.checks);
  if (path === "/v1/metrics") {
    if (!metricsAllowed(deps.metricsToken, req.headers.get("authorization"), deps.privatePort))
      return errorResponse("unauthenticated", "metrics token required");
    return new Response(await deps.metrics.registry.metrics(), { headers: { "content-type": deps.metrics.registry.contentType } });
  }
  return notFound();
}
