import type { ChatClient, MessageView, PendingView } from "@chat/client";
import { useEffect, useState } from "preact/hooks";
import { displayName, shortTime } from "./hooks";

const QUICK = ["👍", "❤️", "😂", "🎉", "👀"];

/** One message: author, time, body (text or attachment), edit marker, reactions and its actions. */
export function Message({ client, m, onThread, onError }: { client: ChatClient; m: MessageView; onThread?: (id: string) => void; onError: (m: string) => void }) {
  const { store } = client;
  const me = store.me;
  const mine = m.from === me;
  const role = store.roleOf(m.channel_id);
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(m.data ?? "");
  const [picker, setPicker] = useState(false);
  const fail = (what: string) => (err: Error) => onError(`${what} failed: ${err.message}`);

  return (
    <li class={`msg ${mine ? "mine" : ""}`} data-seq={m.seq}>
      <div class="meta">
        <span class="from">{displayName(m.from)}</span>
        {m.to !== "*" && <span class="dm"> → {displayName(m.to)}</span>}
        <time dateTime={m.ts}>{shortTime(m.ts)}</time>
        {m.edited_at && !m.deleted && <span class="edited">(edited)</span>}
        {m.unconfirmed && (
          <span class="unconfirmed" title={m.unconfirmed}>
            (delivered, not confirmed saved)
          </span>
        )}
      </div>
      {m.deleted ? (
        <p class="body deleted">This message was deleted.</p>
      ) : editing ? (
        <form
          class="edit"
          onSubmit={(e) => {
            e.preventDefault();
            setEditing(false);
            if (draft.trim() && draft !== m.data) store.edit(m.channel_id, m.id, draft.trim()).catch(fail("Edit"));
          }}
        >
          <label for={`edit-${m.id}`} class="visually-hidden">
            Edit message
          </label>
          <textarea id={`edit-${m.id}`} value={draft} onInput={(e) => setDraft(e.currentTarget.value)} onKeyDown={(e) => e.key === "Escape" && setEditing(false)} autofocus />
          <button type="submit">Save</button>
          <button type="button" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </form>
      ) : (
        <Body client={client} m={m} />
      )}
      {m.reactions.length > 0 && (
        <ul class="reactions" aria-label="Reactions">
          {m.reactions.map((r) => (
            <li key={r.emoji}>
              <button type="button" aria-pressed={r.me} onClick={() => store.toggleReaction(m.channel_id, m.id, r.emoji).catch(fail("Reaction"))} aria-label={`${r.emoji} ${r.count}${r.me ? ", yours" : ""}`}>
                {r.emoji} {r.count}
              </button>
            </li>
          ))}
        </ul>
      )}
      {!m.deleted && (
        <div class="actions">
          {onThread && !m.reply_to && (
            <button type="button" onClick={() => onThread(m.id)}>
              {m.reply_count ? `${m.reply_count} ${m.reply_count === 1 ? "reply" : "replies"}` : "Reply"}
            </button>
          )}
          <button type="button" aria-expanded={picker} onClick={() => setPicker(!picker)}>
            React
          </button>
          {mine && m.type === "text" && (
            <button type="button" onClick={() => (setDraft(m.data ?? ""), setEditing(true))}>
              Edit
            </button>
          )}
          {(mine || role === "admin" || role === "super_admin") && (
            <button type="button" onClick={() => confirm("Delete this message?") && store.delete(m.channel_id, m.id).catch(fail("Delete"))}>
              Delete
            </button>
          )}
          {picker && (
            <span class="picker" role="group" aria-label="Add a reaction">
              {QUICK.map((e) => (
                <button
                  type="button"
                  key={e}
                  onClick={() => {
                    setPicker(false);
                    store.toggleReaction(m.channel_id, m.id, e).catch(fail("Reaction"));
                  }}
                >
                  {e}
                </button>
              ))}
            </span>
          )}
        </div>
      )}
    </li>
  );
}

function Body({ client, m }: { client: ChatClient; m: MessageView }) {
  if (m.type === "text") return <p class="body">{m.data}</p>;
  return <Attachment client={client} id={m.data!} type={m.type} />;
}

const blobs = new Map<string, Promise<string>>();
/** Attachments need the bearer token: fetched through the SDK and shown from a blob URL. */
function Attachment({ client, id, type }: { client: ChatClient; id: string; type: string }) {
  const [url, setUrl] = useState<string>();
  const [error, setError] = useState("");
  useEffect(() => {
    let p = blobs.get(id);
    if (!p) {
      p = client.rest.downloadAttachment(id).then((b) => URL.createObjectURL(b));
      blobs.set(id, p);
      p.catch(() => blobs.delete(id));
    }
    p.then(setUrl, (err: Error) => setError(err.message));
  }, [id]);
  if (error) return <p class="body hint">Attachment unavailable ({error})</p>;
  if (!url) return <p class="body hint">Loading {type}…</p>;
  if (type === "image")
    return (
      <a href={url} target="_blank" rel="noopener" class="image">
        <img src={url} alt="Image attachment" loading="lazy" />
      </a>
    );
  if (type === "video") return <video src={url} controls class="media" />;
  if (type === "audio") return <audio src={url} controls />;
  return (
    <p class="body">
      <a href={url} download>
        Download file
      </a>
    </p>
  );
}

/** A send on its way (or refused): shown after the timeline until the server's copy arrives. */
export function Pending({ client, p }: { client: ChatClient; p: PendingView }) {
  return (
    <li class={`msg mine pending ${p.status}`}>
      <div class="meta">
        <span class="from">{displayName(client.store.me ?? "")}</span>
        <span class="state">{p.status === "failed" ? `not sent: ${p.error}` : "sending…"}</span>
      </div>
      <p class="body">{p.type === "text" ? p.data : `(${p.type})`}</p>
      {p.status === "failed" && (
        <div class="actions">
          <button type="button" onClick={() => void client.store.retryPending(p.channel_id, p.client_msg_id)?.catch(() => {})}>
            Retry
          </button>
          <button type="button" onClick={() => client.store.discardPending(p.channel_id, p.client_msg_id)}>
            Discard
          </button>
        </div>
      )}
    </li>
  );
}
