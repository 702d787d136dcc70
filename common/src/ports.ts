import type { StoredMessage } from "./message";
import type { Team } from "./teams";

/** One entry appended to the log. `value` is a JSON-encoded LogEntry. */
export interface LogRecord {
  channelId: string;
  value: string;
}
export interface ConsumedRecord extends LogRecord {
  /** Strictly increasing within a channel (the log position); gaps allowed. */
  seq: number;
}

/** Where a consumed batch sits: its partition, and how many records are still behind it there. */
export interface ConsumePosition {
  partition: string;
  lag: number;
}

/** The durable, per-channel-ordered message log (Kafka, or the embedded log). */
export interface MessageLog {
  /** Resolves with each record's seq once all of them are durable; rejects if none is. */
  append(records: LogRecord[]): Promise<number[]>;
  /**
   * Delivers batches in log order per channel until `signal` aborts. A batch's
   * position is committed only after `handle` resolves, so a crash redelivers it.
   */
  consume(opts: { group: string; signal: AbortSignal; handle: (batch: ConsumedRecord[], position: ConsumePosition) => Promise<void> }): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface TeamQuery {
  q?: string;
  tag?: string;
  /** Cursor: return teams with id greater than this. */
  after?: string;
  limit: number;
}

export interface TeamStore {
  /** Rejects with AppError conflict if the id exists. */
  create(team: Team): Promise<void>;
  get(id: string): Promise<Team | null>;
  /** Writes `team` only if the stored version is still `expectedVersion`; false otherwise. */
  replace(team: Team, expectedVersion: number): Promise<boolean>;
  /** The user's teams by ascending id, filtered by case-insensitive name substring and tag. */
  listForUser(user: string, query: TeamQuery): Promise<Team[]>;
  /** Ids of the active teams the user belongs to. */
  channelsOf(user: string): Promise<string[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface MessageStore {
  /** Idempotent by `id`: storing a message twice keeps one copy. */
  insertMany(messages: StoredMessage[]): Promise<void>;
  /** Newest first, seq < before (if given), only what `viewer` may see. */
  history(channelId: string, viewer: string, opts: { before?: number; limit: number }): Promise<StoredMessage[]>;
  /** Oldest first, seq > after; only what `viewer` may see, or everything when viewer is undefined. */
  since(channelId: string, viewer: string | undefined, after: number, limit: number): Promise<StoredMessage[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface PresignedPut {
  /** Absolute, or a path the host resolves against its own origin (a store serving its own URLs). */
  url: string;
  /** Headers the upload must carry exactly as given (they are part of the signature). */
  headers: Record<string, string>;
  expiresAt: Date;
}

export interface ObjectInfo {
  size: number;
  contentType: string;
  filename?: string;
}

/**
 * Attachment objects: presigned upload and download URLs. A presigned PUT accepts one body of
 * exactly `size` bytes sent with `contentType`; anything else is refused and nothing is stored.
 */
export interface ObjectStore {
  presignPut(key: string, opts: { contentType: string; size: number; expiresIn: number; filename?: string }): Promise<PresignedPut>;
  /** A URL (absolute, or a path as for PUT) that downloads the object until it expires, as an attachment named `filename`. */
  presignGet(key: string, opts: { expiresIn: number; filename?: string }): Promise<string>;
  /** What was uploaded under `key`, or null if nothing (yet). */
  stat(key: string): Promise<ObjectInfo | null>;
  /**
   * Only for a store that serves its own presigned URLs (the filesystem one): the HTTP handler
   * for them, which the host mounts at the store's `pathPrefix`, outside bearer authentication.
   */
  serve?(request: Request): Promise<Response>;
  readonly pathPrefix?: string;
  ping(): Promise<void>;
  close(): Promise<void>;
}
