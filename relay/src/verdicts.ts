import { EventKind, type Event } from "@chat/proto/chat/v1/controller_pb";

/**
 * Waits for a message id to come back on the controller streams. Controllers publish a message only
 * once it is stored as the one message of its client_msg_id, so seeing it is the verdict "ours",
 * learnt without a database read. Frames are only looked at while someone waits.
 */
export class Verdicts {
  private readonly waiters = new Map<string, () => void>();

  notify(events: Event[]): void {
    if (this.waiters.size === 0) return;
    for (const ev of events) {
      if (ev.kind !== EventKind.MESSAGE) continue;
      const at = ev.frame.indexOf('"id":"');
      const w = at >= 0 ? this.waiters.get(ev.frame.slice(at + 6, at + 30)) : undefined;
      w?.();
    }
  }

  /** True once a message with `id` is published, false after `ms`. */
  published(id: string, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        resolve(false);
      }, ms);
      this.waiters.set(id, () => {
        clearTimeout(timer);
        this.waiters.delete(id);
        resolve(true);
      });
    });
  }
}
