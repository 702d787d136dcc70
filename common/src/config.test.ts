import { expect, test } from "bun:test";
import { ConfigError, loadConfig, settingsTable } from "./config";

test("defaults apply when nothing is set", () => {
  const c = loadConfig({});
  expect(c.port).toBe(8080);
  expect(c.limits.frameBytes).toBe(16384);
  expect(c.kafka).toBeUndefined();
});

test("a bad value stops start-up naming the variable, without echoing it", () => {
  expect(() => loadConfig({ PORT: "eighty" })).toThrow(/PORT/);
  expect(() => loadConfig({ AUTH_JWT_SECRET: "short-secret-value" })).toThrow(/AUTH_JWT_SECRET/);
  try {
    loadConfig({ AUTH_JWT_SECRET: "short-secret-value" });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect(String(e)).not.toContain("short-secret-value");
  }
  expect(() => loadConfig({ LOG_LEVEL: "chatty" })).toThrow(/LOG_LEVEL/);
  expect(() => loadConfig({ CONTROLLER_URLS: "ftp://x" })).toThrow(/CONTROLLER_URLS/);
});

test("values are converted and lists split", () => {
  const c = loadConfig({ PORT: "9000", KAFKA_BROKERS: "a:1, b:2", S3_ENDPOINT: "http://s3", S3_FORCE_PATH_STYLE: "false" });
  expect(c.port).toBe(9000);
  expect(c.kafka?.brokers).toEqual(["a:1", "b:2"]);
  expect(c.s3?.forcePathStyle).toBe(false);
});

test("team name, tag and history limits are settings with the protocol's defaults", () => {
  const d = loadConfig({}).limits;
  expect([d.teamName, d.metaTags, d.metaTagChars, d.historyPage]).toEqual([100, 20, 32, 100]);
  const c = loadConfig({ LIMIT_TEAM_NAME_CHARS: "50", LIMIT_META_TAGS: "5", LIMIT_META_TAG_CHARS: "16", LIMIT_HISTORY_PAGE: "500" }).limits;
  expect([c.teamName, c.metaTags, c.metaTagChars, c.historyPage]).toEqual([50, 5, 16, 500]);
  for (const name of ["LIMIT_TEAM_NAME_CHARS", "LIMIT_META_TAGS", "LIMIT_META_TAG_CHARS"]) {
    expect(() => loadConfig({ [name]: "0" })).toThrow(name);
    expect(() => loadConfig({ [name]: "many" })).toThrow(name);
  }
});

test("README's configuration table is the Settings table (run `bun scripts/config-table.ts` after changing a setting)", async () => {
  const readme = await Bun.file(new URL("../../README.md", import.meta.url)).text();
  expect(readme).toContain(settingsTable());
});

test("REST rate limits are settings with the protocol's defaults (50/s, burst 100)", () => {
  const d = loadConfig({}).limits;
  expect([d.restPerSec, d.restBurst]).toEqual([50, 100]);
  const c = loadConfig({ LIMIT_REST_PER_SEC: "5", LIMIT_REST_BURST: "10" }).limits;
  expect([c.restPerSec, c.restBurst]).toEqual([5, 10]);
  for (const name of ["LIMIT_REST_PER_SEC", "LIMIT_REST_BURST"]) {
    expect(() => loadConfig({ [name]: "0" })).toThrow(name);
    expect(() => loadConfig({ [name]: "fast" })).toThrow(name);
  }
});
