import Type, { type TSchema } from "typebox";

/**
 * Every input grammar of the protocol (PROTOCOL §3, §7, §8), each written once as a check
 * function. JWT verification, the relay's frame and connect parsers, the controller's RPC
 * validators and the REST models all call these, so no transport can accept what another refuses.
 * Limits that are settings (team name, tag length) are parameters; the rest are the protocol's.
 */

export const USER_ID_MAX_CHARS = 320;
export const CLIENT_MSG_ID_MAX_CHARS = 64;
export const ICON_MAX_CHARS = 2048;

const ASCII = /^[\x00-\x7f]*$/;

/** True when `s` has between `min` and `max` code points; counts only when the UTF-16 length cannot tell. */
export function codePointsWithin(s: string, min: number, max: number): boolean {
  const len = s.length; // len UTF-16 units hold between ceil(len / 2) and len code points
  if (len < min || len > 2 * max) return false;
  if (len <= max && (len + 1) >> 1 >= min) return true;
  let n = 0;
  for (let i = 0; i < len; i++, n++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < len) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
  }
  return n >= min && n <= max;
}

/**
 * User ids (the JWT `sub`, `user_id` in bodies and paths, `to`): 1–320 code points, NFC, no
 * whitespace, `/`, control (Cc), format (Cf: zero-width, bidi) or lone surrogate characters,
 * not `.`, `..` or `*`; and none of `{ } $ " < > \` (only ever seen in injection attempts).
 */
