import type { ChatClient } from "@chat/client";
import { useState } from "preact/hooks";
import type { Selection } from "./app";

/** The user's teams with unread counts, and a form to create one. */
export function Sidebar({
  client,
  selected,
  onSelect,
  onError,
}: {
  client: ChatClient;
  selected?: string;
  conv: string;
  onSelect: (s: Selection) => void;
  onError: (msg: string) => void;
}) {
  const { store, rest } = client;
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const teams = [...store.teams.values()].filter((t) => !store.channels.get(t.id)?.left).sort((a, b) => a.name.localeCompare(b.name));

  const create = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const team = await rest.createTeam({ name: name.trim() });
      store.teams.set(team.id, team);
      await store.refreshTeam(team.id);
      setName("");
      onSelect({ team: team.id, conv: "*" });
    } catch (err) {
      onError(`Could not create the team: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <nav class="sidebar" aria-label="Teams">
      <h2>Teams</h2>
      <ul class="teams">
        {teams.map((t) => {
          const unread = store.unread(t.id);
          return (
            <li key={t.id}>
              <a
                href={`#/t/${t.id}/*`}
                aria-current={t.id === selected ? "page" : undefined}
                onClick={(e) => {
                  e.preventDefault();
                  onSelect({ team: t.id, conv: "*" });
                }}
              >
                <span class="name">{t.name}</span>
                {!t.active && <span class="tag">inactive</span>}
                {unread > 0 && (
                  <span class="badge" aria-label={`${unread} unread`}>
                    {unread}
                  </span>
                )}
              </a>
            </li>
          );
        })}
        {teams.length === 0 && <li class="hint">No teams yet.</li>}
      </ul>
      <form class="create" onSubmit={create}>
        <label for="new-team">New team</label>
        <div class="row">
          <input id="new-team" value={name} maxLength={100} placeholder="Team name" onInput={(e) => setName(e.currentTarget.value)} required />
          <button type="submit" disabled={busy || !name.trim()}>
            Create
          </button>
        </div>
      </form>
    </nav>
  );
}
