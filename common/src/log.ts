/** Structured JSON logs on stdout, one object per line, with secrets redacted by default. */
export type Level = "debug" | "info" | "warn" | "error";
const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEYS = /^(authorization|token|access_token|password|secret|.*_secret|secret_access_key|cookie)$/i;
const TOKEN_IN_URL = /([?&]access_token=)[^&#\s]*/gi;
const BEARER = /(bearer\s+)[\w.~+/=-]+/gi;

export function redactString(s: string): string {
  return s.replace(TOKEN_IN_URL, "$1[redacted]").replace(BEARER, "$1[redacted]");
}

function redact(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return redactString(value);
  if (value instanceof Error) return { name: value.name, message: redactString(value.message) };
  if (!value || typeof value !== "object" || depth > 4) return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEYS.test(k) ? "[redacted]" : redact(v, depth + 1);
  return out;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
}

let threshold = LEVELS.info;
let sink: (line: string) => void = (line) => process.stdout.write(line + "\n");

export function configureLogging(opts: { level?: Level; sink?: (line: string) => void }): void {
  if (opts.level) threshold = LEVELS[opts.level];
  if (opts.sink) sink = opts.sink;
}

function make(bindings: Record<string, unknown>): Logger {
  const write = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[level] < threshold) return;
    const entry = { time: new Date().toISOString(), level, msg: redactString(msg), ...bindings, ...(fields ? (redact(fields) as object) : {}) };
    sink(JSON.stringify(entry));
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (b) => make({ ...bindings, ...b }),
  };
}

export const log = make({});
