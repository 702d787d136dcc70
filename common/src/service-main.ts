import { ConfigError, loadConfig, type Config } from "./config";
import { configureLogging, log } from "./log";

/**
 * The shared `main` of every process: read and validate the environment once (a bad value
 * stops start-up naming the variable), start, and stop gracefully on SIGINT/SIGTERM.
 */
export async function runMain(name: string, start: (config: Config) => Promise<{ stop(): Promise<void> }>, require: (config: Config) => void = () => {}) {
  let config: Config;
  try {
    config = loadConfig();
    require(config);
  } catch (err) {
    console.error(err instanceof ConfigError ? `${name}: ${err.message}` : err);
    process.exit(2);
  }
  configureLogging({ level: config.logLevel });
  let service: { stop(): Promise<void> };
  try {
    service = await start(config);
  } catch (err) {
    log.error("start-up failed", { service: name, err });
    process.exit(1);
  }
  let stopping = false;
  for (const sig of ["SIGINT", "SIGTERM"] as const)
    process.on(sig, async () => {
      if (stopping) return;
      stopping = true;
      log.info("shutting down", { service: name, signal: sig });
      const force = setTimeout(() => process.exit(1), 30_000);
      await service.stop();
      clearTimeout(force);
      process.exit(0);
    });
}

/** Distributed services share state only through real servers. */
export function requireDistributed(...what: ("kafka" | "mongo")[]) {
  return (config: Config) => {
    if (what.includes("kafka") && !config.kafka) throw new ConfigError("KAFKA_BROKERS: required in distributed mode (or run `bun run start` for standalone)");
    if (what.includes("mongo") && !config.mongo) throw new ConfigError("MONGODB_URL: required in distributed mode (or run `bun run start` for standalone)");
  };
}
