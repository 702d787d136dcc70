import { Elysia } from "elysia";
import type { ManagementDeps } from "../context";

/** Liveness, readiness (each dependency checked) and Prometheus metrics. */
export const opsRoutes = (deps: ManagementDeps) =>
  new Elysia({ name: "ops" })
    .get("/health", () => ({ data: { status: "ok" } }), { detail: { tags: ["ops"], summary: "Liveness" } })
    .get(
      "/ready",
      async ({ set }) => {
        const results = await Promise.all(
          Object.entries(deps.checks).map(async ([name, check]) => {
            try {
              await Promise.race([check(), new Promise((_, rej) => setTimeout(() => rej(new Error("timeout")), 2000))]);
              return [name, "ok"] as const;
            } catch {
              return [name, "down"] as const;
            }
          }),
        );
        const checks = Object.fromEntries(results);
        const ready = results.every(([, s]) => s === "ok");
        if (!ready) {
          set.status = 503;
          return { error: { code: "unavailable", message: "not ready" }, checks };
        }
        return { data: { status: "ready", checks } };
      },
      { detail: { tags: ["ops"], summary: "Readiness of every dependency" } },
    )
    .get(
      "/metrics",
      async ({ headers, set }) => {
        if (deps.config.metricsToken && headers.authorization !== `Bearer ${deps.config.metricsToken}`) {
          set.status = 401;
          return { error: { code: "unauthenticated", message: "metrics token required" } };
        }
        set.headers["content-type"] = deps.metrics.registry.contentType;
        return deps.metrics.registry.metrics();
      },
      { detail: { tags: ["ops"], summary: "Prometheus metrics" } },
    );
