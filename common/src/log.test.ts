import { expect, test } from "bun:test";
import { configureLogging, log } from "./log";

test("tokens, secrets and access_token query values never reach the log line", () => {
  const lines: string[] = [];
  configureLogging({ sink: (l) => lines.push(l) });
  log.child({ component: "t" }).info("GET /v1/ws?channel_id=a&access_token=eyJabc.def.ghi", {
    url: "/v1/ws?access_token=eyJsecret",
    headers: { authorization: "Bearer eyJxyz" },
    nested: { AUTH_JWT_SECRET: "s3cret", note: "Bearer abc.def" },
  });
  configureLogging({ sink: (l) => process.stdout.write(l + "\n") });
  const line = lines.join("\n");
  expect(line).not.toContain("eyJ");
  expect(line).not.toContain("s3cret");
  expect(line).not.toContain("abc.def");
  expect(JSON.parse(lines[0]!).component).toBe("t");
});
