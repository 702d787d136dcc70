import type { MessageInfo } from "@chat/common/lifecycle";
import { EventKind, type Event } from "@chat/proto/chat/v1/controller_pb";

/**
 * Messages published before their batch is stored, by channel, until it is: what a relay catching
 * up reads beside the store (which may lag live delivery by one store write), so that nothing
 * published falls between the two. Batches are stored in order, so each channel's list is FIFO.
 */
export class Unstored {
  private readonly byChannel = new Map<string, Event[]>();
  private readonly byBatch = new Map<number, Map<string, number>>();
  /** The same messages as the lifecycle rules look them up (a reaction to what just arrived live). */
  private readonly byId = new Map<string, MessageInfo>();
  private readonly idsByBatch = new Map<number, string[]>();

  add(batch: number, events: Event[], infos: MessageInfo[] = []): void {
    if (infos.length) {
      for (const m of infos) this.byId.set(m.id, m);
      this.idsByBatch.set(batch, infos.map((m) => m.id));
    }
    let counts: Map<string, number> | undefined;
    for (const ev of events) {
      if (ev.kind !== EventKind.MESSAGE) continue;
      let list = this.byChannel.get(ev.channelId);
      if (!list) this.byChannel.set(ev.channelId, (list = []));
      list.push(ev);
      counts ??= new Map();
      counts.set(ev.channelId, (counts.get(ev.channelId) ?? 0) + 1);
    }
    if (counts) this.byBatch.set(batch, counts);
  }

  /** The batch is stored: its messages are in the store now. */
  drop(batch: number): void {
    for (const id of this.idsByBatch.get(batch) ?? []) this.byId.delete(id);
    this.idsByBatch.delete(batch);
    const counts = this.byBatch.get(batch);
    if (!counts) return;
    this.byBatch.delete(batch);
    for (const [ch, n] of counts) {
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

  get size(): number {
    let n = 0;
    for (const l of this.byChannel.values()) n += l.length;
    return n;
  }
}
