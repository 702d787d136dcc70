import { describe, expect, test } from "bun:test";
import { lifecycleRatio } from "./lifecycle-ratio";

const line = (label: string, at: string, ack: [number, number], e2e: [number, number], lifecycle: object | null) =>
  JSON.stringify({ label, at, lifecycle, ack_ms: { p50: ack[0], p99: ack[1] }, e2e_ms: { p50: e2e[0], p99: e2e[1] } });

describe("lifecycleRatio", () => {
  test("pairs the newest mix and plain runs since the given time", () => {
    const lines = [
      line("sa-lifecycle-mix", "2026-11-29T10:00:00Z", [9, 9], [9, 9], {}), // older invocation
      line("sa-lifecycle-plain", "2026-11-29T10:01:00Z", [9, 9], [9, 9], null),
      line("sa-lifecycle-mix", "2026-11-29T11:00:00Z", [1.2, 6], [1.5, 7], {}),
      line("sa-lifecycle-plain", "2026-11-29T11:01:00Z", [1, 5], [1.5, 5], null),
      "not json",
    ];
    expect(lifecycleRatio(lines, "2026-11-29T10:30:00Z")).toEqual({
      mix_at: "2026-11-29T11:00:00Z",
      plain_at: "2026-11-29T11:01:00Z",
      ack: { p50: 1.2, p99: 1.2 },
      e2e: { p50: 1, p99: 1.4 },
    });
  });

  test("no pair when one of the runs is missing since then, or the mix run carried no ops", () => {
    const lines = [line("sa-lifecycle-mix", "2026-11-29T11:00:00Z", [1, 1], [1, 1], {}), line("sa-lifecycle-plain", "2026-11-29T10:00:00Z", [1, 1], [1, 1], null)];
    expect(lifecycleRatio(lines, "2026-11-29T10:30:00Z")).toBeNull();
    expect(lifecycleRatio([line("sa-lifecycle-mix", "2026-11-29T11:00:00Z", [1, 1], [1, 1], null), line("sa-lifecycle-plain", "2026-11-29T11:00:00Z", [1, 1], [1, 1], null)])).toBeNull();
  });
});
