import { randomBytes } from "node:crypto";

const HEX24 = /^[0-9a-f]{24}$/;
const processUnique = randomBytes(5).toString("hex");
let counter = randomBytes(3).readUIntBE(0, 3);

/** A MongoDB ObjectId as 24 lowercase hex: 4-byte seconds, 5 process-random bytes, 3-byte counter. */
export function objectId(now = Date.now()): string {
  counter = (counter + 1) & 0xffffff;
  const secs = Math.floor(now / 1000) >>> 0;
  return secs.toString(16).padStart(8, "0") + processUnique + counter.toString(16).padStart(6, "0");
}

export function isObjectId(value: unknown): value is string {
  return typeof value === "string" && HEX24.test(value);
}
