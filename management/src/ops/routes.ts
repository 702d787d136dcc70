import { Elysia, t } from "elysia";
import { errorBody } from "@chat/common/errors";
import { metricsAllowed, runChecks } from "@chat/common/ops";
import type { ManagementDeps } from "../context";
import { ErrorBody, errorModels } from "../envelope";

const Checks = t.Record(t.String(), t.UnionEnum(["ok", "down"]), { description: "each dependency by name" });
const open = { security: [] as Record<string, string[]>[], tags: ["ops"] };

/** Liveness, readiness (each dependency checked) and Prometheus metrics. */
export const opsRoutes = (deps: ManagementDeps) =>
  new Elysia({ name: "ops" })
    .model(errorModels)
    .get("/health", () => ({ data: { status: "ok" as const } }), {
      response: { 200: t.Object({ data: t.Object({ status: t.Literal("ok") }) }) },
      detail: { ...open, summary: "Liveness: the process answers" },
    })
    .get(
      "/ready",
      async ({ set }) => {
        const { checks, ready } = await runChecks(deps.checks);
        if (!ready) {
          set.status = 503;
          return { ...errorBody("unavailable", "not ready"), checks };
        }
        return { data: { status: "ready" as const, checks } };
      },
      {
        response: {
          200: t.Object({ data: t.Object({ status: t.Literal("ready"), checks: Checks }) }),
          503: t.Object({ ...ErrorBody.properties, checks: Checks }, { description: "some dependency is down" }),
        },
        detail: { ...open, summary: "Readiness: every dependency (log, database, object store) answers" },
      },
    )
    .get(
      "/metrics",
      async ({ headers, set }) => {
        if (!metricsAllowed(deps.config.metricsToken, headers.authorization)) {
          set.status = 401;
          return errorBody("unauthenticated", "metrics token required");
        }
        set.headers["content-type"] = deps.metrics.registry.contentType;
        return deps.metrics.registry.metrics();
      },
      {
        response: { 200: t.String({ description: "Prometheus text format" }), 401: "Error" },
        detail: { ...open, summary: "Prometheus metrics (bearer METRICS_TOKEN when configured)" },
      },
    );
