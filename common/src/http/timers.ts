/**
 * Expiry times for many long-lived items (token expiry on open sockets, PROTOCOL §11) on one interval
 * timer. Items are bucketed by the tick at which they fall due, so a tick costs one bucket lookup plus
 * the items actually due: ten thousand idle sockets cost nothing per tick. An item fires at the first
 * tick at or after its time, never early and at most one tick late.
 */
export interface ExpiryWheelOptions<T> {
  /** The clock (ms); injectable for tests. */
  now?: () => number;
  /** Run tick() on a setInterval while items are scheduled (default true; tests call tick() themselves). */
  autoStart?: boolean;
  /** A throwing onDue must not stop the other items from firing; default: console.error. */
  onError?: (err: unknown, item: T) => void;
}

interface Entry {
  slot: number;
  at: number;
}

export class ExpiryWheel<T> {
  private readonly slots = new Map<number, Set<T>>();
  private readonly entries = new Map<T, Entry>();
  private readonly now: () => number;
  private readonly autoStart: boolean;
  private readonly onError: (err: unknown, item: T) => void;
  /** Every slot up to this one has been fired. */
  private lastSlot: number;
  private timer: ReturnType<typeof setInterval> | null = null;
  /** Work done by ticks, for tests and metrics: slots looked up and items fired. */
  readonly stats = { ticks: 0, slotsVisited: 0, fired: 0 };

  constructor(
    readonly tickMs: number,
    private readonly onDue: (item: T, atMs: number) => void,
    opts: ExpiryWheelOptions<T> = {},
  ) {
    if (!(tickMs >= 1)) throw new RangeError("tickMs must be >= 1");
    this.now = opts.now ?? Date.now;
    this.autoStart = opts.autoStart ?? true;
    this.onError = opts.onError ?? ((err) => console.error("expiry callback failed", err));
    this.lastSlot = Math.floor(this.now() / tickMs);
  }

  /** Schedules `item` to fire at `atMs`, replacing any earlier schedule of it. A time already past fires at the next tick. */
  schedule(item: T, atMs: number): void {
    this.remove(item);
    const slot = Math.max(Math.ceil(atMs / this.tickMs), this.lastSlot + 1);
    let bucket = this.slots.get(slot);
    if (!bucket) this.slots.set(slot, (bucket = new Set()));
    bucket.add(item);
    this.entries.set(item, { slot, at: atMs });
    if (this.autoStart && this.timer === null) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref?.();
    }
  }

  reschedule(item: T, atMs: number): void {
    this.schedule(item, atMs);
  }

  /** True if `item` was scheduled. */
  cancel(item: T): boolean {
    const had = this.remove(item);
    this.idle();
    return had;
  }

  has(item: T): boolean {
    return this.entries.has(item);
  }

  dueAt(item: T): number | undefined {
    return this.entries.get(item)?.at;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Fires every item due by `now`, in order of due slot; returns how many fired. */
  tick(now: number = this.now()): number {
    const target = Math.floor(now / this.tickMs);
    if (target <= this.lastSlot) return 0;
    this.stats.ticks++;
    // Normally one slot per tick; after a long stall (a laptop asleep) walk the occupied slots instead.
    let due: number[];
    if (target - this.lastSlot <= this.slots.size) {
      due = [];
      for (let s = this.lastSlot + 1; s <= target; s++) due.push(s);
    } else {
      due = [...this.slots.keys()].filter((s) => s <= target).sort((a, b) => a - b);
    }
    this.lastSlot = target; // from here on, anything scheduled lands after `target`
    let fired = 0;
    for (const s of due) {
      this.stats.slotsVisited++;
      const bucket = this.slots.get(s);
      if (!bucket) continue;
      this.slots.delete(s);
      for (const item of bucket) {
        const entry = this.entries.get(item);
        if (!entry || entry.slot !== s) continue;
        this.entries.delete(item);
        fired++;
        try {
          this.onDue(item, entry.at);
        } catch (err) {
          this.onError(err, item);
        }
      }
    }
    this.stats.fired += fired;
    this.idle();
    return fired;
  }

  /** Drops every item and the timer. */
  stop(): void {
    this.slots.clear();
    this.entries.clear();
    this.idle();
  }

  private remove(item: T): boolean {
    const entry = this.entries.get(item);
    if (!entry) return false;
    this.entries.delete(item);
    const bucket = this.slots.get(entry.slot);
    bucket?.delete(item);
    if (bucket?.size === 0) this.slots.delete(entry.slot);
    return true;
  }

  private idle(): void {
    if (this.entries.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