const USER_ID_CHARS = /^[^\s\p{Cc}\p{Cf}\p{Cs}\/{}$"<>\\]+$/u;
export function isUserId(v: unknown): v is string {
  return (
    typeof v === "string" &&
    codePointsWithin(v, 1, USER_ID_MAX_CHARS) &&
    USER_ID_CHARS.test(v) &&
    v !== "." &&
    v !== ".." &&
    v !== "*" &&
    (ASCII.test(v) || v.normalize("NFC") === v)
  );
}

/** A MongoDB ObjectId as 24 lowercase hex: team, message and attachment object ids. */
const HEX24 = "[0-9a-f]{24}";
const OBJECT_ID = new RegExp(`^${HEX24}$`);
export function isObjectId(v: unknown): v is string {
  return typeof v === "string" && OBJECT_ID.test(v);
}

/** An attachment id is `<team_id>/<id>`, both ObjectIds. */
export function isAttachmentId(v: unknown): v is string {
  return typeof v === "string" && v.length === 49 && v[24] === "/" && isObjectId(v.slice(0, 24)) && isObjectId(v.slice(25));
}

/** True when `v` is an attachment id of team `teamId` (the relay's no-I/O check for non-text messages). */
export function isAttachmentIdOf(teamId: string, v: unknown): boolean {
  return isAttachmentId(v) && v.startsWith(teamId + "/");
}

/** `client_msg_id`: 1–64 printable ASCII characters, no space. */
const CLIENT_MSG_ID = /^[\x21-\x7e]{1,64}$/;
export function isClientMsgId(v: unknown): v is string {
  return typeof v === "string" && CLIENT_MSG_ID.test(v);
}

/** A meta tag: 1–`maxChars` of `[a-z0-9-]`. */
const META_TAG = /^[a-z0-9-]+$/;
export function isMetaTag(v: unknown, maxChars: number): v is string {
  return typeof v === "string" && v.length >= 1 && v.length <= maxChars && META_TAG.test(v);
}

/** A team name: 1–`maxChars` code points, no control, format or lone surrogate characters, not only whitespace. */
const NAME_REFUSED = /[\p{Cc}\p{Cf}\p{Cs}]/u;
export function isTeamName(v: unknown, maxChars: number): v is string {
  return typeof v === "string" && codePointsWithin(v, 1, maxChars) && !NAME_REFUSED.test(v) && /\S/.test(v);
}

/**
 * Text searched for in team names (`GET /v1/teams?q=`): 1–`maxChars` code points of what a name may hold,
 * so never a control character (a NUL ended the SQL pattern there and matched every team).
 */
export function isSearchText(v: unknown, maxChars: number): v is string {
  return typeof v === "string" && codePointsWithin(v, 1, maxChars) && !NAME_REFUSED.test(v);
}

/**
 * A team icon: empty (no icon), or an absolute `https://` URL of at most 2,048 code points that
 * the WHATWG URL parser accepts, with a host and no credentials. Characters the URL standard
 * never allows unescaped (whitespace, controls, `" < > \ ^ \` { | }`) are refused rather than
 * percent-encoded, so the stored value is safe to echo into markup as is.
 */
const ICON_REFUSED = /[\s\p{Cc}\p{Cf}\p{Cs}"<>\\^`{|}]/u;
export function isIcon(v: unknown): v is string {
  if (typeof v !== "string") return false;
  if (v === "") return true;
  // `https:///x` would parse as https://x/: the host must follow the two slashes.
  if (!v.startsWith("https://") || v[8] === "/" || !codePointsWithin(v, 1, ICON_MAX_CHARS) || ICON_REFUSED.test(v)) return false;
  const url = URL.parse(v);
  return url !== null && url.protocol === "https:" && url.hostname !== "" && url.username === "" && url.password === "";
}

/** A non-negative integer written as plain decimal digits (no sign, exponent, hex or spaces), or undefined. */
const DECIMAL = /^[0-9]{1,16}$/;
export function parseDecimal(v: string): number | undefined {
  if (!DECIMAL.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * A grammar as a schema: JSON Schema keywords that document it (OpenAPI) and the check that
 * defines it. The keywords are derived from the same constants and agree with the check;
 * where a validator would read them differently (Elysia's TypeBox counts UTF-16 units, not
 * code points) the flavour enforces `check` alone.
 */
export interface Rule {
  /** Names the grammar in schemas and errors, e.g. `user-id`. */
  name: string;
  check: (v: unknown) => boolean;
  /** Why a value was refused, for error messages: "must be …". */
  message: string;
  schema: { type: "string"; description: string; minLength?: number; maxLength?: number; pattern?: string; format?: string };
}

export const rules = {
  userId: {
    name: "user-id",
    check: isUserId,
    message: 'must be a user id: 1-320 characters, NFC, no whitespace, control or format characters, none of / { } $ " < > \\, not ".", ".." or "*"',
    schema: { type: "string", minLength: 1, maxLength: USER_ID_MAX_CHARS, description: "user id (the JWT `sub`, email-like): 1-320 code points, NFC" },
  },
  objectId: {
    name: "object-id",
    check: isObjectId,
    message: "must be an id (24 lowercase hex)",
    schema: { type: "string", pattern: OBJECT_ID.source, description: "ObjectId, 24 lowercase hex" },
  },
  attachmentId: {
    name: "attachment-id",
    check: isAttachmentId,
    message: "must be an attachment id (<team_id>/<id>)",
    schema: { type: "string", pattern: `^${HEX24}/${HEX24}$`, description: "attachment id, `<team_id>/<id>`" },
  },
  clientMsgId: {
    name: "client-msg-id",
    check: isClientMsgId,
    message: "must be 1-64 printable ASCII characters",
    schema: { type: "string", pattern: CLIENT_MSG_ID.source, description: "idempotency key, 1-64 printable ASCII characters" },
  },
  icon: {
    name: "icon",
    check: isIcon,
    message: "must be empty or an absolute https:// URL of at most 2048 characters",
    schema: { type: "string", maxLength: ICON_MAX_CHARS, description: "absolute https:// URL of the team's icon, or empty for none" },
  },
  teamName: (maxChars: number): Rule => ({
    name: "team-name",
    check: (v) => isTeamName(v, maxChars),
    message: `must be 1-${maxChars} characters, not only whitespace, without control or format characters`,
    schema: { type: "string", minLength: 1, maxLength: maxChars, description: `team name, 1-${maxChars} characters (LIMIT_TEAM_NAME_CHARS)` },
  }),
  searchText: (maxChars: number): Rule => ({
    name: "search-text",
    check: (v) => isSearchText(v, maxChars),
    message: `must be 1-${maxChars} characters without control or format characters`,
    schema: { type: "string", minLength: 1, maxLength: maxChars, description: "case-insensitive substring of the name (taken literally)" },
  }),
  metaTag: (maxChars: number): Rule => ({
    name: "meta-tag",
    check: (v) => isMetaTag(v, maxChars),
    message: `must be 1-${maxChars} characters of a-z, 0-9 and -`,
    schema: { type: "string", minLength: 1, maxLength: maxChars, pattern: META_TAG.source, description: `meta tag, 1-${maxChars} of [a-z0-9-] (LIMIT_META_TAG_CHARS)` },
  }),
} satisfies Record<string, Rule | ((max: number) => Rule)>;

/** A rule as a `typebox` schema (which, like the rules, counts code points). */
export function typeboxSchema(rule: Rule): TSchema {
  return Type.Refine(Type.Unsafe<string>({ ...rule.schema }), rule.check, () => rule.message);
}
