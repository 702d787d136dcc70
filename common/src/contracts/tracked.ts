import { afterEach } from "bun:test";

/** Wraps an adapter factory so every instance a test opens is closed after it. Call inside describe(). */
export function tracked<T extends { close(): Promise<void> }>(make: () => Promise<T>): () => Promise<T> {
  const opened: T[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((x) => x.close()));
  });
  return async () => {
    const x = await make();
    opened.push(x);
    return x;
  };
}
