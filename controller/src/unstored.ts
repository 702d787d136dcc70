import { EventKind, type Event } from "@chat/proto/chat/v1/controller_pb";

/**
 * Messages published before their batch is stored, by channel, until it is: what a relay catching
 * up reads beside the store (which may lag live delivery by one store write), so that nothing
 * published falls between the two. Batches are stored in order, so each channel's list is FIFO.
 */
export class Unstored {
  private readonly byChannel = new Map<string, Event[]>();
  private readonly byBatch = new Map<number, Map<string, number>>();

  add(batch: number, events: Event[]): void {
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

  get size(): number {
    let n = 0;
    for (const l of this.byChannel.values()) n += l.length;
    return n;
  }
}
