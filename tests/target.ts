import { afterAll, beforeAll } from "bun:test";
import { remoteTarget, startStandalone, type Target } from "./harness";

/** The suite runs against E2E_BASE_URL (the distributed stack behind nginx) when set, else a fresh standalone process. */
export async function openTarget(): Promise<Target> {
  const base = process.env.E2E_BASE_URL;
  if (base) {
    const secret = process.env.AUTH_JWT_SECRET;
    if (!secret) throw new Error("E2E_BASE_URL needs AUTH_JWT_SECRET to mint test tokens");
    return remoteTarget(base.replace(/\/+$/, ""), secret);
  }
  return startStandalone();
}
export const distributed = Boolean(process.env.E2E_BASE_URL);

/**
 * The target of a test file (or describe block): opened before its tests, stopped after them.
 * Returns a stand-in that forwards to the target once it is open.
 */
export function useTarget(open: () => Promise<Target> = openTarget): Target {
  let target: Target | undefined;
  beforeAll(async () => {
    target = await open();
  });
  afterAll(async () => {
    await target?.stop();
  });
  return new Proxy({} as Target, {
    get: (_, key) => {
      if (!target) throw new Error("target used outside its tests");
      const v = (target as any)[key];
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}
