import { expect, test } from "bun:test";
import { isObjectId, objectId } from "./ids";

test("objectId is 24 lowercase hex, unique and time-ordered", () => {
  const ids = Array.from({ length: 1000 }, () => objectId());
  expect(ids.every(isObjectId)).toBe(true);
  expect(new Set(ids).size).toBe(1000);
  expect(objectId(Date.UTC(2030, 0, 1)) > objectId(Date.UTC(2020, 0, 1))).toBe(true);
});

test("isObjectId refuses anything else", () => {
  for (const v of ["", "507F191E810C19729DE860EA", "507f191e810c19729de860e", { $ne: 1 }, 5, null]) expect(isObjectId(v)).toBe(false);
});
