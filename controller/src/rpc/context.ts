import type { Logger } from "@chat/common/log";
import type { Metrics } from "@chat/common/metrics";
import type { MessageStore, TeamStore } from "@chat/common/ports";
import type { Ephemeral } from "../ephemeral";
import type { Hub } from "../hub";

/** What the RPC handlers may touch. */
export interface RpcContext {
  hub: Hub;
  /** Presence leases and typing (PROTOCOL section 10), in memory only. */
  ephemeral: Ephemeral;
  teams: TeamStore;
  messages: MessageStore;
  logger: Logger;
  metrics: Metrics;
}
