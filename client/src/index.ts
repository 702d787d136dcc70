import { ChatConnection, type ConnectionOptions } from "./connection";
import { RestClient } from "./rest";
import { ChatStore, type StoreOptions } from "./view";

export * from "./protocol";
export { ApiError, RestClient, attachmentTypeOf, type AttachmentInput, type RestOptions, type TokenProvider } from "./rest";
export { ChatConnection, SendError, type Ack, type ConnectionEvents, type ConnectionOptions, type ConnectionState, type ConnectionTokenProvider, type WebSocketFactory, type WebSocketLike } from "./connection";
export { ChatStore, type ChannelState, type ConversationKey, type MessageView, type PendingView, type StoreOptions } from "./view";
export { newClientMsgId, tokenExpiry, tokenSubject } from "./ids";

export interface ChatClientOptions extends Omit<ConnectionOptions, "token"> {
  /** Returns a valid JWT; called on connect, before `exp`, and when the server refuses the current one. */
  token: ConnectionOptions["token"];
  store?: StoreOptions;
}

/** The REST client, the connection and the view model over one token provider. */
export function createChatClient(opts: ChatClientOptions) {
  // REST uses the token the connection holds, and asks for a new one when the server refuses it.
  let current: string | undefined;
  const provider: ConnectionOptions["token"] = async (reason) => (current = await opts.token(reason));
  const connection = new ChatConnection({ ...opts, token: provider });
  const rest = new RestClient({
    baseUrl: opts.baseUrl,
    fetch: opts.fetch,
    token: (rejected) => (rejected !== undefined && rejected === current ? provider("rejected") : current ?? provider("connect")),
  });
  const store = new ChatStore(connection, rest, opts.store);
  return { connection, rest, store, close: () => (connection.close(), store.dispose()) };
}
export type ChatClient = ReturnType<typeof createChatClient>;
