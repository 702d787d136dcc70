// The HTTP edge of the public port (PROTOCOL §1, §4, §5, §7, §8): malformed requests only raw bytes can make,
// refusals before authentication, URLs built from configuration, CORS, the REST rate limit, private metrics,
// one process per DATA_DIR.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { api, createTeam, startStandalone, uniqueUser, type Target } from "../harness";
import { useTarget } from "../target";
import { distributed, expectEnvelope, expectNoLeak, hostOf, rawHttp, rest, table } from "./corpus";

setDefaultTimeout(60_000);
const t = useTarget();

let owner: string;
let token: string;
let team: string;
beforeAll(async () => {
  owner = uniqueUser("edge");
  team = await createTeam(t, owner);
  token = await t.token(owner);
});

interface RawCase {
  name: string;
  /** The raw request, given a team of its own (the case may try to change it). */
  request: (team: string) => string;
  /** The status, and whether the body must be the JSON envelope (Bun answers some requests itself, without a body). */
  status: number;
  envelope: boolean;
}
const line = (method: string, path: string, host: string | null, extra = "") =>
  `${method} ${path} HTTP/1.1\r\n${host === null ? "" : `Host: ${host}\r\n`}Authorization: Bearer ${token}\r\n${extra}Connection: close\r\n\r\n`;

