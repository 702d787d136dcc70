import type { Logger } from "@chat/common/log";
import type { Metrics } from "@chat/common/metrics";
import type { MessageStore, TeamStore } from "@chat/common/ports";
import type { Ephemeral } from "../ephemeral";
import type { Hub } from "../hub";
import type { Unstored } from "../unstored";

/** What the RPC handlers may touch. */
export interface RpcContext {
  hub: Hub;
  /** Presence leases and typing (PROTOCOL section 10), in memory only. */
  ephemeral: Ephemeral;
  teams: TeamStore;
  messages: MessageStore;
  /** Messages published but not stored yet. */
  unstored: Unstored;
  logger: Logger;
  metrics: Metrics;
}
