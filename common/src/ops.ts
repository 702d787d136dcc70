import type { Metrics } from "./metrics";

export interface OpsDeps {
  metrics: Metrics;
  metricsToken?: string;
  checks: Record<string, () => Promise<void>>;
}

async function readiness(checks: OpsDeps["checks"]): Promise<Response> {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        await Promise.race([check(), Bun.sleep(2000).then(() => Promise.reject(new Error("timeout")))]);
        return [name, "ok"] as const;
      } catch {
        return [name, "down"] as const;
      }
    }),
  );
  const checksOut = Object.fromEntries(results);
  return results.every(([, s]) => s === "ok")
    ? Response.json({ data: { status: "ready", checks: checksOut } })
    : Response.json({ error: { code: "unavailable", message: "not ready" }, checks: checksOut }, { status: 503 });
}

/** /v1/health, /v1/ready and /v1/metrics for the relay and controller processes (management serves its own). */
export async function opsFetch(req: Request, deps: OpsDeps): Promise<Response | undefined> {
  const path = new URL(req.url).pathname;
  if (req.method !== "GET") return undefined;
  if (path === "/v1/health") return Response.json({ data: { status: "ok" } });
  if (path === "/v1/ready") return readiness(deps.checks);
  if (path === "/v1/metrics") {
    if (deps.metricsToken && req.headers.get("authorization") !== `Bearer ${deps.metricsToken}`)
      return Response.json({ error: { code: "unauthenticated", message: "metrics token required" } }, { status: 401 });
    return new Response(await deps.metrics.registry.metrics(), { headers: { "content-type": deps.metrics.registry.contentType } });
  }
  return undefined;
}