const RAW: RawCase[] = [
  { name: "no Host header: Bun's own bare 400, never a page", request: () => line("GET", "/v1/teams", null), status: 400, envelope: false },
  { name: "a one-letter Host routes the path as sent", request: () => line("GET", "/v1/health", "x"), status: 200, envelope: false },
  { name: "a one-letter Host cannot shift /v1/v1/teams onto /v1/teams", request: () => line("GET", "/v1/v1/teams", "x"), status: 404, envelope: true },
  {
    name: "unauthenticated chunked body over 64 KiB",
    request: () =>
      `POST /v1/teams HTTP/1.1\r\nHost: ${hostOf(t)}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
      `4000\r\n${"x".repeat(0x4000)}\r\n`.repeat(5) +
      "0\r\n\r\n",
    status: 413,
    envelope: true,
  },
  {
    name: "unauthenticated declared Content-Length of 100 MB, no body sent",
    request: () => `POST /v1/teams HTTP/1.1\r\nHost: ${hostOf(t)}\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\nConnection: close\r\n\r\n`,
    status: 413,
    envelope: true,
  },
  ...(["PUT", "PROPFIND", "TRACE", "OPTIONS"] as const).map((m): RawCase => ({ name: `${m} on a known path: 405 with Allow`, request: () => line(m, "/v1/teams", hostOf(t), "Content-Length: 0\r\n"), status: 405, envelope: true })),
];
/** Malformed Host headers and dot segments. */
const RAW_HOSTS: RawCase[] = [
  { name: "Host: [::1", request: () => line("GET", "/v1/teams", "[::1"), status: 400, envelope: true },
  { name: "an empty Host", request: () => line("GET", "/v1/teams", ""), status: 400, envelope: true },
  { name: "Host with a space", request: () => line("GET", "/v1/health", "a b"), status: 400, envelope: true },
  { name: "Host with a port out of range", request: () => line("GET", "/v1/health", "localhost:99999"), status: 400, envelope: true },
  { name: "two Host headers", request: () => line("GET", "/v1/health", hostOf(t), `Host: evil.example\r\n`), status: 400, envelope: true },
  // Bun resolves dot segments (%2e too) before any handler, as any URL parser would: `..` never reaches a route
  // as a user id, and the path it resolves to matches only the route it spells (no trailing-slash match);
  // `/v1/teams/x/../<team>` is simply `/v1/teams/<team>`, with that route's own rules.
  { name: "DELETE …/members/.. (raw dot segment): resolves to …/:id/, no route", request: (team) => line("DELETE", `/v1/teams/${team}/members/..`, hostOf(t)), status: 404, envelope: true },
  { name: "DELETE …/members/. (raw dot segment): no route", request: (team) => line("DELETE", `/v1/teams/${team}/members/.`, hostOf(t)), status: 404, envelope: true },
  { name: "DELETE …/members/%2e%2e: no route", request: (team) => line("DELETE", `/v1/teams/${team}/members/%2e%2e`, hostOf(t)), status: 404, envelope: true },
];

async function runRaw(c: RawCase): Promise<void> {
  const team = await createTeam(t, owner);
  const r = await rawHttp(t, c.request(team));
  expect({ name: c.name, status: r.status }).toEqual({ name: c.name, status: c.status });
  expectNoLeak(c.name, r.raw);
  if (c.envelope) {
    expect(r.headers.get("content-type")?.split(";")[0]).toBe("application/json");
    expect(typeof JSON.parse(r.body).error.code).toBe("string");
  }
  // Whatever the request, the team is still there and active.
  const after = await api(t, "GET", `/v1/teams/${team}`, token);
  expect([after.status, after.body.data.active, after.body.data.members]).toEqual([200, true, [owner]]);
}

describe("raw requests", () => {
  // Through nginx these meet nginx's own error pages first (400 without Host, 413 over client_max_body_size): pending there.
  table("raw", distributed ? [] : [...RAW, ...RAW_HOSTS], runRaw, { cases: distributed ? [...RAW, ...RAW_HOSTS] : [], why: "through nginx, whose own answers come first" });

  test("a method token Bun does not know: the connection is closed or refused, never a page", async () => {
    const r = await rawHttp(t, line("FOO", "/v1/health", hostOf(t)));
    expect(Number.isNaN(r.status) || (r.status >= 400 && r.status < 500)).toBe(true);
    expectNoLeak("FOO", r.raw);
  });
});

describe("bodies and tokens", () => {
  test("unauthenticated big POST with a declared length: 413 before authentication", async () => {
    const r = await rest(t, "/v1/teams", { method: "POST", body: JSON.stringify({ name: "x".repeat(70 * 1024) }), headers: { "content-type": "application/json" } });
    expectEnvelope("declared", r, 413, "too_large");
  });

  test("unauthenticated big POST streamed without a length: 413 before authentication", async () => {
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= 1024 * 1024) return c.close();
        sent += 16 * 1024;
        c.enqueue(new Uint8Array(16 * 1024).fill(32));
      },
    });
    const r = await rest(t, "/v1/teams", { method: "POST", body: stream, headers: { "content-type": "application/json" } });
    expectEnvelope("streamed", r, 413, "too_large");
  });

  test("the REST rate limit: past the burst, 429 with Retry-After and the envelope", async () => {
    const user = uniqueUser("burst");
    const tok = await t.token(user);
    const answers = await Promise.all(Array.from({ length: 160 }, () => fetch(`${t.base}/v1/teams`, { headers: { authorization: `Bearer ${tok}` } })));
    const limited = answers.filter((r) => r.status === 429);
    expect(answers.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(100);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]!.headers.get("retry-after")).toMatch(/^[1-9][0-9]*$/);
    expect(((await limited[0]!.json()) as any).error.code).toBe("rate_limited");
    // Another user is not affected.
    expect((await fetch(`${t.base}/v1/teams`, { headers: { authorization: `Bearer ${await t.token(uniqueUser("other"))}` } })).status).toBe(200);
  });
});

describe("attachments", () => {
  const create = (headers: Record<string, string> = {}) =>
    rest(t, `/v1/teams/${team}/attachments`, { method: "POST", token, as: owner, body: { type: "file", content_type: "text/plain", size: 5, filename: "a.txt" }, headers });

  // Distributed mode uploads to S3, where the x-amz-meta-filename header is still required until the lead's change lands.
  test("an upload with only Content-Type succeeds", async () => {
    const r = await create();
    expect(r.status).toBe(201);
    const put = await fetch(r.json.data.upload_url, { method: "PUT", headers: { "content-type": "text/plain" }, body: "hello" });
    expect(put.status).toBe(200);
    const get = await fetch(`${t.base}/v1/attachments/${r.json.data.attachment_id}`, { headers: { authorization: `Bearer ${token}` } });
    expect(await get.text()).toBe("hello");
  });

  test("URLs handed out never come from the Host header", async () => {
    for (const host of ["evil.example", "evil.example:8080"]) {
      const r = await create({ host });
      expect(r.status).toBe(201);
      expect(r.json.data.upload_url).not.toContain("evil.example");
      const get = await fetch(`${t.base}/v1/attachments/${r.json.data.attachment_id}`, { headers: { authorization: `Bearer ${token}`, host }, redirect: "manual" });
      expect(get.headers.get("location") ?? "").not.toContain("evil.example");
    }
  });
});

describe("operations", () => {
  test("OpenAPI: integers are integers over the wire too", async () => {
    const doc = (await api(t, "GET", "/v1/openapi.json")).body;
    const text = JSON.stringify(doc);
    expect(text).not.toContain('"format":"integer"');
    expect(doc.components.schemas.Message.properties.seq.type).toBe("integer");
  });

  test("/v1/metrics is not public without its token", async () => {
    const r = await rest(t, "/v1/metrics");
    expect([401, 403, 404]).toContain(r.status);
    expect(r.text).not.toContain("chat_");
  });
});

// Standalone only: these need a process of their own with their own settings.
const standalone = distributed ? describe.skip : describe;
standalone("a second standalone process", () => {
  test("CORS: a listed origin's preflight is 204 with the allowed methods and headers; others get no Allow-Origin", async () => {
    const origin = "https://app.example.com";
    const other: Target = await startStandalone({ CORS_ORIGINS: origin });
    try {
      const preflight = (o: string) =>
        fetch(`${other.base}/v1/teams`, { method: "OPTIONS", headers: { origin: o, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" } });
      const ok = await preflight(origin);
      expect(ok.status).toBe(204);
      expect(ok.headers.get("access-control-allow-origin")).toBe(origin);
      expect(ok.headers.get("access-control-allow-methods")).toContain("POST");
      expect(ok.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
      for (const o of ["https://evil.example", "null", "https://app.example.com.evil.example"]) {
        const no = await preflight(o);
        expect({ o, acao: no.headers.get("access-control-allow-origin") }).toEqual({ o, acao: null });
        expect(no.status).not.toBe(204);
      }
      const simple = await fetch(`${other.base}/v1/health`, { headers: { origin: "https://evil.example" } });
      expect(simple.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      await other.stop();
    }
  });

  test("a second standalone on the same DATA_DIR exits naming the directory and the holder's pid", async () => {
    const dir = mkdtempSync(join(tmpdir(), "chat-lock-"));
    const first = await startStandalone({}, dir);
    try {
      const second = Bun.spawn(["bun", "standalone/main.ts"], {
        cwd: join(import.meta.dir, "..", ".."),
        env: { ...process.env, PORT: "0", HOST: "127.0.0.1", DATA_DIR: dir, AUTH_JWT_SECRET: "x".repeat(48) },
        stdout: "pipe",
        stderr: "pipe",
      });
      const exited = await Promise.race([second.exited, Bun.sleep(20_000).then(() => "still running" as const)]);
      if (exited === "still running") second.kill("SIGKILL");
      const out = (await new Response(second.stdout).text()) + (await new Response(second.stderr).text());
      expect({ exited, named: out.includes(dir) }).toEqual({ exited: expect.any(Number), named: true });
      expect(exited).not.toBe(0);
      expect(out).toMatch(/pid\D{0,3}\d+/i);
      expect((await api(first, "GET", "/v1/health")).status).toBe(200);
    } finally {
      await first.stop();
    }
  });
});

test("after the corpus: healthy, and a normal request works", async () => {
  expect((await api(t, "GET", "/v1/health")).status).toBe(200);
  const r = await api(t, "GET", `/v1/teams/${team}`, token);
  expect([r.status, r.body.data.active]).toEqual([200, true]);
});
