import { afterAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Preloaded by `bun test` (bunfig.toml): every temporary directory a test makes — data dirs, stores,
 * browser profiles, in this process and the processes it starts — goes under one directory of the
 * run, removed after its last test (a global afterAll: `bun test` emits no process "exit"). Each run
 * used to leave dozens in the system's, some of 80 MB.
 */
const dir = mkdtempSync(join(tmpdir(), "chat-test-"));
process.env.TMPDIR = dir;
afterAll(() => rmSync(dir, { recursive: true, force: true }));
