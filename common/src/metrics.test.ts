import { afterEach, expect, spyOn, test } from "bun:test";
import v8 from "node:v8";
import { createMetrics, HEAP_WALKING } from "./metrics";

const spies: { mockRestore(): void }[] = [];
afterEach(() => {
  for (const s of spies.splice(0)) s.mockRestore();
});

test("a scrape never walks the heap (v8 heap statistics cost O(heap) under Bun, on the event loop)", async () => {
  const { registry } = createMetrics();
  const walks = [spyOn(v8, "getHeapSpaceStatistics"), spyOn(v8, "getHeapStatistics")];
  spies.push(...walks);
  const text = await registry.metrics();
  for (const w of walks) expect(w).not.toHaveBeenCalled();
  for (const m of HEAP_WALKING) expect(text).not.toContain(`chat_${m}`);
  // The cheap ones stay: heap size from process.memoryUsage(), RSS, CPU, event loop lag.
  for (const m of ["chat_nodejs_heap_size_used_bytes", "chat_process_resident_memory_bytes", "chat_process_cpu_seconds_total", "chat_nodejs_eventloop_lag_p99_seconds"]) expect(text).toContain(m);
});
