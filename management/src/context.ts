import type { Verifier } from "@chat/common/auth";
import type { Config } from "@chat/common/config";
import type { Logger } from "@chat/common/log";
import type { Metrics } from "@chat/common/metrics";
import type { MessageLog, MessageStore, ObjectStore, TeamStore } from "@chat/common/ports";
import type { PresenceReader } from "./presence/reader";

/** What the management routes may use, built by the composition root. */
export interface ManagementDeps {
  config: Config;
  verify: Verifier;
  teams: TeamStore;
  messages: MessageStore;
  log: MessageLog;
  objects?: ObjectStore;
  logger: Logger;
  metrics: Metrics;
  /** The public origin presigned paths are made absolute on (PUBLIC_URL, or what standalone bound to). */
  publicUrl?: () => string | undefined;
  /** Presence (PROTOCOL section 10), from the controllers; absent: GET presence answers 503. */
  presence?: PresenceReader;
  /** Readiness of each dependency, by name. */
  checks: Record<string, () => Promise<void>>;
}
