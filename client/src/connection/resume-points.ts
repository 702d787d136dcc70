import type { ChannelEvent } from "../protocol";

/**
 * What a reconnect resumes: the channels the socket covers and the highest seq processed in each,
 * sent as `?since=<ch>:<lastSeq>` so the server replays only what was missed.
 */
export class ResumePoints {
  /** Channels the connection covers now: `ready.channels`, then followed live. */
  readonly channels = new Set<string>();
  /** Highest seq processed per channel: the resume point. */
  readonly lastSeq = new Map<string, number>();

  /** A resume point learned elsewhere: only used for a channel without one yet. */
  seed(channelId: string, seq: number): void {
    if (!this.lastSeq.has(channelId)) this.lastSeq.set(channelId, seq);
  }

  appendSince(url: URL): void {
    for (const [ch, seq] of this.lastSeq) url.searchParams.append("since", `${ch}:${seq}`);
  }

  /** False for an event already processed: a resume overlapping what was seen. */
  accept(f: ChannelEvent): boolean {
    const last = this.lastSeq.get(f.channel_id);
    if (last !== undefined && f.seq <= last) return false;
    this.lastSeq.set(f.channel_id, f.seq);
    return true;
  }

  /** `ready` lists the channels now covered; resume points of any other are dropped. */
  reset(channels: string[]): void {
    this.channels.clear();
    for (const ch of channels) this.channels.add(ch);
    this.keepOnly(this.channels);
  }

  left(channelId: string): void {
    this.channels.delete(channelId);
    this.lastSeq.delete(channelId);
  }

  keepOnly(channels: ReadonlySet<string>): void {
    for (const ch of [...this.lastSeq.keys()]) if (!channels.has(ch)) this.lastSeq.delete(ch);
  }
}
