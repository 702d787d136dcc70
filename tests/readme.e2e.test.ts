import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { SECRET, startStandalone, type Target } from "./harness";
import { distributed } from "./target";

// README's "Try it" runs as written: its shell blocks, in order, in bash, against a fresh standalone
// server (the newcomer's `bun run start`, on a free port: BASE follows PORT as the README says).
setDefaultTimeout(60_000);
const ROOT = join(import.meta.dir, "..");

/** The ```sh blocks of README.md between "## Try it" and the next "## " heading. */
async function tryItBlocks(): Promise<string[]> {
  const readme = await Bun.file(join(ROOT, "README.md")).text();
  const start = readme.indexOf("\n## Try it");
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

describe.skipIf(distributed)("README: Try it", () => {
  let t: Target;
  beforeAll(async () => {
    t = await startStandalone();
  });
  afterAll(() => t.stop());

  test("every line runs as written and shows what the comments say", async () => {
    const blocks = await tryItBlocks();
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    const port = new URL(t.base).port;
    // The token script signs with AUTH_JWT_SECRET when set (the server's here), as with ./data's secret otherwise.
    const proc = Bun.spawn(["bash", "-euo", "pipefail", "-c", blocks.join("\n")], {
      cwd: ROOT,
      env: { ...process.env, PORT: port, AUTH_JWT_SECRET: SECRET },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect({ code, err: code === 0 ? "" : err }).toEqual({ code: 0, err: "" });
    expect(out).toMatch(/^[0-9a-f]{24}$/m); // the team id
    expect(out).toContain("bob <- {\"event\":\"message\"");
    expect(out).toContain('"data":"hi bob"');
    expect(out).toContain('{"data":{"op":"edit"');
    expect(err).toContain("unread: 2");
    expect(out).toContain('"data":"hello team!"');
    expect(out).toContain('"reactions":[{"emoji":"👍","count":1,"me":true}]');
  });
});
