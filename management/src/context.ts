import type { Verifier } from "@chat/common/auth";
import type { Config } from "@chat/common/config";
import type { Logger } from "@chat/common/log";
import type { Metrics } from "@chat/common/metrics";
import type { DevLogin } from "./dev/login";
import type { Take } from "@chat/common/http/rate-limit";
import type { MessageLog, MessageStore, ObjectStore, TeamStore } from "@chat/common/ports";
import type { PresenceReader } from "./presence/reader";

/** One request taken from a key's allowance (`TokenBuckets` of common/src/http/rate-limit.ts fits). */
export interface RestLimiter {
  take(key: string): Take;
}

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
  /** Standalone with a generated secret only (see dev/login.ts). */
  devLogin?: DevLogin;
  /**
   * REST rate limit (PROTOCOL §7): charged `user:<sub>` once the token is verified, `addr:<client address>`
   * when it is missing or fails. Without it, nothing is limited here.
   */
  restLimiter?: RestLimiter;
}
