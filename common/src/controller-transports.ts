import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Config } from "./config";
import { redactString } from "./log";

/**
 * Every controller of CONTROLLER_URLS over HTTP/2 (gRPC), presenting CONTROLLER_TOKEN: for relays and management.
 * Uncompressed: Connect gzips messages over 1 KiB by default, and on this internal link the
 * controller's gzip and the relay's gunzip of every event batch cost more than the bytes saved
 * (distributed 40 teams x 1,000 msg/s: delivery p99 145-160 -> 81-82 ms; bench/README.md).
 */
export function controllerTransports(config: Config): { name: string; transport: Transport }[] {
  const auth: Interceptor = (next) => (req) => {
    if (config.controllerToken) req.header.set("authorization", `Bearer ${config.controllerToken}`);
    return next(req);
  };
  return config.controllerUrls.map((baseUrl) => ({ name: redactString(baseUrl), transport: createGrpcTransport({ baseUrl, interceptors: [auth], acceptCompression: [] }) }));
}
