import { expect, test } from "bun:test";
import { parseConnectParams } from "./connect-params";

const A = "6b06d90e68a988520eac2a79";
const B = "6b06d90e68a988520eac2a7a";
const parse = (q: string) => parseConnectParams(new URLSearchParams(q));

test("repeatable channel_id and since, deduplicated", () => {
  const p = parse(`channel_id=${A}&channel_id=${B}&channel_id=${A}&since=${A}:12&since=${B}:0`);
  expect(p.named).toEqual([A, B]);
  expect([...p.since]).toEqual([[A, 12], [B, 0]]);
  expect(parse("")).toEqual({ named: [], since: new Map() });
});

test("malformed or excessive parameters are refused", () => {
  for (const q of ["channel_id=x", `channel_id=${A.toUpperCase()}`, `since=${A}`, `since=${A}:-1`, `since=${A}:1e3`, `since=x:1`, `since=${A}:${"9".repeat(16)}`, `since=${A}:0x10`, `since=${A}: 5`, `since=${A}:+5`, `since=${A}:`, `since=${A}::1`, `since=${A}1:1`, `channel_id=${A}%00`])
    expect(() => parse(q)).toThrow();
  expect(() => parse(Array.from({ length: 101 }, () => `channel_id=${A}`).join("&"))).toThrow("too many");
});
