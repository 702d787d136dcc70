import type { FetchFn } from "./types";

export type UpgradeDiagnosis =
  | { kind: "unreachable" }
  | { kind: "unauthorized" }
  /** `activeTeams`: the user's active teams, when the server listed them all. */
  | { kind: "ok"; activeTeams?: Set<string> };

/**
 * Asks REST about a token whose upgrade failed before `ready`: a browser cannot see the HTTP status
 * of a refused upgrade, the REST API can (401: the token; a team left while away: a 403 upgrade).
 */
export async function diagnoseUpgrade(fetchFn: FetchFn | undefined, baseUrl: string, token: string, listTeams: boolean): Promise<UpgradeDiagnosis> {
  const f: FetchFn = fetchFn ?? ((input, init) => fetch(input, init));
  let res: Response;
  try {
    res = await f(`${baseUrl}/v1/teams?limit=100`, { headers: { authorization: `Bearer ${token}` } });
  } catch {
    return { kind: "unreachable" };
  }
  if (res.status === 401) return { kind: "unauthorized" };
  if (res.ok && listTeams) {
    const body = (await res.json().catch(() => undefined)) as { data?: { id: string; active: boolean }[]; next?: unknown } | undefined;
    // Only a complete list can tell which teams are gone.
    if (body?.data && body.next == null) return { kind: "ok", activeTeams: new Set(body.data.filter((t) => t.active).map((t) => t.id)) };
  }
  return { kind: "ok" };
}
