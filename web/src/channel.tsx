import { attachmentTypeOf, type ChatClient, type MessageView, type PendingView, type SendError, type Team } from "@chat/client";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { Selection } from "./app";
import { displayName } from "./hooks";
import { Members } from "./members";
import { Message, Pending } from "./message";

interface Props {
  client: ChatClient;
  teamId: string;
  team?: Team;
  conv: string;
  onSelect: (s: Selection) => void;
  onError: (msg: string) => void;
}

/** One team: its conversations (the team and DMs), the open one, a thread and the members panel. */
export function ChannelPane({ client, teamId, team, conv, onSelect, onError }: Props) {
  const { store } = client;
  const ch = store.channel(teamId);
  const [thread, setThread] = useState<string | undefined>();
  const [panel, setPanel] = useState(false);
  const me = store.me ?? "";

  useEffect(() => {
    if (!ch.loaded) store.loadOlder(teamId).catch((err: Error) => onError(`Could not load history: ${err.message}`));
    void store.loadPresence(teamId);
    if (!ch.members.size) void store.refreshTeam(teamId);
  }, [teamId]);

  // What is on screen is read: mark it so (here and on the server) while the page is visible.
  useEffect(() => {
    if (document.visibilityState === "visible") store.markRead(teamId, conv);
  });
  useEffect(() => {
    const v = () => document.visibilityState === "visible" && store.markRead(teamId, conv);
    document.addEventListener("visibilitychange", v);
    return () => document.removeEventListener("visibilitychange", v);
  }, [teamId, conv]);

  const others = [...ch.members.keys()].filter((u) => u !== me).sort();
  const convName = conv === "*" ? `# ${team?.name ?? "team"}` : `@ ${displayName(conv)}`;

  return (
    <main class={`channel ${thread ? "with-thread" : ""} ${panel ? "with-panel" : ""}`} id="main" aria-label={team?.name ?? "team"}>
      <header class="channel-head">
        <button type="button" class="back" onClick={() => onSelect({ conv: "*" })} aria-label="Back to teams">
          ‹
        </button>
        <h1>{convName}</h1>
        <button type="button" aria-expanded={panel} aria-controls="members-panel" onClick={() => setPanel(!panel)}>
          Members ({ch.members.size})
        </button>
      </header>
      <nav class="convs" aria-label="Conversations">
        <ul>
          <li>
            <a href={`#/t/${teamId}/*`} aria-current={conv === "*" ? "page" : undefined} onClick={(e) => (e.preventDefault(), onSelect({ team: teamId, conv: "*" }))}>
              # {team?.name ?? "team"}
              <Unread n={store.unread(teamId, "*")} />
            </a>
          </li>
          {others.map((u) => (
            <li key={u}>
              <a
                href={`#/t/${teamId}/${encodeURIComponent(u)}`}
                aria-current={conv === u ? "page" : undefined}
                onClick={(e) => (e.preventDefault(), onSelect({ team: teamId, conv: u }))}
                title={`Direct messages with ${u}`}
              >
                <span class={`dot ${ch.online.has(u) ? "on" : ""}`} aria-label={ch.online.has(u) ? "online" : "offline"} role="img" />
                {displayName(u)}
                <Unread n={store.unread(teamId, u)} />
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <Timeline client={client} teamId={teamId} conv={conv} onThread={setThread} onError={onError} />
      <Composer client={client} teamId={teamId} conv={conv} onError={onError} label={`Message ${convName}`} id="composer-input" />
      {thread && <Thread client={client} teamId={teamId} conv={conv} rootId={thread} onClose={() => setThread(undefined)} onError={onError} />}
      {panel && <Members client={client} teamId={teamId} team={team} onClose={() => setPanel(false)} onError={onError} onLeft={() => onSelect({ conv: "*" })} />}
    </main>
  );
}

const Unread = ({ n }: { n: number }) =>
  n > 0 ? (
    <span class="badge" aria-label={`${n} unread`}>
      {n}
    </span>
  ) : null;

function Timeline({ client, teamId, conv, onThread, onError }: { client: ChatClient; teamId: string; conv: string; onThread: (id: string) => void; onError: (m: string) => void }) {
  const { store } = client;
  const ch = store.channel(teamId);
  const list = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const messages = store.timeline(teamId, conv);
  const pending = store.pendingIn(teamId, conv);
  const typing = store.typingIn(teamId, conv);
  const [loading, setLoading] = useState(false);

  // Keep the newest message in view unless the user scrolled up to read older ones.
  useLayoutEffect(() => {
    const el = list.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  });
  const older = async () => {
    setLoading(true);
    const el = list.current;
    const from = el ? el.scrollHeight - el.scrollTop : 0;
    try {
      await store.loadOlder(teamId);
      if (el) requestAnimationFrame(() => (el.scrollTop = el.scrollHeight - from));
    } catch (err) {
      onError(`Could not load older messages: ${(err as Error).message}`);
    } finally {
      setLoading(false);
    }
  };

  return (
    <section class="timeline">
      <div
        ref={list}
        class="messages"
        role="log"
        aria-label="Messages"
        aria-live="polite"
        aria-relevant="additions"
        tabIndex={0}
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
      >
        <ol>
        <li class="older">
          {ch.loaded && !ch.hasMore ? (
            <span class="hint">Beginning of the conversation</span>
          ) : (
            <button type="button" onClick={older} disabled={loading}>
              {loading ? "Loading…" : "Load older messages"}
            </button>
          )}
        </li>
        {messages.map((m) => (
          <Message key={m.id} client={client} m={m} onThread={onThread} onError={onError} />
        ))}
        {pending.map((p) => (
          <Pending key={p.client_msg_id} client={client} p={p} />
        ))}
        </ol>
      </div>
      <p class="typing" aria-live="polite">
        {typing.length ? `${typing.map(displayName).join(", ")} ${typing.length > 1 ? "are" : "is"} typing…` : ""}
      </p>
    </section>
  );
}

/** The message box: Enter sends, Shift+Enter is a new line; a file button uploads and sends an attachment. */
export function Composer({ client, teamId, conv, replyTo, onError, label, id }: { client: ChatClient; teamId: string; conv: string; replyTo?: string; onError: (m: string) => void; label: string; id: string }) {
  const { store, rest } = client;
  const [text, setText] = useState("");
  const [uploading, setUploading] = useState("");
  const lastTyping = useRef(0);
  const disabled = !!store.channels.get(teamId)?.team && store.channels.get(teamId)!.team!.active === false;

  const send = () => {
    const data = text.trim();
    if (!data) return;
    setText("");
    // A send whose echo was shown is marked on the message instead (MessageView.unconfirmed).
    store.send(teamId, { to: conv, data, reply_to: replyTo }).catch((err: SendError) => store.delivered(teamId, err.clientMsgId) || onError(`Not sent: ${err.message}`));
  };
  const upload = async (file: File) => {
    setUploading(file.name);
    try {
      const type = attachmentTypeOf(file.type || "application/octet-stream");
      const attachment = await rest.upload(teamId, file, { type });
      await store.send(teamId, { to: conv, type, data: attachment, reply_to: replyTo });
    } catch (err) {
      onError(`Upload failed: ${(err as Error).message}`);
    } finally {
      setUploading("");
    }
  };

  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <label for={id} class="visually-hidden">
        {label}
      </label>
      <textarea
        id={id}
        rows={1}
        placeholder={disabled ? "This team is inactive" : label}
        disabled={disabled}
        value={text}
        maxLength={4000}
        onInput={(e) => {
          setText(e.currentTarget.value);
          // §10: at most one typing frame per 2 s.
          if (Date.now() - lastTyping.current > 2000) {
            lastTyping.current = Date.now();
            store.typing(teamId, conv);
          }
        }}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            send();
          }
        }}
      />
      <label class="button file" aria-disabled={disabled || !!uploading}>
        <input
          type="file"
          class="visually-hidden"
          disabled={disabled || !!uploading}
          aria-label="Attach a file"
          onChange={(e) => {
            const f = e.currentTarget.files?.[0];
            e.currentTarget.value = "";
            if (f) void upload(f);
          }}
        />
        <span aria-hidden="true">{uploading ? "Uploading…" : "Attach"}</span>
      </label>
      <button type="submit" disabled={disabled || !text.trim()}>
        Send
      </button>
    </form>
  );
}

function Thread({ client, teamId, conv, rootId, onClose, onError }: { client: ChatClient; teamId: string; conv: string; rootId: string; onClose: () => void; onError: (m: string) => void }) {
  const { store } = client;
  useEffect(() => void store.loadThread(teamId, rootId), [rootId]);
  const [root, ...replies] = store.thread(teamId, rootId);
  const pending: PendingView[] = store.pendingIn(teamId, conv, rootId);
  return (
    <aside class="thread" aria-label="Thread">
      <header>
        <h2>Thread</h2>
        <button type="button" onClick={onClose} aria-label="Close thread">
          ✕
        </button>
      </header>
      <ol class="messages thread-list">
        {root && <Message client={client} m={root} onError={onError} />}
        {replies.map((m: MessageView) => (
          <Message key={m.id} client={client} m={m} onError={onError} />
        ))}
        {pending.map((p) => (
          <Pending key={p.client_msg_id} client={client} p={p} />
        ))}
      </ol>
      <Composer client={client} teamId={teamId} conv={conv} replyTo={rootId} onError={onError} label="Reply in thread" id="thread-input" />
    </aside>
  );
}
