import { EventKind, type Event } from "@chat/proto/chat/v1/controller_pb";

/**
 * What the controller streams tell about an append at `seq` in a channel:
 * - `mine`: the message came back. Controllers publish a keyed message before storing it only when
 *   its key is certainly new (controller/src/claims.ts), otherwise once the store kept it as the one
 *   message of its key, so it is the verdict, learnt without a database read.
 * - `passed`: a later entry of the channel came back without it. A channel is published in log order
 *   and a record that waits for the store holds the channel's later ones behind it, so the controller
 *   has decided this append: either it lost to an earlier message of its key, or the relay missed it
 *   (a stream that reopened). A store read then tells which; as the store may lag the stream by one
 *   write, a read that finds nothing is repeated with backoff (verifier.ts).
 */
export type StreamVerdict = "mine" | "passed";

export interface Watch {
  readonly verdict: Promise<StreamVerdict>;
  /** The append's seq, once the log answered: from then on a later entry of the channel settles `passed`. */
  at(seq: number): void;
  cancel(): void;
}

interface Watcher {
  id: string;
  /** Undefined until the append is answered: the message's own event may come back first. */
  seq: number | undefined;
  /** The highest seq of the channel seen while `seq` was unknown. */
  seen: number;
  settle: (v: StreamVerdict) => void;
}

/** Watches for verdicts on appends; frames are only looked at in channels someone waits on. */
export class Verdicts {
  private readonly byChannel = new Map<string, Map<string, Watcher>>();

  get watching(): number {
    let n = 0;
    for (const w of this.byChannel.values()) n += w.size;
    return n;
  }

  notify(events: Event[]): void {
    if (this.byChannel.size === 0) return;
    let highest: Map<string, number> | undefined;
    for (const ev of events) {
      const watchers = this.byChannel.get(ev.channelId);
      if (!watchers) continue;
      if (ev.kind === EventKind.MESSAGE) {
        const at = ev.frame.indexOf('"id":"');
        if (at >= 0) watchers.get(ev.frame.slice(at + 6, at + 30))?.settle("mine");
      }
      const seq = Number(ev.seq); // 0 for ephemeral events (typing, presence): they never pass an append
      if (seq > (highest?.get(ev.channelId) ?? 0)) (highest ??= new Map()).set(ev.channelId, seq);
    }
    // After the whole batch: an append's own event, earlier in the batch than a later entry, wins.
    for (const [ch, seq] of highest ?? [])
      for (const w of [...(this.byChannel.get(ch)?.values() ?? [])]) {
        if (w.seq === undefined) w.seen = Math.max(w.seen, seq);
        else if (seq > w.seq) w.settle("passed");
      }
  }

  /**
   * The verdict on the append of message `id` in `channelId`, once a stream tells it. Started before
   * the append, since its event may come back before the log's answer does; `at` gives the seq then.
   */
  watch(channelId: string, id: string): Watch {
    let watchers = this.byChannel.get(channelId);
    if (!watchers) this.byChannel.set(channelId, (watchers = new Map()));
    const remove = () => {
      if (watchers.get(id) !== watcher) return;
      watchers.delete(id);
      if (watchers.size === 0 && this.byChannel.get(channelId) === watchers) this.byChannel.delete(channelId);
    };
    let resolve!: (v: StreamVerdict) => void;
    const verdict = new Promise<StreamVerdict>((r) => (resolve = r));
    const watcher: Watcher = {
      id,
      seq: undefined,
      seen: 0,
      settle: (v) => {
        remove();
        resolve(v);
      },
    };
    watchers.set(id, watcher);
    const at = (seq: number) => {
      watcher.seq = seq;
      if (watcher.seen > seq) watcher.settle("passed");
    };
    return { verdict, at, cancel: remove };
  }
}
