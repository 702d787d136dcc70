import { Elysia } from "elysia";
import type { ManagementDeps } from "./context";
import { errorEnvelope } from "./envelope";
import { messageRoutes } from "./messages/routes";
import { opsRoutes } from "./ops/routes";
import { teamRoutes } from "./teams/routes";
import { TeamService } from "./teams/service";

/** The REST API under /v1, as one Elysia app; `handle(Request)` serves it in any host. */
export function createManagementApp(deps: ManagementDeps) {
  const teams = new TeamService(deps.teams, deps.log, deps.logger);
  const requestLog = deps.logger.child({ component: "http" });
  const started = new WeakMap<Request, number>();
  return new Elysia({ prefix: "/v1", normalize: false })
    .onRequest(({ request }) => {
      started.set(request, performance.now());
    })
    .onAfterResponse(({ request, route, set }) => {
      const status = typeof set.status === "number" ? set.status : 200;
      const seconds = (performance.now() - (started.get(request) ?? performance.now())) / 1000;
      const r = route || "unmatched";
      deps.metrics.httpRequests.inc({ method: request.method, route: r, status: String(status) });
      deps.metrics.httpSeconds.observe({ method: request.method, route: r }, seconds);
      requestLog.info("request", { method: request.method, route: r, status, ms: Math.round(seconds * 1000) });
    })
    .use(errorEnvelope(deps.logger))
    .use(opsRoutes(deps))
    .use(teamRoutes(deps, teams))
    .use(messageRoutes(deps, teams));
}
export type ManagementApp = ReturnType<typeof createManagementApp>;
