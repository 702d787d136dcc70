import { tokenExpiry, tokenSubject } from "@chat/client";

/** Who is signed in, in this tab: a dev sign-in (standalone only) re-mints its token, a pasted one cannot. */
export interface Session {
  kind: "dev" | "token";
  user: string;
  token: string;
}

const KEY = "chat.session";
// Per tab (sessionStorage): two tabs can be two users, and closing the tab signs out.
export function loadSession(): Session | undefined {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) ?? "null") as Session | null;
    return s && typeof s.token === "string" && typeof s.user === "string" ? s : undefined;
  } catch {
    return undefined;
  }
}
export function saveSession(s: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(s));
}
export function clearSession(): void {
  sessionStorage.removeItem(KEY);
}

/** Whether this server offers the dev sign-in to this browser (standalone with a generated secret, loopback). */
export async function devLoginAvailable(): Promise<boolean> {
  try {
    const res = await fetch("/v1/dev/login");
    return res.ok && (await res.json()).data?.enabled === true;
  } catch {
    return false;
  }
}

export async function devLogin(user: string): Promise<Session> {
  const res = await fetch("/v1/dev/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id: user }) });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body?.error?.message ?? `sign-in failed (HTTP ${res.status})`);
  return { kind: "dev", user: body.data.user_id, token: body.data.token };
}

export function tokenSession(token: string): Session {
  const t = token.trim().replace(/^Bearer\s+/i, "");
  const user = tokenSubject(t);
  if (!user) throw new Error("that does not look like a JWT (header.payload.signature with a sub)");
  const exp = tokenExpiry(t);
  if (exp !== undefined && exp < Date.now()) throw new Error("that token has expired");
  return { kind: "token", user, token: t };
}

/** The SDK's token provider for a session: dev sessions mint a fresh token when asked for one. */
export function tokenProvider(session: Session, onNewToken: (s: Session) => void) {
  let current = session;
  return async (reason: "connect" | "refresh" | "rejected"): Promise<string> => {
    const exp = tokenExpiry(current.token) ?? 0;
    const fresh = reason === "connect" && exp - Date.now() > 120_000;
    if (current.kind === "dev" && !fresh) {
      current = await devLogin(current.user);
      onNewToken(current);
    }
    return current.token;
  };
}
