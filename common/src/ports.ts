import type { LifecycleEntry, MessageInfo } from "./lifecycle";
import type { Sequenced } from "./lifecycle-apply";
import type { ChatMessage, MessageView, StoredMessage } from "./message";
import type { MemberRole, RowWrite, Team } from "./teams";

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
  /**
   * Changes whenever this consumer's partitions may have changed hands (a group rebalance): what a
   * handler remembers about a partition from before may then miss what another consumer did.
   */
  assignment: number;
}

/**
 * A handler may take a batch in and finish it later: the adapter goes on with the next batches and
 * commits this one's position only once `settled` resolves, in log order (never if it rejects).
 */
export interface Accepted {
  settled: Promise<void>;
}
export type ConsumeHandler = (batch: ConsumedRecord[], position: ConsumePosition) => Promise<Accepted | void>;

/** The durable, per-channel-ordered message log (Kafka, or the embedded log). */
export interface MessageLog {
  /** Resolves with each record's seq once all of them are durable; rejects if none is. */
  append(records: LogRecord[]): Promise<number[]>;
  /**
   * True when appends may be issued back to back, each without waiting for the one before: the log
   * keeps their order and groups them (the embedded log: one commit per event-loop turn, one fsync for
   * every commit made while the previous one ran).
   * Otherwise callers send one append at a time and group what arrives meanwhile themselves.
   */
  readonly groupsAppends?: boolean;
  /**
   * For a log that does not group appends: what callers gathered while an append request was out
   * waits until this long after that request started, then goes as one (a record reaching an idle
   * caller goes at once). Kafka's produce requests cost the relay and the broker more per request
   * than per message.
   */
  readonly appendIntervalMs?: number;
  /**
   * Delivers batches in log order per channel until `signal` aborts. A batch's position is
   * committed only after `handle` resolves (and its `settled`, if it answers one), so a crash
   * redelivers it. Returns once what was settled is committed.
   */
  consume(opts: { group: string; signal: AbortSignal; handle: ConsumeHandler }): Promise<void>;
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

/** How a store's `synced()` is asked (TeamStore, MessageStore). */
export interface SyncOptions {
  /** Somebody waits for the answer (a REST change): sync at once rather than batching with later callers. */
  now?: boolean;
}

/**
 * Teams: a header document per team and one membership row per (team, user). No operation
 * needs a transaction (FerretDB has none): a change commits the header with one conditional
 * write on `version`, carrying its row writes as `pending`; the rows are then written with
 * version stamps, by the change or by any later reader (membership.ts holds the protocol).
 */
export interface TeamStore {
  /** Writes the header (with its `pending` creator row, not yet the row); conflict if the id exists. */
  create(team: Team): Promise<void>;
  get(id: string): Promise<Team | null>;
  /** Writes `team` only if the stored version is still `expectedVersion`; false otherwise. */
  commit(team: Team, expectedVersion: number): Promise<boolean>;
  /** Drops `pending` if the stored version is still `version` (its rows are written). */
  clearPending(id: string, version: number): Promise<void>;
  /**
   * Writes each row unless the stored one carries a stamp >= `stamp` (idempotent, and a late
   * writer never undoes a newer change). A `none` row is kept as a tombstone for that reason.
   */
  writeRows(teamId: string, stamp: number, rows: RowWrite[]): Promise<void>;
  /** The stored rows of these users in a team (absent: never a member). */
  rowsOf(teamId: string, users: string[]): Promise<Map<string, MemberRole | "none">>;
  /** Members (rows other than `none`) by ascending user id after `after`, at most `limit`: an index range. */
  memberRows(teamId: string, after: string | undefined, limit: number): Promise<{ user: string; role: MemberRole }[]>;
  /** The user's teams by ascending id, filtered by case-insensitive name substring and tag. */
  listForUser(user: string, query: TeamQuery): Promise<Team[]>;
  /** Ids of the active teams the user belongs to. */
  channelsOf(user: string): Promise<string[]>;
  /** Resolves once every change written before the call would survive an OS crash or a power loss (see MessageStore.synced). */
  synced(opts?: SyncOptions): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** What the controller persists: messages, and the lifecycle entries that change them. */
export type StoreEntry = ({ kind: "message" } & ChatMessage) | LifecycleEntry;

/** One resume item: a message in its current state, or a lifecycle event rebuilt from the stored state. */
export type ReplayItem = { seq: number; message: MessageView; entry?: undefined } | { seq: number; entry: LifecycleEntry; message?: undefined };

export interface UnreadInfo {
  channel_id: string;
  /** The newest message the viewer may see (0: none). */
  last_seq: number;
  last_read_seq: number;
  /** Messages and replies after the marker that the viewer may see and did not send (deleted ones excluded). */
  unread: number;
}

/** Where a client_msg_id's message was stored: what its sender was acked with. */
export interface ClientMessageRef {
  id: string;
  seq: number;
  ts: string;
}

export interface MessageStore {
  /** Idempotent by `id`: storing a message twice keeps one copy. */
  insertMany(messages: StoredMessage[]): Promise<void>;
  /**
   * A consumed batch, in log order: messages stored (idempotent by id), lifecycle entries applied
   * with `applyOp` (idempotent by seq), thread roots' reply_count/last_reply_seq recomputed.
   * Returns, aligned with `batch`, each entry as it took effect, or null. A message takes effect
   * unless its (channel_id, from, client_msg_id) is already claimed by another id (a resend, in an
   * earlier batch or earlier in this one): that one is neither stored nor reported.
   */
  applyBatch(batch: Sequenced<StoreEntry>[]): Promise<(StoreEntry | null)[]>;
  /** The message stored under a sender's client_msg_id in a channel (claims live until pruned). */
  lookupClientMessage(channelId: string, from: string, clientMsgId: string): Promise<ClientMessageRef | null>;
  /**
   * Forgets the client_msg_id claims of messages stamped before `before` (the dedupe window's end),
   * at least those stamped at or after `since` (the previous run's `before`, less a margin; a store
   * may leave older ones), and says how many went. See controller/src/prune.ts.
   */
  pruneClientMessages(before: Date, since: Date): Promise<number>;
  /** Claims of messages stamped at or after `since`, at most `limit`, as `clientMsgKey` keys. */
  claimsSince(since: Date, limit: number): Promise<string[]>;
  /** A message of `channelId` as the lifecycle rules need it, or null (unknown, or of another team). */
  getMessage(channelId: string, id: string): Promise<MessageInfo | null>;
  /**
   * Newest first, seq < before (if given), only what `viewer` may see, in current state (with the
   * viewer's `me` on reactions); `thread` limits it to one thread, root included.
   */
  history(channelId: string, viewer: string, opts: { before?: number; limit: number; thread?: string }): Promise<MessageView[]>;
  /** Oldest first, seq > after; only what `viewer` may see, or everything when viewer is undefined. */
  since(channelId: string, viewer: string | undefined, after: number, limit: number): Promise<StoredMessage[]>;
  /**
   * Resume: every event after `after` that `viewer` may see (everything when undefined), oldest
   * first, at most `limit`: messages in current state, then edits, deletes and reactions of older
   * messages and the viewer's read marker, each at the seq of the entry that set it.
   */
  eventsSince(channelId: string, viewer: string | undefined, after: number, limit: number): Promise<ReplayItem[]>;
  /** Per team, the viewer's marker and exact unread count (an index range over seq > marker). */
  unread(viewer: string, channelIds: string[]): Promise<UnreadInfo[]>;
  /** Every read marker of a team (users who never read have none). */
  readMarkers(channelId: string): Promise<{ user: string; seq: number }[]>;
  /**
   * Resolves once everything this store applied before the call would survive an OS crash or a
   * power loss. The controller commits a batch's log position only after it, so a batch the store
   * could still lose is consumed again.
   */
  synced(opts?: SyncOptions): Promise<void>;
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
