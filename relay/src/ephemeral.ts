import { EventKind, type Event } from "@chat/proto/chat/v1/controller_pb";
import type { Presence } from "./presence";
import type { Typing } from "./typing";

/**
 * Takes the ephemeral events (typing, presence) out of a controller batch before the rest reaches
 * the fanout, whose seq order and redelivery checks they have no part in; membership events also
 * keep the presence module's idea of each local user's teams current.
 */
export function ephemeralTap(presence: Presence, typing: Typing): (events: Event[]) => Event[] {
  return (events) => {
    let rest: Event[] | undefined;
    for (let i = 0; i < events.length; i++) {
      const ev = events[i]!;
      const ephemeral = ev.kind === EventKind.TYPING || ev.kind === EventKind.PRESENCE;
      if (ev.kind === EventKind.TYPING) typing.deliver(ev);
      else if (ev.kind === EventKind.PRESENCE) {
        if (ev.presence) presence.receive(ev.presence);
      } else if (ev.kind === EventKind.MEMBER_JOINED || ev.kind === EventKind.MEMBER_LEFT) void presence.member(ev.to, ev.channelId, ev.kind === EventKind.MEMBER_JOINED);
      if (ephemeral) rest ??= events.slice(0, i);
      else rest?.push(ev);
    }
    return rest ?? events;
  };
}
