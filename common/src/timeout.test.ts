import { expect, test } from "bun:test";
import { AppError } from "./errors";
import { withTimeout } from "./timeout";

test("withTimeout passes the value or the error of a prompt promise through", async () => {
  expect(await withTimeout(Promise.resolve(7), 1000, "x")).toBe(7);
  await expect(withTimeout(Promise.reject(new Error("boom")), 1000, "x")).rejects.toThrow("boom");
});

test("withTimeout rejects a slow promise with an unavailable AppError naming it", async () => {
  const err = await withTimeout(new Promise(() => {}), 10, "kafka ping").catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AppError);
  expect([(err as AppError).code, (err as AppError).message]).toEqual(["unavailable", "kafka ping timed out after 10 ms"]);
});
