import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EmbeddedLog } from "@chat/common/adapters/embedded-log";
import { scriptedController, serveRelay } from "../testing";

// The store lags the log: this controller never learns of the delete (GetMessage keeps answering the
// message as it was), yet the client that deleted it is answered not_found on its next op at once.
const CH = "6b06d90e68a988520eac2a79";
const ID = "6b06d90e68a988520eac2a7a";
const { transport } = scriptedController(CH, () => ["a@x.dev"], {
  getMessage: () => ({ found: true, channelId: CH, id: ID, seq: 3n, from: "a@x.dev", to: "*", type: "text", deleted: false, replyTo: "", emoji: [] }),
});
let relay: Awaited<ReturnType<typeof serveRelay>>;
beforeAll(async () => {
  relay = await serveRelay("ops-test", transport, new EmbeddedLog(mkdtempSync(join(tmpdir(), "relay-ops-"))));
});
afterAll(() => relay.stop());

test("after its own delete is acked, a relay answers ops on that message not_found even before the store has it", async () => {
  const a = await relay.open("a@x.dev");
  const op = (o: Record<string, unknown>, cmid: string) => a.ws.send(JSON.stringify({ channel_id: CH, id: ID, client_msg_id: cmid, ...o }));
  op({ op: "edit", data: "before" }, "e1");
  expect(await a.waitFor((f) => f.client_msg_id === "e1")).toMatchObject({ event: "ack", op: "edit" });
  op({ op: "delete" }, "d1");
  expect(await a.waitFor((f) => f.client_msg_id === "d1")).toMatchObject({ event: "ack", op: "delete" });
  op({ op: "edit", data: "after" }, "e2");
  expect(await a.waitFor((f) => f.client_msg_id === "e2")).toMatchObject({ event: "error", code: "not_found" });
  op({ op: "react", emoji: "x" }, "r1");
  expect(await a.waitFor((f) => f.client_msg_id === "r1")).toMatchObject({ event: "error", code: "not_found" });
  op({ op: "delete" }, "d2"); // deleting again stays idempotent
  expect(await a.waitFor((f) => f.client_msg_id === "d2")).toMatchObject({ event: "ack", op: "delete" });
  a.ws.close();
});
