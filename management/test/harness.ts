import { test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EmbeddedLog } from "@chat/common/adapters/embedded-log";
import { FsObjectStore } from "@chat/common/adapters/fs-objects";
import { S3ObjectStore } from "@chat/common/adapters/s3-objects";
import { SqliteStore } from "@chat/common/adapters/sqlite-store";
import { createVerifier, signDevToken } from "@chat/common/auth";
import { loadConfig, type Config } from "@chat/common/config";
import { objectId } from "@chat/common/ids";
import type { Logger } from "@chat/common/log";
import { createMetrics } from "@chat/common/metrics";
import type { MessageStore, ObjectStore, TeamStore } from "@chat/common/ports";
import { allMembers, getTeam } from "@chat/common/membership";
import { newTeam, type Team } from "@chat/common/teams";
import { createManagementApp } from "../src/app";
import type { RestLimiter } from "../src/context";
import type { PresenceReader } from "../src/presence/reader";

export const BASE = "http://localhost";
const SECRET = "test-secret-".padEnd(48, "x");

type Stores = TeamStore & MessageStore;
export interface Backend {
  name: string;
  open(dir: string): Promise<Stores>;
}

/** A logger that keeps its lines, so tests can read the request log without printing it. */
export function recordingLogger(lines: Record<string, unknown>[] = [], bindings: Record<string, unknown> = {}): Logger & { lines: Record<string, unknown>[] } {
  const write = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, ...bindings, ...fields });
  return { lines, debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error"), child: (b) => recordingLogger(lines, { ...bindings, ...b }) };
}

const sqlite: Backend = { name: "sqlite", open: async (dir) => new SqliteStore(dir) };

/**
 * The stores every route test runs on: SQLite always; MongoDB when MONGODB_URL is set (a fresh
 * database per harness, dropped on close). While MongoStore is still a placeholder the MongoDB
 * run is reported as skipped, never silently passed.
 */
async function mongoBackend(): Promise<Backend | string> {
  const url = process.env.MONGODB_URL;
  if (!url) return "MONGODB_URL is not set";
  const { MongoStore } = await import("@chat/common/adapters/mongo-store");
  const connect = (db: string) => MongoStore.connect({ url, db }, recordingLogger()) as Promise<Stores & { db?: { dropDatabase(): Promise<unknown> } }>;
  try {
    await (await connect(`chat_test_probe_${objectId()}`)).close();
  } catch (err) {
    if (/not implemented/i.test(String(err))) return "MongoStore is not implemented yet";
    throw err;
  }
  return {
    name: "mongodb",
    open: async () => {
      const store = await connect(`chat_test_${objectId()}`);
      const close = store.close.bind(store);
      store.close = async () => {
        await store.db?.dropDatabase().catch(() => undefined);
        await close();
      };
      return store;
    },
  };
}

const mongo = await mongoBackend();
export const backends: Backend[] = typeof mongo === "string" ? [sqlite] : [sqlite, mongo];
/** Call once per test file: shows the skipped MongoDB run in the report. */
export function reportSkippedBackends(what: string): void {
  if (typeof mongo === "string") test.skip(`${what} on mongodb — ${mongo}`, () => {});
}

export type ObjectsKind = "fs" | "s3" | "none";
/** S3 from the environment (S3_ENDPOINT and credentials), or why it is not there. */
export const s3Config: Config["s3"] | undefined = process.env.S3_ENDPOINT ? loadConfig(process.env).s3 : undefined;

