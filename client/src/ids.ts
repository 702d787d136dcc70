let counter = 0;
const session = randomPart(6);

function randomPart(bytes: number): string {
  const b = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(36).padStart(2, "0")).join("");
}

/**
 * A `client_msg_id`: printable ASCII, at most 64 characters, unique per client (a random session
 * part, a counter and time). `crypto.getRandomValues` works on insecure origins too, unlike randomUUID.
 */
export function newClientMsgId(prefix = "m"): string {
  return `${prefix}-${session}-${Date.now().toString(36)}-${(++counter).toString(36)}`;
}

function claims(token: string): Record<string, unknown> | undefined {
  try {
    const part = token.split(".")[1];
    if (!part) return undefined;
    const bin = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    const v = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)))) as unknown;
    return v && typeof v === "object" ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The `exp` of a JWT in ms, without verifying it (the server does that); undefined if unreadable. */
export function tokenExpiry(token: string): number | undefined {
  const exp = claims(token)?.exp;
  return typeof exp === "number" ? exp * 1000 : undefined;
}

/** The `sub` of a JWT, unverified: for display before the server says who we are. */
export function tokenSubject(token: string): string | undefined {
  const sub = claims(token)?.sub;
  return typeof sub === "string" ? sub : undefined;
}
