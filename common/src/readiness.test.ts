import { expect, test } from "bun:test";
import type { Logger } from "./log";
import { createMetrics } from "./metrics";
import { runChecks } from "./ops";
import { DependencyMonitor } from "./readiness";

function recorder() {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const logger: Logger = {
    debug: (msg, fields) => lines.push({ level: "debug", msg, fields }),
    info: (msg, fields) => lines.push({ level: "info", msg, fields }),
    warn: (msg, fields) => lines.push({ level: "warn", msg, fields }),
    error: (msg, fields) => lines.push({ level: "error", msg, fields }),
    child: () => logger,
  };
  return { lines, logger };
}
const waitFor = async (cond: () => boolean, ms = 5000) => {
  for (const end = Date.now() + ms; !cond(); await Bun.sleep(5)) if (Date.now() > end) throw new Error("condition not met");
};
const gauge = async (metrics: ReturnType<typeof createMetrics>, name: string, dep: string) =>
  (await metrics.registry.getSingleMetric(name)!.get()).values.find((v) => v.labels.dependency === dep)?.value;

test("a slow dependency (answering within its timeout, slower than the old fixed 2 s) keeps readiness true, and shows as degraded", async () => {
  const metrics = createMetrics();
  const { logger, lines } = recorder();
  let calls = 0;
  const slow = async () => {
    calls++;
    if (calls > 1) await Bun.sleep(250); // timeouts below are scaled down 10x: 250 ms of 300 is "2.5 s of 3 s"
  };
  const m = new DependencyMonitor({ database: slow }, logger, metrics, { intervalMs: 10, timeoutMs: 300, downAfterMs: 500, hungDownAfterMs: 3000 }).start();
  await waitFor(() => calls >= 5);
  expect((await runChecks(m.checks)).ready).toBe(true);
  expect(await gauge(metrics, "chat_dependency_up", "database")).toBe(1);
  expect(await gauge(metrics, "chat_dependency_degraded", "database")).toBe(1);
  await m.stop();
  expect(lines.filter((l) => l.level !== "debug")).toEqual([]);
});

test("one refused or timed-out check is not down; consecutive refusals are, with one line per state change", async () => {
  const { logger, lines } = recorder();
  let mode: "ok" | "refuse" | "hang" = "ok";
  let calls = 0;
  const check = async () => {
    calls++;
    if (mode === "refuse") throw new Error("ECONNREFUSED");
    if (mode === "hang") await Bun.sleep(10_000);
  };
  const m = new DependencyMonitor({ kafka: check }, logger, undefined, { intervalMs: 10, timeoutMs: 100, failuresToDown: 3, downAfterMs: 1000, hungDownAfterMs: 3000, logEveryMs: 200 }).start();
  await waitFor(() => m.states().kafka === "up");
  mode = "hang";
  const n = calls;
  await waitFor(() => calls > n + 1); // one check timed out, the next one started
  mode = "ok";
  await waitFor(() => calls > n + 2);
  expect(m.states().kafka).toBe("up");
  expect((await runChecks(m.checks)).ready).toBe(true);

  mode = "refuse";
  await waitFor(() => m.states().kafka === "down");
  expect((await runChecks(m.checks)).checks).toEqual({ kafka: "down" });
  await Bun.sleep(450); // refused ~40 times more: "still down" twice, not 40 lines
  mode = "ok";
  await waitFor(() => m.states().kafka === "up");
  await m.stop();
  const msgs = lines.map((l) => l.msg);
  expect(msgs[0]).toBe("dependency down");
  expect(msgs.at(-1)).toBe("dependency back");
  expect(msgs.filter((x) => x === "dependency still down").length).toBeGreaterThanOrEqual(1);
  expect(msgs.length).toBeLessThanOrEqual(5);
});

test("checks that keep timing out (slow) are down only once that has lasted hungDownAfterMs; slow refusals once downAfterMs", async () => {
  const { logger } = recorder();
  let mode: "ok" | "hang" | "slow refusal" = "ok";
  const check = async () => {
    if (mode === "hang") await Bun.sleep(10_000);
    if (mode === "slow refusal") await Bun.sleep(60).then(() => Promise.reject(new Error("server selection timed out")));
  };
  const m = new DependencyMonitor({ mongodb: check }, logger, undefined, { intervalMs: 10, timeoutMs: 100, failuresToDown: 100, downAfterMs: 250, hungDownAfterMs: 800 }).start();
  await waitFor(() => m.states().mongodb === "up");
  mode = "hang";
  let t0 = Date.now();
  await Bun.sleep(500);
  expect(m.states().mongodb).toBe("up"); // 4 timeouts in a row: slow, still serving
  await waitFor(() => m.states().mongodb === "down");
  expect(Date.now() - t0).toBeGreaterThanOrEqual(800);
  mode = "ok";
  await waitFor(() => m.states().mongodb === "up");
  mode = "slow refusal"; // a dead MongoDB: the driver gives up on server selection
  t0 = Date.now();
  await waitFor(() => m.states().mongodb === "down");
  expect(Date.now() - t0).toBeLessThan(700);
  await m.stop();
});

