import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Default metrics whose collection costs O(heap) under Bun. */
export const HEAP_WALKING = ["nodejs_heap_space_size_total_bytes", "nodejs_heap_space_size_used_bytes", "nodejs_heap_space_size_available_bytes"];

/** Every metric of every service, on one registry per process (standalone shares one). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "chat_" });
  // Under Bun, v8.getHeapSpaceStatistics() walks the whole heap on the thread that serves sockets: ~95 ms
  // a scrape at a million objects (bench/README.md, "A scrape that stopped the event loop"). The heap's
  // size stays, from process.memoryUsage() (chat_nodejs_heap_size_*_bytes).
  for (const m of HEAP_WALKING) registry.removeSingleMetric(`chat_${m}`);
  const registers = [registry];
  return {
    registry,
    wsConnections: new Gauge({ name: "chat_ws_connections", help: "open WebSocket connections", registers }),
    wsRejected: new Counter({ name: "chat_ws_upgrades_refused_total", help: "refused WebSocket upgrades", labelNames: ["status"], registers }),
    messagesIn: new Counter({ name: "chat_messages_in_total", help: "client frames by outcome", labelNames: ["outcome"], registers }),
    framesOut: new Counter({ name: "chat_frames_out_total", help: "events fanned out by relays (one per topic publish)", registers }),
    slowClosed: new Counter({ name: "chat_ws_slow_consumers_closed_total", help: "sockets closed with 1013", registers }),
    clientMsgIdChecks: new Counter({
      name: "chat_client_msg_id_store_checks_total",
      help: "client_msg_id reads a relay made in the store: a resend it could not vouch for from memory (after a reconnect, a failure, or a key it had to forget)",
      registers,
    }),
    appendSeconds: new Histogram({
      name: "chat_log_append_seconds",
      help: "time from accepting a message or a lifecycle op (edit, delete, react, read) to durable in the log",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    persisted: new Counter({ name: "chat_messages_persisted_total", help: "messages written to the store by controllers", registers }),
    published: new Counter({ name: "chat_events_published_total", help: "events handed to relay streams by controllers", registers }),
    relayStreams: new Gauge({ name: "chat_controller_relay_streams", help: "open relay Subscribe streams", registers }),
    logLag: new Gauge({ name: "chat_log_consumer_lag", help: "records behind the last consumed batch, by log partition", labelNames: ["partition"], registers }),
    dependencyUp: new Gauge({ name: "chat_dependency_up", help: "1 while a dependency counts as up for readiness, 0 while down", labelNames: ["dependency"], registers }),
    dependencyDegraded: new Gauge({
      name: "chat_dependency_degraded",
      help: "1 while a dependency's last check failed or took more than half its timeout",
      labelNames: ["dependency"],
      registers,
    }),
    dependencyCheckSeconds: new Gauge({ name: "chat_dependency_check_seconds", help: "duration of a dependency's last check", labelNames: ["dependency"], registers }),
    httpRequests: new Counter({ name: "chat_http_requests_total", help: "REST requests", labelNames: ["method", "route", "status"], registers }),
    httpSeconds: new Histogram({
      name: "chat_http_request_seconds",
      help: "REST latency",
      labelNames: ["method", "route"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
