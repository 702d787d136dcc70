import { expect, test } from "bun:test";
import { OffsetCommitter, type PartitionOffset } from "./kafka-commits";

/** A promise the test settles. */
function later() {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** A commit function that records its requests and answers them when the test says so. */
function recorder() {
  const requests: PartitionOffset[][] = [];
  const committed: (() => void)[] = [];
  let waiting: (() => void) | undefined;
  const commit = (offsets: PartitionOffset[]) => {
    requests.push(offsets);
    waiting?.();
    return new Promise<void>((r) => committed.push(r));
  };
  /** Resolves when the next request is made. */
  const nextRequest = () => new Promise<void>((r) => (waiting = r));
  return { requests, committed, commit, nextRequest };
}

test("settled offsets go out together in one request per interval, each partition in log order", async () => {
  const { requests, committed, commit, nextRequest } = recorder();
  const c = new OffsetCommitter(commit, 5);
  const [a1, a2, b1] = [later(), later(), later()];
  c.after(0, "11", a1.promise);
  c.after(0, "12", a2.promise);
  c.after(1, "31", b1.promise);
  a2.resolve(); // settled before the batch ahead of it: not committable yet
  b1.resolve();
  await nextRequest();
  expect(requests).toEqual([[{ partition: 1, offset: "31" }]]);
  a1.resolve();
  await Bun.sleep(30); // six intervals: no second request while the first is unanswered
  expect(requests).toEqual([[{ partition: 1, offset: "31" }]]);
  const second = nextRequest();
  committed.shift()!();
  await second;
  expect(requests[1]).toEqual([{ partition: 0, offset: "12" }]); // 11 and 12 coalesced into the newest
  committed.shift()!();
  await c.flush();
});

test("a batch that fails stops its partition's later commits; a rejoin drops what was not sent; flush sends at once", async () => {
  const { requests, commit, nextRequest } = recorder();
  const c = new OffsetCommitter(commit, 60_000);
  const failed = later();
  c.after(0, "5", failed.promise);
  c.after(0, "6", Promise.resolve());
  failed.reject(new Error("store gave up"));
  const settledOne = later();
  c.after(1, "9", settledOne.promise);
  settledOne.resolve();
  await settledOne.promise;
  await Promise.resolve(); // its continuation marks it ready
  c.reset();
  c.after(2, "3", Promise.resolve());
  const sent = nextRequest();
  void c.flush();
  await sent;
  expect(requests).toEqual([[{ partition: 2, offset: "3" }]]); // at once, not 60 s later; partition 1's was dropped by the rejoin, 0's stopped at the failure
});
