import { expect, test } from "bun:test";
import type { Logger } from "./log";
import { OutageLog } from "./outage-log";

test("failures become state changes: unreachable, still unreachable every N seconds with the count, reachable again", () => {
  const lines: string[] = [];
  const logger = { warn: (m: string, f: any) => lines.push(`${m} ${f.failures ?? ""}`.trim()), info: (m: string, f: any) => lines.push(`${m} ${f.failures}`) } as unknown as Logger;
  let now = 0;
  const o = new OutageLog(logger, "kafka", 10_000, () => now);
  o.ok();
  for (; now < 20_000; now += 125) o.failed({ err: "ECONNREFUSED" }); // 160 refused attempts in 20 s
  o.ok();
  o.ok();
  expect(lines).toEqual(["kafka unreachable", "kafka still unreachable 81", "kafka reachable again 160"]);
});