test("after a refusal, a check still unanswered once the refusals have lasted downAfterMs makes it down then (a dead database's server selection)", async () => {
  const { logger, lines } = recorder();
  let mode: "ok" | "refuse once, then wait" = "ok";
  let refused = false;
  let release = () => {};
  const check = async () => {
    if (mode === "ok") return;
    if (!refused) {
      refused = true;
      throw new Error("ECONNREFUSED");
    }
    await new Promise<void>((r) => (release = r)); // answers only once the test lets it (the database is back)
  };
  const m = new DependencyMonitor({ mongodb: check }, logger, undefined, { intervalMs: 10, timeoutMs: 5000, failuresToDown: 100, downAfterMs: 200, hungDownAfterMs: 5000 }).start();
  await waitFor(() => m.states().mongodb === "up");
  mode = "refuse once, then wait";
  const t0 = Date.now();
  await waitFor(() => m.states().mongodb === "down", 2000); // long before the check's own 5 s timeout
  expect(Date.now() - t0).toBeLessThan(1000);
  mode = "ok";
  release();
  await waitFor(() => m.states().mongodb === "up");
  await m.stop();
  expect(lines.filter((l) => l.level !== "debug").map((l) => l.msg)).toEqual(["dependency down", "dependency back"]);
});

test("a check hung on a connection that died is hedged: the second check's refusal makes it down long before the timeout", async () => {
  const { logger } = recorder();
  let mode: "ok" | "dead" = "ok";
  let hung = false;
  const check = async () => {
    if (mode === "ok") return;
    if (!hung) {
      hung = true;
      await new Promise(() => {}); // in flight when the database died: never answered
    }
    throw new Error("ECONNREFUSED"); // any new call: refused
  };
  const m = new DependencyMonitor({ mongodb: check }, logger, undefined, { intervalMs: 10, timeoutMs: 5000, failuresToDown: 3, downAfterMs: 300, hungDownAfterMs: 5000, hedgeAfterMs: 100 }).start();
  await waitFor(() => m.states().mongodb === "up");
  mode = "dead";
  const t0 = Date.now();
  await waitFor(() => m.states().mongodb === "down", 3000); // unhedged: not before the 5 s timeout
  expect(Date.now() - t0).toBeLessThan(1500);
  expect(hung).toBe(true);
  await m.stop();
});

test("a slow dependency stays up when hedged: both calls slow, the first answer counts", async () => {
  const { logger, lines } = recorder();
  let calls = 0;
  const check = async () => {
    calls++;
    if (calls > 1) await Bun.sleep(150);
  };
  // hungDownAfterMs is short: probes that never settled (a hedge that broke them) would make it down.
  const m = new DependencyMonitor({ database: check }, logger, undefined, { intervalMs: 10, timeoutMs: 300, downAfterMs: 100, hungDownAfterMs: 400, hedgeAfterMs: 50 }).start();
  await waitFor(() => calls >= 10);
  expect(m.states().database).toBe("up");
  await m.stop();
  expect(lines.filter((l) => l.level !== "debug")).toEqual([]);
});

test("a hedged call that throws synchronously counts as a refusal", async () => {
  const { logger } = recorder();
  let calls = 0;
  // Not async: a second call throws before returning a promise.
  const check = (): Promise<void> => {
    calls++;
    if (calls === 1) return Promise.resolve();
    if (calls === 2) return new Promise(() => {}); // hangs
    throw new Error("ECONNREFUSED");
  };
  const m = new DependencyMonitor({ kafka: check }, logger, undefined, { intervalMs: 10, timeoutMs: 5000, failuresToDown: 3, downAfterMs: 300, hungDownAfterMs: 5000, hedgeAfterMs: 50 }).start();
  await waitFor(() => m.states().kafka === "down", 3000);
  await m.stop();
});
