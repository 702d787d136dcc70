import { ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { connectCode, toAppError } from "@chat/common/errors";
import { ControllerService } from "@chat/proto/chat/v1/controller_pb";
import type { RpcContext } from "./rpc/context";
import { fetchSince } from "./rpc/fetch-since";
import { getMessage } from "./rpc/get-message";
import { getChannel, getUserChannels } from "./rpc/membership";
import { subscribe } from "./rpc/subscribe";
import { updateInterest } from "./rpc/update-interest";

export function controllerRoutes(rpc: RpcContext) {
  return (router: ConnectRouter) =>
    router.service(ControllerService, {
      subscribe: (req, ctx) => subscribe(rpc, req, ctx),
      updateInterest: (req) => updateInterest(rpc, req),
      getUserChannels: (req) => getUserChannels(rpc, req),
      getChannel: (req) => getChannel(rpc, req),
      fetchSince: (req) => fetchSince(rpc, req),
      getMessage: (req, ctx) => getMessage(rpc, req, ctx.signal),
    });
}

/** Maps our errors to Connect codes; anything unknown becomes an opaque internal error. */
export function errorInterceptor(rpc: RpcContext): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      if (err instanceof ConnectError) throw err;
      const app = toAppError(err);
      if (app.code === "internal") rpc.logger.error("rpc failed", { method: req.method.name, err });
      throw new ConnectError(app.message, connectCode[app.code]);
    }
  };
}

/** Optional shared secret between relays and controllers (CONTROLLER_TOKEN). */
export function tokenInterceptor(token: string | undefined): Interceptor {
  return (next) => async (req) => {
    if (token && req.header.get("authorization") !== `Bearer ${token}`) throw new ConnectError("bad internal token", connectCode.unauthenticated);
    return next(req);
  };
}
