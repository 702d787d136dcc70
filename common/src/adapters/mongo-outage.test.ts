import { expect, test } from "bun:test";
import { OutageWatch } from "./mongo-outage";

const never = () => new Promise<string>(() => {});
const abandon = () => new Error("abandoned");
/** Whether `p` has settled after the pending continuations ran. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setImmediate(r));
  return done;
}

test("an operation in flight through failures is abandoned when the database answers again", async () => {
  const w = new OutageWatch();
  const stuck = w.guard(never(), abandon);
  w.failed(); // e.g. pings refused while the server is down
  w.failed();
  expect(await settled(stuck)).toBe(false); // still down: nothing to retry against yet
  w.succeeded();
  await expect(stuck).rejects.toThrow("abandoned");
  expect(w.watching).toBe(0);
});

test("no failures, or failures before the operation started: it is left to finish", async () => {
  const w = new OutageWatch();
  const slow = w.guard(never(), abandon);
  w.succeeded();
  expect(await settled(slow)).toBe(false);
  w.failed();
  w.succeeded(); // failures after `slow` started: abandoned
  await expect(slow).rejects.toThrow("abandoned");
  w.failed();
  const late = w.guard(never(), abandon); // started during the outage
  w.succeeded();
  expect(await settled(late)).toBe(false);
  expect(await w.guard(Promise.resolve("ok"), abandon)).toBe("ok");
  expect(w.watching).toBe(1); // only `late`, which never finishes here
});
