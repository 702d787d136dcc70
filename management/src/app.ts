import { Elysia } from "elysia";
import { AppError } from "@chat/common/errors";
import { attachmentRoutes, objectRoutes } from "./attachments/routes";
import type { ManagementDeps } from "./context";
import { devLoginRoutes } from "./dev/login";
import { docsAssetRoutes, docsRoutes } from "./docs";
import { errorEnvelope } from "./envelope";
import { messageRoutes } from "./messages/routes";
import { opsRoutes } from "./ops/routes";
import { AllowedMethods, repeatedQueryParameter } from "./routing";
import { presenceRoutes } from "./presence/routes";
import { teamRoutes } from "./teams/routes";
import { TeamService } from "./teams/service";

/** The REST API under /v1, as one Elysia app; `handle(Request)` serves it in any host. */
export function createManagementApp(deps: ManagementDeps) {
  const teams = new TeamService(deps.teams, deps.log, deps.logger);
  const requestLog = deps.logger.child({ component: "http" });
  const started = new WeakMap<Request, number>();
  const objects = deps.objects;
  if (objects?.serve && !objects.pathPrefix?.startsWith("/v1/")) throw new Error("the object store must serve its URLs under /v1/");
  const allowed = new AllowedMethods();

  const app = (
    new Elysia({ prefix: "/v1", normalize: false, strictPath: true })
      .onRequest(({ request }) => {
        started.set(request, performance.now());
      })
      // Runs once the response has been handed to the server, so a caller awaiting `handle` may see it a tick later.
      .onAfterResponse(({ request, route, set, responseValue }) => {
        const status = responseValue instanceof Response ? responseValue.status : typeof set.status === "number" ? set.status : 200;
        const seconds = (performance.now() - (started.get(request) ?? performance.now())) / 1000;
        const r = route || "unmatched";
        deps.metrics.httpRequests.inc({ method: request.method, route: r, status: String(status) });
        deps.metrics.httpSeconds.observe({ method: request.method, route: r }, seconds);
        requestLog.info("request", { method: request.method, route: r, status, ms: Math.round(seconds * 1000) });
      })
      .use(errorEnvelope(deps.logger, allowed))
      // After authentication and the route's own validation (401 → 400), before any handler.
      .onBeforeHandle({ as: "global" }, ({ request }) => {
        const repeated = repeatedQueryParameter(request.url);
        if (repeated) throw new AppError("validation", repeated);
      })
      .use(docsRoutes())
      .use(docsAssetRoutes(deps.config))
      .use(opsRoutes(deps))
      .use(teamRoutes(deps, teams))
      .use(messageRoutes(deps, teams))
      .use(presenceRoutes(deps, teams))
      .use(attachmentRoutes(deps, teams, objects))
      .use(deps.devLogin ? devLoginRoutes(deps.devLogin) : new Elysia({ name: "dev-login-off" }))
      .use(objects?.serve ? objectRoutes(objects as Parameters<typeof objectRoutes>[0]) : new Elysia({ name: "objects-off" }))
  );
  allowed.load(app.routes);
  return app;
}
export type ManagementApp = ReturnType<typeof createManagementApp>;
