import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Config } from "./config";
import { redactString } from "./log";

/** Every controller of CONTROLLER_URLS over HTTP/2 (gRPC), presenting CONTROLLER_TOKEN: for relays and management. */
export function controllerTransports(config: Config): { name: string; transport: Transport }[] {
  const auth: Interceptor = (next) => (req) => {
    if (config.controllerToken) req.header.set("authorization", `Bearer ${config.controllerToken}`);
    return next(req);
  };
  return config.controllerUrls.map((baseUrl) => ({ name: redactString(baseUrl), transport: createGrpcTransport({ baseUrl, interceptors: [auth] }) }));
}
