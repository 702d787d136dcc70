import { expect, test } from "bun:test";
import { ERROR_CODES, errorResponse, httpStatus } from "./errors";

test("errorResponse: the envelope with the catalog's status for every code", async () => {
  for (const code of ERROR_CODES) {
    const r = errorResponse(code, "why");
    expect([r.status, r.headers.get("content-type"), await r.json()]).toEqual([httpStatus[code], "application/json;charset=utf-8", { error: { code, message: "why" } }]);
  }
});

test("errorResponse: an HTTP-only status, headers and extra members; the envelope cannot be overwritten", async () => {
  const r = errorResponse("validation", "method not allowed", { status: 405, headers: { allow: "GET" }, fields: { checks: { db: "down" }, error: "spoof" } });
  expect([r.status, r.headers.get("allow"), await r.json()]).toEqual([405, "GET", { checks: { db: "down" }, error: { code: "validation", message: "method not allowed" } }]);
});
