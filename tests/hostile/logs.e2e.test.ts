// Secrets never reach the logs (PROTOCOL §1, §2; STYLE "Logging"): after a representative session — upgrades
// with ?access_token=, refused tokens, REST calls, a refresh, an attachment uploaded and downloaded through
// presigned URLs — no line of the server's log holds the JWT secret, a token or its signature, an access_token
// value, the object store's signing secret or a presigned signature. Standalone only: it reads the process's log.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, setDefaultTimeout, test } from "bun:test";
import { api, Client, createTeam, SECRET, startStandalone, uniqueUser, type Target } from "../harness";
import { distributed } from "./corpus";

setDefaultTimeout(60_000);

(distributed ? test.skip : test)("no secret, token, access_token value or signature appears in the logs of a whole session", async () => {
  const dir = mkdtempSync(join(tmpdir(), "chat-logs-"));
  const t: Target = await startStandalone({ LOG_LEVEL: "debug" }, dir);
  const needles = new Map<string, string>([["the JWT secret", SECRET]]);
  const remember = (what: string, token: string) => {
    needles.set(what, token);
    const signature = token.split(".")[2];
    if (signature && signature.length >= 16) needles.set(`${what} (signature)`, signature);
  };
  try {
    const [a, b] = [uniqueUser("a"), uniqueUser("b")];
    const team = await createTeam(t, a, [b]);
    const [ta, tb, short] = [await t.token(a), await t.token(b), await t.token(a, 600)];
    remember("a's token", ta);
    remember("b's token", tb);
    remember("a refresh token", short);

    // Upgrades with the token in the query, accepted and refused.
    const ca = await Client.connect(t, ta, `channel_id=${team}`, "query");
    const cb = await Client.connect(t, tb, "", "query");
    const guessed = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJndWVzcyJ9.guessed-signature-value-123456";
    remember("a guessed token", guessed);
    expect((await fetch(`${t.base}/v1/ws?access_token=${guessed}`, { headers: { upgrade: "websocket", connection: "Upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" } })).status).toBe(401);
    const expired = await t.token(a, -60);
    remember("an expired token", expired);
    expect((await fetch(`${t.base}/v1/ws?access_token=${expired}&channel_id=${team}`, { headers: { upgrade: "websocket", connection: "Upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" } })).status).toBe(401);

    // Traffic, a refresh (good and garbage), REST with good and bad tokens.
    expect((await ca.request({ channel_id: team, to: "*", type: "text", data: "hello", client_msg_id: "m-1" })).event).toBe("ack");
    expect((await ca.request({ op: "refresh", token: short, client_msg_id: "r-1" })).event).toBe("ack");
    expect((await ca.request({ op: "refresh", token: guessed, client_msg_id: "r-2" })).code).toBe("forbidden");
    expect((await api(t, "GET", `/v1/teams/${team}/messages`, ta)).status).toBe(200);
    expect((await api(t, "GET", "/v1/teams", guessed)).status).toBe(401);
    expect((await api(t, "GET", `/v1/teams?access_token=${tb}`)).status).toBe(401);

    // An attachment: presigned upload and download URLs are credentials too.
    const created = await api(t, "POST", `/v1/teams/${team}/attachments`, ta, { type: "file", content_type: "text/plain", size: 5, filename: "secret-plans.txt" });
    expect(created.status).toBe(201);
    const upload = new URL(created.body.data.upload_url);
    needles.set("the upload signature", upload.searchParams.get("sig") ?? upload.searchParams.get("X-Amz-Signature")!);
    expect((await fetch(upload, { method: "PUT", headers: { "content-type": "text/plain" }, body: "hello" })).status).toBe(200);
    const download = await fetch(`${t.base}/v1/attachments/${created.body.data.attachment_id}`, { headers: { authorization: `Bearer ${ta}` }, redirect: "manual" });
    expect(download.status).toBe(302);
    const location = new URL(download.headers.get("location")!, t.base);
    needles.set("the download signature", location.searchParams.get("sig") ?? location.searchParams.get("X-Amz-Signature")!);
    expect(await (await fetch(location)).text()).toBe("hello");
    expect((await cb.request({ channel_id: team, to: "*", type: "file", data: created.body.data.attachment_id, client_msg_id: "f-1" })).event).toBe("ack");
    await Promise.all([ca.close(), cb.close()]);
  } finally {
    await t.stop();
  }
  needles.set("the object store's signing secret", readFileSync(join(dir, "objects-secret"), "utf8").trim());
  const log = t.logs.join("\n");
  expect(t.logs.length).toBeGreaterThan(10); // the session was logged: the scan looked at something
  expect(log).toContain('"msg":"request"');
  for (const [what, needle] of needles) {
    expect(needle.length).toBeGreaterThanOrEqual(16);
    expect({ what, logged: log.includes(needle) }).toEqual({ what, logged: false });
  }
  expect({ access_token: /access_token=[^&"\s]{8,}/.exec(log)?.[0] }).toEqual({ access_token: undefined });
});
