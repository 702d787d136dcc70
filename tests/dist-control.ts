import { join } from "node:path";

/**
 * Killing and restarting pieces of the distributed stack started by scripts/dist.sh (E2E_DIST_SCRIPT
 * names it; INFRA_STATE and DIST_PORT_OFFSET must be those it was started with).
 */
export const distScript = process.env.E2E_DIST_SCRIPT;
const ROOT = join(import.meta.dir, "..");

/** SIGKILL a service of the stack (relay1, controller2, ...): no drain, no goodbye. */
export async function kill9(name: string): Promise<void> {
  const state = process.env.INFRA_STATE ?? "/tmp/chat-infra";
  const pid = Number((await Bun.file(join(state, "dist", `${name}.pid`)).text()).trim());
  process.kill(pid, "SIGKILL");
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await Bun.sleep(20);
  }
  throw new Error(`${name} (pid ${pid}) survived SIGKILL`);
}

/** `scripts/dist.sh restart NAME`: starts it again with the environment it had, once it is ready. */
export async function restart(name: string): Promise<void> {
  const p = Bun.spawn(["bash", join(ROOT, distScript!), "restart", name], { stdout: "ignore", stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(`restart ${name} failed: ${await new Response(p.stderr).text()}`);
}
