import { ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { AppError, connectCode, toAppError } from "@chat/common/errors";
import { ControllerService } from "@chat/proto/chat/v1/controller_pb";
import type { RpcContext } from "./rpc/context";
import { fetchSince } from "./rpc/fetch-since";
import { fetchUnstored } from "./rpc/fetch-unstored";
import { getMessage } from "./rpc/get-message";
import { lookupClientMessage } from "./rpc/lookup-client-message";
import { getMembership, getUserChannels } from "./rpc/membership";
import { announcePresence, getPresence } from "./rpc/presence";
import { publishTyping } from "./rpc/publish-typing";
import { subscribe } from "./rpc/subscribe";
import { updateInterest } from "./rpc/update-interest";

export function controllerRoutes(rpc: RpcContext) {
  return (router: ConnectRouter) =>
    router.service(ControllerService, {
      subscribe: (req, ctx) => subscribe(rpc, req, ctx),
      updateInterest: (req) => updateInterest(rpc, req),
      getUserChannels: (req) => getUserChannels(rpc, req),
      getMembership: (req) => getMembership(rpc, req),
      fetchSince: (req) => fetchSince(rpc, req),
      fetchUnstored: (req) => fetchUnstored(rpc, req),
      getMessage: (req, ctx) => getMessage(rpc, req, ctx.signal),
      lookupClientMessage: (req, ctx) => lookupClientMessage(rpc, req, ctx.signal),
      announcePresence: (req) => announcePresence(rpc, req),
      getPresence: (req) => getPresence(rpc, req),
      publishTyping: (req) => publishTyping(rpc, req),
    });
}

/**
 * A server stream with its errors mapped as Connect errors: by `errorInterceptor` on a transport, and
 * directly for a stream consumed in process (standalone's Subscribe), so both see the same errors.
 */
export async function* mappedStream<T>(rpc: RpcContext, method: string, messages: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* messages;
  } catch (err) {
    throw toConnectError(rpc, method, err);
  }
}

function toConnectError(rpc: RpcContext, method: string, err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const app = toAppError(err);
  if (app.code === "internal") rpc.logger.error("rpc failed", { method, err });
  return new ConnectError(app.message, connectCode[app.code]);
}

/**
 * The one place RPC errors become Connect codes: catalog errors by their code, anything unknown
 * opaque `internal` — thrown by a unary handler or while a server stream is being read.
 */
export function errorInterceptor(rpc: RpcContext): Interceptor {
  return (next) => async (req) => {
    try {
      const res = await next(req);
      return res.stream ? ({ ...res, message: mappedStream(rpc, req.method.name, res.message) } as typeof res) : res;
    } catch (err) {
      throw toConnectError(rpc, req.method.name, err);
    }
  };
}

/** Optional shared secret between relays and controllers (CONTROLLER_TOKEN); runs inside `errorInterceptor`. */
export function tokenInterceptor(token: string | undefined): Interceptor {
  return (next) => async (req) => {
    if (token && req.header.get("authorization") !== `Bearer ${token}`) throw new AppError("unauthenticated", "bad internal token");
    return next(req);
  };
}
