import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { randomBytes } from "node:crypto";

/**
 * The secret stored in `file`, or a new one of `bytes` random bytes (base64url) written there
 * with mode 0600. `wx` makes a concurrent first start read the winner's secret instead of overwriting it.
 */
export function readOrCreateSecretFile(file: string, bytes: number): string {
  const existing = readSecret(file);
  if (existing !== undefined) return existing;
  mkdirSync(dirname(file), { recursive: true });
  const secret = randomBytes(bytes).toString("base64url");
  try {
    writeFileSync(file, secret + "\n", { mode: 0o600, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return readSecret(file)!;
    throw err;
  }
  chmodSync(file, 0o600); // exactly 0600, whatever the umask
  return secret;
}

function readSecret(file: string): string | undefined {
  try {
    const s = readFileSync(file, "utf8").trim();
    if (!s) throw new Error(`${file} is empty: delete it to have a new secret generated`);
    return s;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}
