import { test } from "bun:test";

/** scripts/test.sh sets TEST_REQUIRE_INFRA=1 for its real-infrastructure phase, where no suite may skip. */
export const infraRequired = process.env.TEST_REQUIRE_INFRA === "1";

/**
 * Stands in for an integration suite that cannot run here (`reason`: which URL is not set):
 * a skipped test, or a failing one when TEST_REQUIRE_INFRA=1, so that phase cannot pass without it.
 */
export function missingInfra(suite: string, reason: string): void {
  const name = `${suite} — ${reason}`;
  if (!infraRequired) return void test.skip(name, () => {});
  test(name, () => {
    throw new Error(`${reason}: TEST_REQUIRE_INFRA=1 requires this suite to run against the real service`);
  });
}
