/**
 * Compose only: preloaded into the management container
 *   bun --preload ./deploy/s3-loopback.ts management/src/main.ts
 *
 * Presigned attachment URLs are signed for the host of S3_ENDPOINT, so S3_ENDPOINT is the public
 * origin clients use (http://localhost:8080: nginx routes /<bucket>/ to the S3 server untouched).
 * Inside this container that name is the container itself (compose maps a custom CHAT_HOST to
 * 127.0.0.1 too), so this forwards S3_ENDPOINT's port on loopback to the S3 server, byte for byte:
 * the path and the Host header that SigV4 signs arrive exactly as the SDK sent them, and
 * management needs neither nginx nor a host-resolvable name to reach S3.
 *
 * Enabled by S3_LOOPBACK_TARGET=host:port; a no-op without it. It shares the process (and so the
 * lifetime) of management, and never keeps the process alive on its own.
 */
import net from "node:net";

const target = process.env.S3_LOOPBACK_TARGET;
const endpoint = process.env.S3_ENDPOINT;

function fail(msg: string): never {
  console.error(JSON.stringify({ time: new Date().toISOString(), level: "error", msg: `s3-loopback: ${msg}` }));
  process.exit(2);
}

if (target) {
  if (!endpoint) fail("S3_LOOPBACK_TARGET is set but S3_ENDPOINT is not");
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    fail("S3_ENDPOINT: not a URL");
  }
  // Raw TCP cannot stand in for TLS: an https endpoint must be reachable from here by itself.
  if (url.protocol !== "http:") fail("S3_ENDPOINT must be http:// when S3_LOOPBACK_TARGET is set");
  const m = /^(.+):(\d+)$/.exec(target);
  if (!m) fail("S3_LOOPBACK_TARGET: expected host:port");
  const [, host, portText] = m;
  const targetPort = Number(portText);
  const listenPort = Number(url.port || 80);

  const forward = (client: net.Socket) => {
    const upstream = net.connect({ host: host!, port: targetPort });
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
    client.pipe(upstream); // pipe() applies backpressure both ways
    upstream.pipe(client);
  };

  // "localhost" may resolve to either family; ::1 is optional (containers may run without IPv6).
  for (const address of ["127.0.0.1", "::1"]) {
    const server = net.createServer(forward);
    server.on("error", (err: NodeJS.ErrnoException) => {
      if (address === "::1" && (err.code === "EADDRNOTAVAIL" || err.code === "EAFNOSUPPORT")) return;
      fail(`listen ${address}:${listenPort}: ${err.code ?? err.message}`);
    });
    server.listen({ port: listenPort, host: address, ipv6Only: address === "::1" }, () => {
      console.log(
        JSON.stringify({ time: new Date().toISOString(), level: "info", msg: "s3-loopback: forwarding", listen: `${address}:${listenPort}`, target }),
      );
    });
    server.unref();
  }
}
