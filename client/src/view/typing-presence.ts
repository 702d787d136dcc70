import type { PresenceEvent, TypingEvent } from "../protocol";
import type { ChannelState, ConversationKey } from "./channel-state";

// Ephemeral state (§10): typing indicators keyed `${user}\n${to}` with an expiry, and who is online.

/** Users typing in a conversation now (`me` excluded). */
export function typingIn(c: ChannelState, conv: ConversationKey, now: number, me: string | undefined): string[] {
  const out: string[] = [];
  for (const [key, until] of c.typing) {
    if (until <= now) continue;
    const [user, to] = key.split("\n") as [string, string];
    if (user === me) continue;
    if (conv === "*" ? to === "*" : to !== "*" && user === conv) out.push(user);
  }
  return out;
}

export function noteTyping(c: ChannelState, f: TypingEvent, until: number): void {
  c.typing.set(`${f.user}\n${f.to}`, until);
}

/** A typing indicator ends with the user's message. */
export function clearTyping(c: ChannelState, user: string): void {
  for (const key of c.typing.keys()) if (key.startsWith(`${user}\n`)) c.typing.delete(key);
}

/** Drops expired indicators; returns when the next one expires (Infinity if none is left). */
export function expireTyping(channels: Iterable<ChannelState>, now: number): number {
  let next = Infinity;
  for (const c of channels)
    for (const [key, until] of c.typing) {
      if (until <= now) c.typing.delete(key);
      else next = Math.min(next, until);
    }
  return next;
}

/** One timer for every indicator, set for the next to expire; `onExpire` runs after each sweep it fires. */
export class TypingExpiry {
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly channels: Map<string, ChannelState>,
    private readonly now: () => number,
    private readonly onExpire: () => void,
  ) {}

  schedule(): void {
    clearTimeout(this.timer);
    const now = this.now();
    const next = expireTyping(this.channels.values(), now);
    if (next !== Infinity)
      this.timer = setTimeout(() => {
        this.schedule();
        this.onExpire();
      }, next - now + 5);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

export function applyPresence(c: ChannelState, f: PresenceEvent): void {
  const online = new Set(c.online);
  for (const u of f.online) online.add(u);
  for (const u of f.offline) online.delete(u);
  c.online = online;
}
