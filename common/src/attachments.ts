/** Attachment rules shared by management and the object stores. */
export const ATTACHMENT_TYPES = ["image", "video", "audio", "file"] as const;
export type AttachmentType = (typeof ATTACHMENT_TYPES)[number];

/** `type/subtype` of RFC 6838 restricted-name characters, no parameters. */
export const MIME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$";
const MIME = new RegExp(MIME_PATTERN);

export function normalizeContentType(raw: string): string | null {
  const ct = raw.trim().toLowerCase();
  return MIME.test(ct) ? ct : null;
}

/** image, video and audio attachments must declare a content type of their own family; `file` may be anything. */
export function contentTypeFits(type: AttachmentType, contentType: string): boolean {
  return type === "file" || contentType.startsWith(`${type}/`);
}

/** Object keys are `/`-separated segments of `[A-Za-z0-9_-]`: no dots, so no `..` and no clash with sidecar files. */
const KEY = /^[A-Za-z0-9_-]{1,128}(\/[A-Za-z0-9_-]{1,128}){0,3}$/;
export function isObjectKey(key: string): boolean {
  return KEY.test(key);
}

export const MAX_FILENAME_CHARS = 200;

/**
 * A display name safe to echo in headers and to show: no path, no control or bidi-override
 * characters, no quotes or backslashes, at most 200 characters (keeping the extension), never empty.
 */
export function sanitizeFilename(raw: string): string {
  let name = raw.normalize("NFC");
  name = name.slice(Math.max(name.lastIndexOf("/"), name.lastIndexOf("\\")) + 1);
  name = name
    .replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, "")
    .replace(/["\\<>:|?*]/g, "_")
    .replace(/\s+/g, " ")
    .trim()
    .replace(/^\.+/, "");
  if (!name.isWellFormed()) name = name.toWellFormed();
  const chars = [...name];
  if (chars.length > MAX_FILENAME_CHARS) {
    const dot = name.lastIndexOf(".");
    const ext = dot > 0 && name.length - dot <= 16 ? [...name.slice(dot)] : [];
    name = chars.slice(0, MAX_FILENAME_CHARS - ext.length).join("").trimEnd() + ext.join("");
  }
  return name || "file";
}

/** `attachment` with an ASCII fallback and the exact name as RFC 5987 `filename*`. */
export function contentDisposition(filename?: string): string {
  if (!filename) return "attachment";
  const safe = sanitizeFilename(filename);
  const ascii = safe.replace(/[^\x20-\x7e]/g, "_").replace(/["\\%]/g, "_");
  const encoded = encodeURIComponent(safe).replace(/['()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
