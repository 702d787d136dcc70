import type { MessageType } from "./protocol";
import type { CreatedAttachment, Member, Page, ReadMarker, RestErrorCode, StoredMessage, Team } from "./rest-shapes";

/** A failed REST call: `status` and the envelope's `code` (§4); clients branch on `code`. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: RestErrorCode | string,
    message: string,
  ) {
    super(message);
  }
}

/** Gives the bearer token; called again with the token the server just refused (401), to get a new one. */
export type TokenProvider = (rejected?: string) => string | Promise<string>;

export interface RestOptions {
  /** Base URL of the service, e.g. "http://localhost:8080" (no trailing /v1). */
  baseUrl: string;
  token: TokenProvider;
  fetch?: (input: string, init?: RequestInit) => Promise<Response>;
}

export interface AttachmentInput {
  type: Exclude<MessageType, "text">;
  content_type: string;
  size: number;
  filename: string;
}

const enc = encodeURIComponent;
const qs = (params: Record<string, string | number | undefined>) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : "";
};

/** The REST API (§4, §5, §9, §10) with a bearer token from the provider on every call. */
export class RestClient {
  readonly baseUrl: string;
  private readonly fetchFn: (input: string, init?: RequestInit) => Promise<Response>;

  constructor(private readonly opts: RestOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, "");
    this.fetchFn = opts.fetch ?? ((input, init) => fetch(input, init));
  }

  /** One call; resolves with the parsed body (the whole envelope) or throws ApiError. */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const call = (token: string) => {
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      if (body !== undefined) headers["content-type"] = "application/json";
      return this.fetchFn(this.baseUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    };
    const token = await this.opts.token();
    let res = await call(token);
    if (res.status === 401) {
      const fresh = await this.opts.token(token);
      if (fresh !== token) res = await call(fresh);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const err = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(res.status, err?.code ?? "internal", err?.message ?? `HTTP ${res.status}`);
    }
    return parsed as T;
  }
  private async data<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.request<{ data: T }>(method, path, body)).data;
  }

  // teams
  listTeams(opts: { q?: string; tag?: string; cursor?: string; limit?: number } = {}): Promise<Page<Team>> {
    return this.request("GET", `/v1/teams${qs(opts)}`);
  }
  /** Every team of the caller, following `next`. */
  async allTeams(opts: { q?: string; tag?: string } = {}): Promise<Team[]> {
    const out: Team[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.listTeams({ ...opts, cursor, limit: 100 });
      out.push(...page.data);
      cursor = page.next == null ? undefined : String(page.next);
    } while (cursor);
    return out;
  }
  createTeam(body: { name: string; icon?: string; meta_tags?: string[] }): Promise<Team> {
    return this.data("POST", "/v1/teams", body);
  }
  getTeam(id: string): Promise<Team> {
    return this.data("GET", `/v1/teams/${enc(id)}`);
  }
  updateTeam(id: string, patch: { name?: string; icon?: string; meta_tags?: string[] }): Promise<Team> {
    return this.data("PATCH", `/v1/teams/${enc(id)}`, patch);
  }
  deactivateTeam(id: string): Promise<Team> {
    return this.data("DELETE", `/v1/teams/${enc(id)}`);
  }
  listMembers(id: string, opts: { cursor?: string; limit?: number } = {}): Promise<Page<Member>> {
    return this.request("GET", `/v1/teams/${enc(id)}/members${qs(opts)}`);
  }
  addMember(id: string, userId: string): Promise<Team> {
    return this.data("POST", `/v1/teams/${enc(id)}/members`, { user_id: userId });
  }
  removeMember(id: string, userId: string): Promise<Team> {
    return this.data("DELETE", `/v1/teams/${enc(id)}/members/${enc(userId)}`);
  }
  addAdmin(id: string, userId: string): Promise<Team> {
    return this.data("POST", `/v1/teams/${enc(id)}/admins`, { user_id: userId });
  }
  removeAdmin(id: string, userId: string): Promise<Team> {
    return this.data("DELETE", `/v1/teams/${enc(id)}/admins/${enc(userId)}`);
  }
  leaveTeam(id: string, successor?: string): Promise<Team> {
    return this.data("POST", `/v1/teams/${enc(id)}/leave`, successor ? { successor } : {});
  }

  // history and lifecycle (§4, §9)
  /** Newest first; `next` is the `before` of the next (older) page. */
  history(teamId: string, opts: { before?: number; limit?: number; thread?: string } = {}): Promise<Page<StoredMessage>> {
    return this.request("GET", `/v1/teams/${enc(teamId)}/messages${qs(opts)}`);
  }
  editMessage(teamId: string, msgId: string, data: string): Promise<unknown> {
    return this.data("PATCH", `/v1/teams/${enc(teamId)}/messages/${enc(msgId)}`, { data });
  }
  deleteMessage(teamId: string, msgId: string): Promise<unknown> {
    return this.data("DELETE", `/v1/teams/${enc(teamId)}/messages/${enc(msgId)}`);
  }
  react(teamId: string, msgId: string, emoji: string, on: boolean): Promise<unknown> {
    return this.data(on ? "PUT" : "DELETE", `/v1/teams/${enc(teamId)}/messages/${enc(msgId)}/reactions/${enc(emoji)}`);
  }
  markRead(teamId: string, seq: number): Promise<unknown> {
    return this.data("PUT", `/v1/teams/${enc(teamId)}/read`, { seq });
  }
  reads(teamId: string): Promise<ReadMarker[]> {
    return this.data("GET", `/v1/teams/${enc(teamId)}/reads`);
  }
  presence(teamId: string): Promise<{ online: string[] }> {
    return this.data("GET", `/v1/teams/${enc(teamId)}/presence`);
  }

  // attachments (§5)
  createAttachment(teamId: string, body: AttachmentInput): Promise<CreatedAttachment> {
    return this.data("POST", `/v1/teams/${enc(teamId)}/attachments`, body);
  }
  /**
   * Presigned upload: create, then PUT the bytes with only Content-Type (and any header the server
   * listed in `upload_headers`). Resolves with the attachment id to send as a message's `data`.
   */
  async upload(teamId: string, file: Blob, opts: { type?: AttachmentInput["type"]; filename?: string } = {}): Promise<string> {
    const contentType = file.type || "application/octet-stream";
    const type = opts.type ?? attachmentTypeOf(contentType);
    const filename = opts.filename ?? ((file as { name?: string }).name || "file");
    const created = await this.createAttachment(teamId, { type, content_type: contentType, size: file.size, filename });
    const headers: Record<string, string> = { "content-type": contentType, ...(created.upload_headers ?? {}) };
    const res = await this.fetchFn(created.upload_url, { method: "PUT", headers, body: file });
    if (!res.ok) throw new ApiError(res.status, res.status === 413 ? "too_large" : "validation", `upload failed: HTTP ${res.status}`);
    return created.attachment_id;
  }
  /** Where an attachment can be fetched now (the 302's target), for runtimes that can read redirects (Bun, Node). */
  async attachmentUrl(attachmentId: string): Promise<string> {
    const token = await this.opts.token();
    const res = await this.fetchFn(`${this.baseUrl}/v1/attachments/${attachmentPath(attachmentId)}`, { headers: { authorization: `Bearer ${token}` }, redirect: "manual" });
    const location = res.headers.get("location");
    if (res.status >= 300 && res.status < 400 && location) return new URL(location, this.baseUrl).toString();
    if (res.type === "opaqueredirect") throw new ApiError(0, "unavailable", "this runtime hides redirects: use downloadAttachment");
    const body = (await res.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined;
    throw new ApiError(res.status, body?.error?.code ?? "internal", body?.error?.message ?? `HTTP ${res.status}`);
  }
  /**
   * The attachment's bytes. Where redirects are visible (Bun, Node) the presigned target is fetched
   * without the bearer token (S3 refuses a second auth mechanism); browsers follow the 302 themselves.
   */
  async downloadAttachment(attachmentId: string): Promise<Blob> {
    const token = await this.opts.token();
    const url = `${this.baseUrl}/v1/attachments/${attachmentPath(attachmentId)}`;
    let res = await this.fetchFn(url, { headers: { authorization: `Bearer ${token}` }, redirect: "manual" });
    const location = res.headers.get("location");
    if (res.status >= 300 && res.status < 400 && location) res = await this.fetchFn(new URL(location, url).toString());
    else if (res.type === "opaqueredirect") res = await this.fetchFn(url, { headers: { authorization: `Bearer ${token}` } });
    if (!res.ok) {
      const body = (await res.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined;
      throw new ApiError(res.status, body?.error?.code ?? "internal", body?.error?.message ?? `HTTP ${res.status}`);
    }
    return res.blob();
  }
}

/** `<team_id>/<id>` goes into the path as is, each part encoded. */
const attachmentPath = (id: string) => id.split("/").map(enc).join("/");

export function attachmentTypeOf(contentType: string): AttachmentInput["type"] {
  const family = contentType.split("/")[0];
  return family === "image" || family === "video" || family === "audio" ? family : "file";
}
