import type { Event } from "@chat/proto/chat/v1/controller_pb";

/**
 * The log events (not typing or presence) routed to one relay instance, numbered from 1 (their
 * position): the newest kept, at most `maxEvents` and `maxChars` of frames (the newest one always).
 * A cut-off relay's events of other channels are kept in one too (their numbers unused: not positions).
 */
export class Recent {
  private events: Event[] = [];
  private sizes: number[] = [];
  private start = 0;
  private chars = 0;
  /** The position of the newest event routed (0: none yet), kept or not. */
  last = 0;
  /** Names this count: a relay's position means something only under the epoch it came with. */
  readonly epoch = crypto.randomUUID();

  constructor(
    private readonly maxEvents: number,
    /** Frame characters kept at most (UTF-16 code units: up to twice as many bytes). */
    private readonly maxChars = Infinity,
    /** Told of each event pushed out past the bounds. */
    private readonly onDrop?: (ev: Event) => void,
  ) {}

  /** Numbers `ev` (and keeps it, pushing the oldest out past the bounds). */
  push(ev: Event): number {
    this.last++;
    if (this.maxEvents <= 0) return this.last;
    this.events.push(ev);
    this.sizes.push(ev.frame.length);
    this.chars += ev.frame.length;
    while (this.events.length - this.start > this.maxEvents || (this.chars > this.maxChars && this.events.length - this.start > 1)) {
      this.chars -= this.sizes[this.start]!;
      this.onDrop?.(this.events[this.start]!);
      this.start++;
    }
    if (this.start > 1024 && this.start * 2 > this.events.length) {
      this.events = this.events.slice(this.start);
      this.sizes = this.sizes.slice(this.start);
      this.start = 0;
    }
    return this.last;
  }

  /** The kept events after `position`; `complete` if none after it was pushed out. */
  after(position: number): { events: Event[]; complete: boolean } {
    const kept = this.events.length - this.start;
    const first = this.last - kept + 1;
    if (position >= this.last) return { events: [], complete: position === this.last };
    return { events: this.events.slice(this.start + Math.max(0, position + 1 - first)), complete: position + 1 >= first };
  }
}
