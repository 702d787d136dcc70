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
