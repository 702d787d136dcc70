import { logLevel, type LogEntry } from "kafkajs";
import type { Logger } from "../log";
import type { OutageLog } from "../outage-log";

const LEVEL_OF: Record<number, "error" | "warn" | "info" | "debug"> = {
  [logLevel.ERROR]: "error",
  [logLevel.WARN]: "warn",
  [logLevel.INFO]: "info",
  [logLevel.DEBUG]: "debug",
};

/** kafkajs lines that only say "the broker cannot be reached (yet)", one per attempt. */
export const UNREACHABLE = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|EPIPE|Connection (error|timeout)|Closed connection|KafkaJSConnection|NumberOfRetriesExceeded|Failed to connect|not connected|socket hang up|broker.*not available/i;

/**
 * Routes kafkajs' own logs (WARN and up) through our logger; stacks are dropped as noise.
 * Error responses kafkajs retries itself (coordinator loading or moved) are warnings; the
 * bounded-retries warning is moot because a failed producer is replaced (see `send`). Attempts
 * refused while the broker is unreachable go to `outage`, which logs state changes, not attempts.
 */
export function logCreator(logger: Logger, outage: OutageLog) {
  return () =>
    ({ namespace, level, log }: LogEntry) => {
      const { message, timestamp: _t, logger: _l, stack: _s, ...fields } = log as LogEntry["log"] & { stack?: unknown };
      let lvl = LEVEL_OF[level] ?? "info";
      if (namespace === "Producer" && message.startsWith("Limiting retries")) lvl = "debug";
      else if (lvl === "error" && namespace === "Connection" && message.startsWith("Response ")) lvl = "warn";
      else if (
        (lvl === "error" || lvl === "warn") &&
        (UNREACHABLE.test(message) || UNREACHABLE.test(String(fields.error ?? "")) || (outage.active && /^Restarting the consumer|^Failed to send/.test(message)))
      ) {
        outage.failed({ namespace, err: message });
        lvl = "debug";
      }
      logger[lvl](message, { namespace, ...fields });
    };
}
