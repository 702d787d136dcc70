import { afterAll, beforeAll, expect, test } from "bun:test";
import { createMetrics } from "@chat/common/metrics";
import type { MessageLog } from "@chat/common/ports";
import { scriptedController, serveRelay } from "./testing";

// A relay that remembers only 1,000 client_msg_ids, in front of a log that takes everything and a
// controller that counts the store checks (LookupClientMessage) the relay makes.
const CH = "6b06d90e68a988520eac2a79";
let seq = 0;
const log: MessageLog = {
  append: async (records) => records.map(() => ++seq),
  consume: async () => {},
  ping: async () => {},
  close: async () => {},
};
const checked: string[] = [];
const { transport } = scriptedController(CH, () => ["a@x.dev"], {
  lookupClientMessage: (req) => {
    checked.push(req.clientMsgId);
    return { found: false };
  },
});
const metrics = createMetrics();
const storeChecks = async () => (await metrics.clientMsgIdChecks.get()).values[0]?.value ?? 0;
let relay: Awaited<ReturnType<typeof serveRelay>>;
beforeAll(async () => {
  relay = await serveRelay(
    "dedupe-routing-test",
    transport,
    log,
    { DEDUPE_MAX_ENTRIES: "1000", DEDUPE_RECONNECT_SEC: "0", LIMIT_RATE_PER_SEC: "100000", LIMIT_RATE_BURST: "100000" },
    { metrics },
  );
});
afterAll(() => relay.stop());

const text = (cmid: string) => JSON.stringify({ channel_id: CH, to: "*", type: "text", data: "hi", client_msg_id: cmid });

test("past its memory's cap a relay checks the store only for keys it forgot, not for every new key", async () => {
  const a = await relay.open("a@x.dev");
  const acked = (cmid: string) => a.waitFor((f) => f.event === "ack" && f.client_msg_id === cmid);
  for (let i = 0; i < 1500; i += 100) {
    for (let j = i; j < i + 100; j++) a.ws.send(text(`k-${j}`));
    await acked(`k-${i + 99}`);
  }
  // 1,500 keys in the window, 1,000 remembered: the 500 new keys sent after the first eviction were
  // appended without a check (at most a few Bloom false positives were checked).
  expect(checked.length).toBeLessThan(10);
  // A resend of a forgotten key is checked (and, not found in the store, appended).
  a.ws.send(text("k-0"));
  await a.waitFor((f) => f.event === "ack" && f.client_msg_id === "k-0" && f.seq > 1500);
  expect(checked).toContain("k-0");
  expect(await storeChecks()).toBe(checked.length); // what operators see: chat_client_msg_id_store_checks_total
  a.ws.close();
});