export interface Call {
  as?: string;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
  token?: string;
}
export interface Reply {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

export async function createHarness(
  backend: Backend,
  opts: {
    objects?: ObjectsKind;
    env?: Record<string, string>;
    checks?: Record<string, () => Promise<void>>;
    restLimiter?: RestLimiter;
    presence?: PresenceReader | null;
  } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), "chat-mgmt-"));
  const config = loadConfig({ DATA_DIR: dir, AUTH_JWT_SECRET: SECRET, PUBLIC_URL: BASE, ...opts.env });
  const store = await backend.open(dir);
  const log = new EmbeddedLog(join(dir, "log"));
  const logger = recordingLogger();
  const metrics = createMetrics();
  let objects: ObjectStore | undefined;
  if (opts.objects === "fs" || opts.objects === undefined)
    objects = new FsObjectStore({ dir: join(dir, "objects"), secretFile: join(dir, "objects-secret"), logger });
  else if (opts.objects === "s3") objects = await S3ObjectStore.connect({ ...s3Config!, bucket: `chat-mgmt-${objectId()}` }, logger);
  const deps = {
    config,
    verify: createVerifier(config.auth),
    teams: store,
    messages: store,
    log,
    objects,
    logger,
    metrics,
    checks: opts.checks ?? { database: () => store.ping(), log: () => log.ping() },
    restLimiter: opts.restLimiter,
    // By default every member counts as online (the controllers' table is tested on its own); null: none configured.
    presence: opts.presence === null ? undefined : (opts.presence ?? { online: async (id: string) => (await roster(store, id))?.members ?? [] }),
  };
  const app = createManagementApp(deps);
  const tokens = new Map<string, string>();
  const suffix = objectId().slice(-8);

  const token = async (user: string) => {
    let t = tokens.get(user);
    if (!t) tokens.set(user, (t = await signDevToken(SECRET, user)));
    return t;
  };
  const send = (request: Request) => app.handle(request);
  const call = async (method: string, path: string, c: Call = {}): Promise<Reply> => {
    const headers: Record<string, string> = { ...c.headers };
    if (c.as) headers.authorization = `Bearer ${await token(c.as)}`;
    if (c.token) headers.authorization = `Bearer ${c.token}`;
    let body: string | undefined;
    if (c.raw !== undefined) body = c.raw;
    else if (c.body !== undefined) body = JSON.stringify(c.body);
    if (body !== undefined) headers["content-type"] ??= "application/json";
    const res = await send(new Request(BASE + path, { method, headers, body }));
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, json, text };
  };
  /** Fetches a URL the API handed out: in-process when it is ours, over the network otherwise (S3). */
  const fetchUrl = (url: string, init?: RequestInit) => (url.startsWith(BASE + "/") ? send(new Request(url, init)) : fetch(url, init));

  return {
    app,
    config,
    store,
    messages: store as MessageStore,
    log,
    objects,
    metrics,
    logger,
    dir,
    call,
    send,
    fetchUrl,
    token,
    /** A user id unique to this harness (stores may be shared between runs). */
    user: (name: string) => `${name}-${suffix}@x.dev`,
    /** A team written straight to the store, in the given shape: its header, then its rows. */
    async seedTeam(shape: { super_admin: string; admins?: string[]; members?: string[]; active?: boolean; name?: string; meta_tags?: string[] }): Promise<Team> {
      const { pending: _p, ...team } = newTeam(objectId(), shape.super_admin, { name: shape.name ?? "Seeded team", meta_tags: shape.meta_tags });
      const admins = new Set([shape.super_admin, ...(shape.admins ?? [])]);
      const members = [...new Set([...admins, ...(shape.members ?? [])])];
      team.active = shape.active ?? true;
      team.member_count = members.length;
      await store.create(team);
      await store.writeRows(team.id, team.version, members.map((user) => ({ user, role: admins.has(user) ? "admin" : "user" })));
      return team;
    },
    /** The stored team with its members and admins (by user id), read through the paging path. */
    team: async (id: string): Promise<Roster> => (await roster(store, id))!,
    async close() {
      await objects?.close();
      await log.close();
      await store.close();
    },
  };
}
export type Harness = Awaited<ReturnType<typeof createHarness>>;

/** A team header with its member lists, as tests reason about it. */
export type Roster = Team & { members: string[]; admins: string[] };

/** One version's roster: read again when a change committed while the rows were read (as the API's views do). */
async function roster(store: TeamStore, id: string): Promise<Roster | null> {
  for (;;) {
    const team = await getTeam(store, id);
    if (!team) return null;
    const members: string[] = [];
    const admins: string[] = [];
    for await (const page of allMembers(store, team)) for (const m of page) (members.push(m.user_id), m.role !== "user" && admins.push(m.user_id));
    if ((await store.get(id))?.version === team.version) return { ...team, members, admins };
  }
}

/** Uploads through the API as `user`: create, PUT to the presigned URL; returns the attachment id. */
export async function uploadAttachment(h: Harness, user: string, teamId: string, bytes: Uint8Array, meta = { type: "image", content_type: "image/png", filename: "pic.png" }) {
  const created = await h.call("POST", `/v1/teams/${teamId}/attachments`, { as: user, body: { ...meta, size: bytes.length } });
  if (created.status !== 201) throw new Error(`create attachment: ${created.status} ${created.text}`);
  const { attachment_id, upload_url, upload_headers } = created.json.data;
  const put = await h.fetchUrl(upload_url, { method: "PUT", headers: upload_headers, body: bytes });
  if (put.status !== 200) throw new Error(`upload: ${put.status} ${await put.text()}`);
  return attachment_id as string;
}

/** An OpenAPI schema with its `$ref` to a component followed (one level). */
export function deref(doc: any, schema: any): any {
  const name = /^#\/components\/schemas\/(.+)$/.exec(schema?.$ref ?? "")?.[1];
  if (schema?.$ref && !name) throw new Error(`not a component reference: ${schema.$ref}`);
  return name ? doc.components.schemas[name] : schema;
}
