import { describe, expect, test } from "bun:test";
import { waitFor } from "@chat/common/contracts/wait";
import { backends, createHarness, uploadAttachment, type Harness } from "./harness";

/**
 * onAfterResponse counts and logs a request once its response is handed back, a tick after
 * `handle` resolves: wait until `n` requests are in the request log (the same hook counts them).
 */
const requestsLogged = (h: Harness, n: number) =>
  waitFor(() => h.logger.lines.filter((l) => l.msg === "request").length >= n, `${n} requests in the request log`);

describe("request metrics and the request log", () => {
  test("every request is counted by route and status, timed, and logged once — errors and redirects included", async () => {
    const h = await createHarness(backends[0]!);
    const S = h.user("s");
    const team = await h.seedTeam({ super_admin: S });
    const attachment = await uploadAttachment(h, S, team.id, new Uint8Array([1, 2, 3]));
    await requestsLogged(h, 2); // create and upload
    h.logger.lines.length = 0;

    await h.call("POST", "/v1/teams", { as: S, body: { name: "Counted" } });
    await h.call("POST", "/v1/teams", { as: S, body: { name: "Counted", x: 1 } });
    await h.call("GET", `/v1/teams/${team.id}`);
    await h.call("GET", `/v1/teams/${team.id}`, { as: h.user("outsider") });
    await h.call("GET", `/v1/attachments/${attachment}`, { as: S });
    await h.call("GET", "/v1/no/such/route");
    await h.call("PUT", `/v1/objects/${attachment}?exp=1&sig=forged`, { raw: "x", headers: { "content-type": "text/plain" } });
    await requestsLogged(h, 7);

    const text = await h.metrics.registry.metrics();
    for (const line of [
      'chat_http_requests_total{method="POST",route="/v1/teams",status="201"} 1',
      'chat_http_requests_total{method="POST",route="/v1/teams",status="400"} 1',
      'chat_http_requests_total{method="GET",route="/v1/teams/:id",status="401"} 1',
      'chat_http_requests_total{method="GET",route="/v1/teams/:id",status="403"} 1',
      'chat_http_requests_total{method="GET",route="/v1/attachments/:team_id/:id",status="302"} 1',
      'chat_http_requests_total{method="GET",route="unmatched",status="404"} 1',
      'chat_http_requests_total{method="PUT",route="/v1/objects/*",status="200"} 1',
      // A handler answering with a Response of its own is counted with that Response's status.
      'chat_http_requests_total{method="PUT",route="/v1/objects/*",status="403"} 1',
      'chat_http_request_seconds_count{method="POST",route="/v1/teams"} 2',
    ])
      expect(text).toContain(line);

    const logged = h.logger.lines.filter((l) => l.msg === "request").map((l) => `${l.method} ${l.route} ${l.status}`);
    expect(logged).toEqual([
      "POST /v1/teams 201",
      "POST /v1/teams 400",
      "GET /v1/teams/:id 401",
      "GET /v1/teams/:id 403",
      "GET /v1/attachments/:team_id/:id 302",
      "GET unmatched 404",
      "PUT /v1/objects/* 403",
    ]);
    for (const l of h.logger.lines.filter((l) => l.msg === "request")) expect(l.ms).toBeNumber();
    // Bearer tokens never reach the log.
    expect(JSON.stringify(h.logger.lines)).not.toContain(await h.token(S));
    await h.close();
  });

  test("/v1/metrics is Prometheus text for the bearer of METRICS_TOKEN, and never public", async () => {
    const closed = await createHarness(backends[0]!);
    expect((await closed.send(new Request("http://localhost/v1/metrics"))).status).toBe(401);
    await closed.close();

    const locked = await createHarness(backends[0]!, { env: { METRICS_TOKEN: "m-secret-0123456789" } });
    expect((await locked.call("GET", "/v1/metrics")).status).toBe(401);
    expect((await locked.call("GET", "/v1/metrics", { token: "other-secret-0123456789" })).status).toBe(401);
    const r = await locked.call("GET", "/v1/metrics", { token: "m-secret-0123456789" });
    expect(r.status).toBe(200);
    expect(r.text).toContain("# TYPE chat_http_requests_total counter");
    await locked.close();
  });
});

describe("readiness", () => {
  test("checks every dependency, and names the ones that are down or hung", async () => {
    const h = await createHarness(backends[0]!);
    const ok = await h.call("GET", "/v1/ready");
    expect([ok.status, ok.json.data.checks]).toEqual([200, { database: "ok", log: "ok" }]);
    await h.close();

    const down = await createHarness(backends[0]!, {
      checks: {
        database: async () => {},
        log: () => Promise.reject(new Error("closed")),
        objects: () => new Promise(() => {}),
      },
    });
    const started = Date.now();
    const r = await down.call("GET", "/v1/ready");
    expect(Date.now() - started).toBeLessThan(4000);
    expect([r.status, r.json.error.code, r.json.checks]).toEqual([503, "unavailable", { database: "ok", log: "down", objects: "down" }]);
    // Liveness does not depend on them.
    expect((await down.call("GET", "/v1/health")).status).toBe(200);
    await down.close();
  });

  test("a closed store makes the process unready", async () => {
    const h = await createHarness(backends[0]!);
    await h.store.close();
    const r = await h.call("GET", "/v1/ready");
    expect([r.status, r.json.checks.database]).toEqual([503, "down"]);
  });
});
