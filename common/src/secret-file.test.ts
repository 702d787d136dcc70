import { expect, test } from "bun:test";
import { mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readOrCreateSecretFile } from "./secret-file";

const dir = () => mkdtempSync(join(tmpdir(), "chat-secret-"));

test("creates a random secret once, mode 0600, in a directory it makes", () => {
  const file = join(dir(), "nested", "secret");
  const a = readOrCreateSecretFile(file, 32);
  expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 bytes as base64url
  expect(statSync(file).mode & 0o777).toBe(0o600);
  expect(readOrCreateSecretFile(file, 32)).toBe(a);
  expect(readOrCreateSecretFile(join(dir(), "secret"), 32)).not.toBe(a);
});

test("reads an existing secret as is (trimmed) and refuses an empty file", () => {
  const file = join(dir(), "secret");
  writeFileSync(file, "given-secret\n");
  expect(readOrCreateSecretFile(file, 32)).toBe("given-secret");
  writeFileSync(file, "\n");
  expect(() => readOrCreateSecretFile(file, 32)).toThrow("empty");
});
