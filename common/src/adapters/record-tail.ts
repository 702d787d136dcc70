import type { ConsumedRecord } from "../ports";

/**
 * The newest records a log committed, in seq order, kept in memory so that consumers keeping up
 * never read them back from the database: up to `maxRecords` and about `maxBytes` (2 bytes per
 * character), and up to twice both between cuts (a cut copies the array; it happens once per
 * `maxRecords` or `maxBytes` appended, not per append).
 */
export class RecordTail {
  private records: ConsumedRecord[] = [];
  private bytes = 0;

  constructor(
    private readonly maxRecords: number,
    private readonly maxBytes: number,
  ) {}

  push(r: ConsumedRecord): void {
    this.records.push(r);
    this.bytes += sizeOf(r);
    if (this.records.length > 2 * this.maxRecords || this.bytes > 2 * this.maxBytes) this.cut();
  }

  /**
   * Records after `after` up to `upTo`, at most `limit`; undefined unless all of them are here (then
   * read them from the log). Seqs of one process's commits are consecutive: any gap goes to the log.
   */
  after(after: number, upTo: number, limit: number): ConsumedRecord[] | undefined {
    const all = this.records;
    if (all.length === 0 || after < all[0]!.seq - 1) return undefined;
    if (after >= upTo) return [];
    const i = after + 1 - all[0]!.seq;
    if (all[i]?.seq !== after + 1) return undefined;
    const rows = all.slice(i, i + Math.min(limit, upTo - after));
    return rows.at(-1)!.seq === after + rows.length ? rows : undefined;
  }

  /** Keeps the newest records, up to maxRecords and maxBytes. */
  private cut(): void {
    let bytes = 0;
    let from = this.records.length;
    while (from > 0 && this.records.length - from < this.maxRecords) {
      const b = sizeOf(this.records[from - 1]!);
      if (bytes + b > this.maxBytes) break;
      bytes += b;
      from--;
    }
    this.records = this.records.slice(from);
    this.bytes = bytes;
  }
}

/** About what a record holds in memory: its strings (2 bytes a character) and the object. */
function sizeOf(r: ConsumedRecord): number {
  return 2 * (r.value.length + r.channelId.length) + 64;
}
