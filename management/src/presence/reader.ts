import { AppError } from "@chat/common/errors";
import type { Client } from "@connectrpc/connect";
import type { ControllerService } from "@chat/proto/chat/v1/controller_pb";

/** Who is online in a team, as the controllers' presence tables say (PROTOCOL section 10). */
export interface PresenceReader {
  online(teamId: string): Promise<string[]>;
}

/**
 * Every relay announces to every controller, so any one of them can answer; the union of all that
 * answer covers one that restarted moments ago and is still hearing the relays again.
 */
export function controllerPresence(controllers: Client<typeof ControllerService>[]): PresenceReader {
  return {
    async online(teamId) {
      const answers = await Promise.allSettled(controllers.map((c) => c.getPresence({ channelId: teamId }, { timeoutMs: 2_000 })));
      const ok = answers.filter((a) => a.status === "fulfilled");
      if (!ok.length) throw new AppError("unavailable", "presence service unavailable");
      return [...new Set(ok.flatMap((a) => a.value.online))].sort();
    },
  };
}
