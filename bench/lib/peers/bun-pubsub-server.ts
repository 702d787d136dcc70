#!/usr/bin/env bun
/**
 * The floor for bench/peers.ts: a bare Bun.serve WebSocket server. Every socket subscribes to the
 * topic named by `?room=`; a received frame is published unchanged to that topic (the sender's
 * copy included) and answered with `a<send time>`, the smallest ack. No auth, no parsing, no
 * persistence: only Bun's uWS pub/sub. PORT on 127.0.0.1.
 */
interface Data {
  room: string;
}

const server = Bun.serve<Data>({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  fetch(req, srv) {
    const room = new URL(req.url).searchParams.get("room") ?? "0";
    if (srv.upgrade(req, { data: { room } })) return;
    return new Response("bun pub/sub floor\n");
  },
  websocket: {
    open(ws) {
      ws.subscribe(ws.data.room);
      ws.send("r");
    },
    message(ws, msg) {
      const m = msg as string;
      server.publish(ws.data.room, m);
      ws.send("a" + m.slice(0, m.indexOf(":")));
    },
  },
});

process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
