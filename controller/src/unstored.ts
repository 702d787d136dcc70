import type { MessageInfo } from "@chat/common/lifecycle";
import type { Event } from "@chat/proto/chat/v1/controller_pb";

/**
 * Messages published before their batch is stored, by channel, until it is: what a relay catching
 * up reads beside the store (which may lag live delivery by one store write), so that nothing
 * published falls between the two. Batches are stored in order, so each channel's list is FIFO.
 */
export class Unstored {
  private readonly byChannel = new Map<string, Event[]>();
  /** The same messages as the lifecycle rules look them up (a reaction to what just arrived live). */
  private readonly byId = new Map<string, MessageInfo>();
  /** Per batch, what `drop` removes: its ids, and how many of each channel's list are its. */
  private readonly byBatch = new Map<number, { ids: string[]; counts: Map<string, number> }>();

  /** A batch's messages as published (event) and as the lifecycle rules see them (info). */
  add(batch: number, messages: [Event, MessageInfo][]): void {
    if (messages.length === 0) return;
    const mine = { ids: [] as string[], counts: new Map<string, number>() };
    for (const [ev, info] of messages) {
      let list = this.byChannel.get(ev.channelId);
      if (!list) this.byChannel.set(ev.channelId, (list = []));
      list.push(ev);
      mine.counts.set(ev.channelId, (mine.counts.get(ev.channelId) ?? 0) + 1);
      this.byId.set(info.id, info);
      mine.ids.push(info.id);
    }
    this.byBatch.set(batch, mine);
  }

  /** The batch is stored: its messages are in the store now. */
  drop(batch: number): void {
    const mine = this.byBatch.get(batch);
    if (!mine) return;
    this.byBatch.delete(batch);
    for (const id of mine.ids) this.byId.delete(id);
    for (const [ch, n] of mine.counts) {
      const list = this.byChannel.get(ch);
      if (!list) continue;
      list.splice(0, n);
      if (list.length === 0) this.byChannel.delete(ch);
    }
  }

  /** A channel's unstored messages after `after` that `viewer` may see ("" = all), oldest first. */
  since(channelId: string, viewer: string, after: bigint, limit: number): Event[] {
    const out: Event[] = [];
    for (const ev of this.byChannel.get(channelId) ?? []) {
      if (ev.seq <= after) continue;
      if (viewer && ev.to !== "*" && ev.to !== viewer && ev.from !== viewer) continue;
      out.push(ev);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** An unstored message of `channelId` by id (the store decides later whether an op on it takes effect). */
  message(channelId: string, id: string): MessageInfo | undefined {
    const m = this.byId.get(id);
    return m && m.channel_id === channelId ? m : undefined;
  }
}
