/** What a run samples besides its own sockets: /proc, the machine, Prometheus endpoints, server logs. */
import { readFileSync } from "node:fs";

export const CLK_TCK = (() => {
  try {
    return Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ProcSample {
  rssKiB: number;
  hwmKiB: number;
  cpuTicks: number;
}

export function sampleProc(pid: number): ProcSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields from #3 (state) on
    return { rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM"), cpuTicks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

/** Busy and total jiffies of the whole machine (all CPUs), from /proc/stat. */
export function sampleMachine(): { busy: number; total: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

export function machine() {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const mem = readFileSync("/proc/meminfo", "utf8");
  return {
    nproc: navigator.hardwareConcurrency,
    cpu_model: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    mem_total_gib: Math.round(Number(/^MemTotal:\s+(\d+)/m.exec(mem)?.[1] ?? 0) / 1024 / 1024),
    bun: Bun.version,
    loadavg_at_start: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
  };
}

// ---------------------------------------------------------------- metrics scraping

const WATCHED = /^(chat_messages_in_total|chat_ws_slow_consumers_closed_total|chat_frames_out_total|chat_ws_upgrades_refused_total|chat_log_append_seconds_sum|chat_log_append_seconds_count|chat_messages_persisted_total)(\{[^}]*\})?\s+([0-9.eE+-]+)$/;

export async function scrape(urls: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  await Promise.all(
    urls.map(async (u) => {
      try {
        // Metrics are never public: the server's METRICS_TOKEN (the standalone spawner sets one).
        const token = process.env.METRICS_TOKEN;
        const res = await fetch(u, { signal: AbortSignal.timeout(5000), headers: token ? { authorization: `Bearer ${token}` } : {} });
        if (!res.ok) return;
        for (const line of (await res.text()).split("\n")) {
          const m = WATCHED.exec(line);
          if (m) out.set(m[1]! + (m[2] ?? ""), (out.get(m[1]! + (m[2] ?? "")) ?? 0) + Number(m[3]));
        }
      } catch {}
    }),
  );
  return out;
}

export function diffMetrics(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d !== 0) out[k] = Math.round(d * 1e6) / 1e6;
  }
  return out;
}

/** warn/error lines of the server's JSON log, grouped by message. */
export function logProblems(file: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (!file) return out;
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return out;
  }
  for (const line of text.split("\n")) {
    if (!line.includes('"level":"warn"') && !line.includes('"level":"error"')) continue;
    try {
      const e = JSON.parse(line) as { level: string; msg: string };
      const k = `${e.level}: ${e.msg}`;
      out[k] = (out[k] ?? 0) + 1;
    } catch {}
  }
  return out;
}
