import type { Logger } from "@chat/common/log";
import { readyFrame } from "./frames";
import type { Inbound } from "./inbound";
import type { SocketRegistry } from "./registry";
import type { TokenLifetime } from "./token-lifetime";
import type { Resumer } from "./resume";
import type { WS } from "./socket";
import type { Upstream } from "./upstream";

/**
 * A socket's life on this relay: opened (its channels become interest), ready once the controllers
 * forward those channels (then `ready`, the `?since` replays, and the frames it sent meanwhile),
 * closed at the latest when its token expires (interest released, one summary log line).
 */
export class Lifecycle {
  constructor(
    private readonly sockets: SocketRegistry,
    private readonly upstream: Upstream,
    private readonly resumer: Resumer,
    private readonly inbound: Inbound,
    private readonly tokens: TokenLifetime,
    private readonly dropInterest: (ch: string) => void,
    private readonly logger: Logger,
  ) {}

  open(ws: WS): void {
    this.sockets.add(ws);
    const interest = [...ws.data.channels].map((ch) => this.upstream.add(ch));
    void Promise.all(interest).then(() => this.ready(ws));
  }

  private ready(ws: WS): void {
    if (ws.data.closed) return;
    this.sockets.send(ws, readyFrame(ws.data.user, ws.data.channels, ws.data.expiresAt));
    if (ws.data.closed) return; // the send found it too slow and closed it
    this.tokens.track(ws);
    for (const ch of ws.data.channels) {
      const after = ws.data.since.get(ch);
      if (after === undefined) this.sockets.subscribe(ws, ch);
      else void this.resumer.resume(ws, ch, after);
    }
    ws.data.ready = true;
    for (const raw of ws.data.inbox.splice(0)) void this.inbound.handle(ws, raw);
  }

  close(ws: WS, code: number): void {
    ws.data.closed = true;
    // One summary line per connection (the token never reaches the log).
    this.logger.info("socket closed", {
      user: ws.data.user,
      code,
      channels: ws.data.channels.size,
      frames_in: ws.data.framesIn,
      ms: Math.round(performance.now() - ws.data.openedAt),
    });
    this.sockets.remove(ws);
    this.tokens.untrack(ws);
    for (const ch of ws.data.channels) this.dropInterest(ch);
    this.resumer.cancelAll(ws);
  }
}
