import type { ChatClient, Role, Team } from "@chat/client";
import { useState } from "preact/hooks";
import { displayName } from "./hooks";

const RANK: Record<Role, number> = { super_admin: 0, admin: 1, user: 2 };
const LABEL: Record<Role, string> = { super_admin: "owner", admin: "admin", user: "member" };

/** Members by role, with what the signed-in user's role allows (the server enforces the same rules). */
export function Members({ client, teamId, team, onClose, onError, onLeft }: { client: ChatClient; teamId: string; team?: Team; onClose: () => void; onError: (m: string) => void; onLeft: () => void }) {
  const { store, rest } = client;
  const ch = store.channel(teamId);
  const me = store.me ?? "";
  const myRole = store.roleOf(teamId);
  const [user, setUser] = useState("");
  const [busy, setBusy] = useState(false);
  const members = [...ch.members.entries()].sort((a, b) => RANK[a[1]] - RANK[b[1]] || a[0].localeCompare(b[0]));
  const active = team?.active !== false;

  const act = async (what: string, fn: () => Promise<unknown>) => {
    setBusy(true);
    try {
      await fn();
      await store.refreshTeam(teamId);
    } catch (err) {
      onError(`${what} failed: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  const leave = () => {
    let successor: string | undefined;
    if (myRole === "super_admin" && members.length > 1) {
      successor = prompt("You own this team. Who takes it over? (user id)", members.find(([u]) => u !== me)?.[0]) ?? undefined;
      if (!successor) return;
    } else if (!confirm("Leave this team?")) return;
    void act("Leaving", () => rest.leaveTeam(teamId, successor)).then(onLeft);
  };

  return (
    <aside class="members" id="members-panel" aria-label="Members">
      <header>
        <h2>Members</h2>
        <button type="button" onClick={onClose} aria-label="Close members">
          ✕
        </button>
      </header>
      <ul>
        {members.map(([u, role]) => (
          <li key={u}>
            <span class={`dot ${ch.online.has(u) ? "on" : ""}`} role="img" aria-label={ch.online.has(u) ? "online" : "offline"} />
            <span class="who" title={u}>
              {displayName(u)}
              {u === me && " (you)"}
            </span>
            <span class={`role role-${role}`}>{LABEL[role]}</span>
            {active && u !== me && (
              <span class="member-actions">
                {myRole === "super_admin" && role === "user" && (
                  <button type="button" disabled={busy} onClick={() => act("Promoting", () => rest.addAdmin(teamId, u))}>
                    Make admin
                  </button>
                )}
                {myRole === "super_admin" && role === "admin" && (
                  <button type="button" disabled={busy} onClick={() => act("Demoting", () => rest.removeAdmin(teamId, u))}>
                    Remove admin
                  </button>
                )}
                {(myRole === "super_admin" || (myRole === "admin" && role === "user")) && (
                  <button type="button" disabled={busy} onClick={() => confirm(`Remove ${u} from the team?`) && act("Removing", () => rest.removeMember(teamId, u))} aria-label={`Remove ${u}`}>
                    Remove
                  </button>
                )}
              </span>
            )}
          </li>
        ))}
      </ul>
      {active && (myRole === "admin" || myRole === "super_admin") && (
        <form
          class="add"
          onSubmit={(e) => {
            e.preventDefault();
            const id = user.trim();
            void act("Adding", () => rest.addMember(teamId, id)).then(() => setUser(""));
          }}
        >
          <label for="add-member">Add a member</label>
          <div class="row">
            <input id="add-member" value={user} placeholder="user id" onInput={(e) => setUser(e.currentTarget.value)} required />
            <button type="submit" disabled={busy || !user.trim()}>
              Add
            </button>
          </div>
        </form>
      )}
      {active && (
        <button type="button" class="danger" onClick={leave} disabled={busy}>
          Leave team
        </button>
      )}
    </aside>
  );
}
