import { connect } from "node:net";

/** Test helper: writes raw bytes to a server and returns all it answers, for requests fetch cannot make. */
export function rawHttp(port: number | undefined, request: string | Uint8Array, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    if (port === undefined) throw new Error("server has no TCP port");
    let out = "";
    const sock = connect(port, "127.0.0.1", () => sock.write(request));
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms; got ${JSON.stringify(out)}`));
    }, timeoutMs);
    sock.setEncoding("latin1");
    sock.on("data", (d: string) => (out += d));
    sock.on("error", () => {});
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

export function parseRaw(raw: string): { status: number; headers: Map<string, string>; body: string } {
  const split = raw.indexOf("\r\n\r\n");
  const [statusLine = "", ...lines] = raw.slice(0, split === -1 ? raw.length : split).split("\r\n");
  const headers = new Map<string, string>();
  for (const l of lines) {
    const i = l.indexOf(":");
    headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
  }
  return { status: Number(statusLine.split(" ")[1]), headers, body: split === -1 ? "" : raw.slice(split + 4) };
}
