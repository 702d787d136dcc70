import { expect, test } from "bun:test";
import type { LogRecord, MessageLog } from "@chat/common/ports";
import { scriptedController, serveRelay } from "./testing";

// Graceful stop: what was accepted is acked on the socket before it closes; what arrives after is refused.
const CH = "6b06d90e68a988520eac2a79";
let release: (() => void) | undefined;
let appended = () => {};
let nextSeq = 1;
const heldLog: MessageLog = {
  append: (records: LogRecord[]) =>
    new Promise((resolve) => {
      release = () => resolve(records.map(() => nextSeq++));
      appended();
    }),
  consume: async () => {},
  ping: async () => {},
  close: async () => {},
};
const { transport } = scriptedController(CH, () => ["a@x.dev"]);

test("a stopping relay acks what it accepted before closing with 1001, and refuses what comes after", async () => {
  const relay = await serveRelay("drain-test", transport, heldLog, { DEDUPE_RECONNECT_SEC: "0" });
  const a = await relay.open("a@x.dev");
  const closed = new Promise<number>((r) => a.ws.addEventListener("close", (e) => r(e.code)));
  const inLog = new Promise<void>((r) => (appended = r));
  a.ws.send(JSON.stringify({ channel_id: CH, to: "*", type: "text", data: "accepted", client_msg_id: "m-1" }));
  await inLog; // the message is in the log's hands, not yet durable
  const stopped = relay.stop();
  a.ws.send(JSON.stringify({ channel_id: CH, to: "*", type: "text", data: "too late", client_msg_id: "m-2" }));
  await a.waitFor((f) => f.client_msg_id === "m-2");
  release!();
  await stopped;
  expect(await closed).toBe(1001);
  expect(a.frames.find((f) => f.client_msg_id === "m-1")).toMatchObject({ event: "ack", seq: 1 });
  expect(a.frames.find((f) => f.client_msg_id === "m-2")).toMatchObject({ event: "error", code: "unavailable" });
});
