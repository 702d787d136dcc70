import { ApiError, createChatClient, type ChatClient } from "@chat/client";
import { useEffect, useMemo, useState } from "preact/hooks";
import { ChannelPane } from "./channel";
import { displayName, useStore } from "./hooks";
import { clearSession, devLogin, devLoginAvailable, loadSession, saveSession, tokenProvider, tokenSession, type Session } from "./session";
import { Sidebar } from "./sidebar";

export function App() {
  const [session, setSession] = useState<Session | undefined>(loadSession);
  if (!session)
    return (
      <SignIn
        onSignedIn={(s) => {
          saveSession(s);
          setSession(s);
        }}
      />
    );
  return (
    <Chat
      key={session.user}
      session={session}
      onSignOut={() => {
        clearSession();
        setSession(undefined);
      }}
    />
  );
}

function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [dev, setDev] = useState<boolean | undefined>(undefined);
  const [user, setUser] = useState("");
  const [token, setToken] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  useEffect(() => void devLoginAvailable().then(setDev), []);

  const submit = async (e: Event, how: "dev" | "token") => {
    e.preventDefault();
    setError("");
    setBusy(true);
    try {
      onSignedIn(how === "dev" ? await devLogin(user.trim()) : tokenSession(token));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="signin">
      <h1>Chat</h1>
      {dev && (
        <form onSubmit={(e) => submit(e, "dev")} aria-labelledby="dev-title">
          <h2 id="dev-title">Dev sign-in</h2>
          <p class="hint">This local server signs tokens for any user id (standalone mode without an auth service).</p>
          <label for="dev-user">User id</label>
          <input id="dev-user" name="user" autocomplete="username" placeholder="alice@example.dev" value={user} onInput={(e) => setUser(e.currentTarget.value)} required autofocus />
          <button type="submit" disabled={busy || !user.trim()}>
            Sign in
          </button>
        </form>
      )}
      <form onSubmit={(e) => submit(e, "token")} aria-labelledby="token-title">
        <h2 id="token-title">{dev ? "Or paste a token" : "Sign in with a token"}</h2>
        <p class="hint">
          A JWT from your auth service (for a local server: <code>bun run --silent token you@example.dev</code>).
        </p>
        <label for="token">Access token</label>
        <textarea id="token" name="token" rows={3} spellcheck={false} value={token} onInput={(e) => setToken(e.currentTarget.value)} required />
        <button type="submit" disabled={busy || !token.trim()}>
          Sign in with token
        </button>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <p class="links">
        <a href="/v1/docs">API reference</a> · <a href="/v1/asyncapi.json">WebSocket protocol (AsyncAPI)</a>
      </p>
    </main>
  );
}

export interface Selection {
  team?: string;
  conv: string; // "*" or a user id (DM)
}

function readHash(): Selection {
  const [, team, conv] = /^#\/t\/([0-9a-f]{24})(?:\/(.+))?$/.exec(location.hash) ?? [];
  return { team, conv: conv ? decodeURIComponent(conv) : "*" };
}

function Chat({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const client: ChatClient = useMemo(
    () => createChatClient({ baseUrl: location.origin, token: tokenProvider(session, saveSession) }),
    [session.user], // one client per signed-in user; a re-minted token reaches it through the provider

  );
  const { store, connection } = client;
  useStore(store);
  const [sel, setSel] = useState<Selection>(readHash);
  const [toast, setToast] = useState("");
  const [loadError, setLoadError] = useState("");

  useEffect(() => {
    connection.connect().catch(() => {});
    store.loadTeams().catch((err: Error) => setLoadError(err instanceof ApiError && err.status === 401 ? "Your token was refused." : err.message));
    const online = () => connection.reconnectNow();
    addEventListener("online", online);
    const hash = () => setSel(readHash());
    addEventListener("hashchange", hash);
    return () => {
      removeEventListener("online", online);
      removeEventListener("hashchange", hash);
      client.close();
    };
  }, [client]);

  const select = (s: Selection) => {
    location.hash = s.team ? `#/t/${s.team}/${encodeURIComponent(s.conv)}` : "#/";
    setSel(s);
  };
  const say = (msg: string) => {
    setToast(msg);
    setTimeout(() => setToast((t) => (t === msg ? "" : t)), 6000);
  };
  // A team we were removed from: back to the list.
  const team = sel.team ? store.teams.get(sel.team) : undefined;
  const current = sel.team && store.channels.get(sel.team)?.left ? undefined : sel.team;

  const state = connection.state;
  return (
    <div class={`shell ${current ? "has-channel" : ""}`}>
      <a class="skip" href="#composer-input">
        Skip to message box
      </a>
      <header class="topbar">
        <span class="brand">Chat</span>
        <span class={`status status-${state}`} role="status">
          {state === "open" ? "Connected" : state === "unauthorized" ? "Signed out: token refused" : state === "closed" ? "Closed" : "Connecting…"}
        </span>
        <span class="me" title={session.user}>
          {displayName(session.user)}
        </span>
        <button type="button" class="link" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      {state === "unauthorized" && (
        <div class="banner" role="alert">
          The server refused your token. <button onClick={onSignOut}>Sign in again</button>
        </div>
      )}
      {loadError && (
        <div class="banner" role="alert">
          Could not load your teams: {loadError}
        </div>
      )}
      <Sidebar client={client} selected={current} conv={sel.conv} onSelect={select} onError={say} />
      {current ? (
        <ChannelPane key={current} client={client} teamId={current} team={team} conv={sel.conv} onSelect={select} onError={say} />
      ) : (
        <main class="empty" id="main">
          <p>Pick a team on the left, or create one.</p>
        </main>
      )}
      <div class="toast" role="alert" aria-live="assertive">
        {toast}
      </div>
    </div>
  );
}
