/**
 * Waits until `ready()` holds, checking again after short, growing pauses; rejects naming
 * `what` once `timeoutMs` has passed. For conditions no event announces (a hook that runs a
 * tick after a response, a stream released on the other side of a transport).
 */
export async function waitFor(ready: () => boolean | Promise<boolean>, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = 1; !(await ready()); pause = Math.min(50, pause * 2)) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(pause);
  }
}
