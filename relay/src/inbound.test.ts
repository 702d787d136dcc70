import { afterAll, beforeAll, expect, test } from "bun:test";
import type { LogRecord, MessageLog } from "@chat/common/ports";
import { scriptedController, serveRelay } from "./testing";

// A log whose every append waits for the test to settle it: the test sees each batch the relay sends.
const CH = "6b06d90e68a988520eac2a79";
const USERS = ["a@x.dev", "b@x.dev", "c@x.dev", "d@x.dev"];
const calls: { records: LogRecord[]; reject: (e: Error) => void }[] = [];
let onCall = () => {};
const heldLog: MessageLog = {
  append: (records) =>
    new Promise((_, reject) => {
      calls.push({ records, reject });
      onCall();
    }),
  consume: async () => {},
  ping: async () => {},
  close: async () => {},
};
const nextCall = (n: number) => new Promise<void>((r) => ((onCall = () => calls.length >= n && r()), onCall()));

const { transport } = scriptedController(CH, () => USERS);
let relay: Awaited<ReturnType<typeof serveRelay>>;
beforeAll(async () => {
  relay = await serveRelay("inbound-test", transport, heldLog, { DEDUPE_RECONNECT_SEC: "0" });
});
afterAll(async () => {
  for (const c of calls.splice(0)) c.reject(new Error("test over"));
  await relay.stop();
});
const open = (user: string) => relay.open(user);
const text = (cmid: string) => JSON.stringify({ channel_id: CH, to: "*", type: "text", data: `hello ${cmid}`, client_msg_id: cmid });

test("a failed log batch answers every sender with its own error frame and its own client_msg_id", async () => {
  const [a, ...others] = await Promise.all(USERS.map(open));
  a!.ws.send(text("first"));
  await nextCall(1); // the first message is in flight alone; what arrives now waits for the next batch
  others.forEach((s, i) => s.ws.send(text(`m-${i}`)));
  // Barrier: a bad frame's error proves each socket's send before it reached the appender.
  for (const s of others) {
    s.ws.send("{bad");
    await s.waitFor((f) => f.event === "error" && f.client_msg_id === undefined);
  }
  calls[0]!.reject(new Error("broker down"));
  await nextCall(2);
  expect(calls[1]!.records.length).toBe(3); // one batch of three senders
  calls[1]!.reject(new Error("broker down"));

  const first = await a!.waitFor((f) => f.event === "error" && f.client_msg_id);
  expect(first).toMatchObject({ code: "unavailable", client_msg_id: "first" });
  for (const [i, s] of others.entries()) {
    const err = await s.waitFor((f) => f.event === "error" && f.client_msg_id);
    expect(err).toMatchObject({ code: "unavailable", client_msg_id: `m-${i}` });
    expect(s.frames.filter((f) => f.event === "error" && f.client_msg_id).length).toBe(1);
  }
  for (const s of [a!, ...others]) s.ws.close();
});
