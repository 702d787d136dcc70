import { expect, setDefaultTimeout, test } from "bun:test";
import { Client, api, createTeam, stored, uniqueUser } from "./harness";
import { useTarget } from "./target";

// Real processes and sockets: each wait inside has its own deadline; this bounds a whole test.
setDefaultTimeout(60_000);

const t = useTarget();

test("history pages newest first with a seq cursor, through the public port", async () => {
  const a = uniqueUser("a");
  const team = await createTeam(t, a);
  const c = await Client.connect(t, await t.token(a));
  const acks: any[] = [];
  for (let i = 0; i < 7; i++) acks.push(await c.request({ channel_id: team, to: "*", type: "text", data: `h${i}`, client_msg_id: `h-${i}` }));
  await c.find((f) => f.event === "message" && f.id === acks[6].id);
  const tok = await t.token(a);
  await stored(t, team, tok, acks[6].id); // history may lag live delivery by one store write
  const p1 = await api(t, "GET", `/v1/teams/${team}/messages?limit=3`, tok);
  expect(p1.status).toBe(200);
  expect(p1.body.data.map((m: any) => m.data)).toEqual(["h6", "h5", "h4"]);
  const p2 = await api(t, "GET", `/v1/teams/${team}/messages?limit=3&before=${p1.body.next}`, tok);
  expect(p2.body.data.map((m: any) => m.data)).toEqual(["h3", "h2", "h1"]);
  expect(p1.body.data[0]).toMatchObject({ id: acks[6].id, seq: acks[6].seq, from: a, to: "*", type: "text" });
  expect((await api(t, "GET", `/v1/teams/${team}/messages`, await t.token(uniqueUser("x")))).status).toBe(403);
  await c.close();
});

test("attachment round-trip: upload by presigned URL, message referencing it, member download, outsider refused", async () => {
  const [a, b, out] = [uniqueUser("a"), uniqueUser("b"), uniqueUser("out")];
  const team = await createTeam(t, a, [b]);
  const bytes = new TextEncoder().encode("%PDF-1.4 fake pdf bytes ".repeat(100));
  const created = await api(t, "POST", `/v1/teams/${team}/attachments`, await t.token(a), { type: "file", content_type: "application/pdf", size: bytes.length, filename: "report.pdf" });
  expect(created.status).toBe(201);
  const { attachment_id, upload_url } = created.body.data;
  expect(attachment_id).toMatch(new RegExp(`^${team}/[0-9a-f]{24}$`));
  // Only the Content-Type named at creation (PROTOCOL §5): the same client works in every mode.
  const put = await fetch(upload_url, { method: "PUT", headers: { "content-type": "application/pdf" }, body: bytes });
  expect(put.status).toBeLessThan(300);

  const a1 = await Client.connect(t, await t.token(a));
  const b1 = await Client.connect(t, await t.token(b));
  const ack = await a1.request({ channel_id: team, to: "*", type: "file", data: attachment_id, client_msg_id: "att-1" });
  expect(ack.event).toBe("ack");
  const m = await b1.find((f) => f.event === "message" && f.id === ack.id);
  expect(m.data).toBe(attachment_id);
  const other = await createTeam(t, a);
  const foreign = await a1.request({ channel_id: other, to: "*", type: "file", data: attachment_id, client_msg_id: "att-2" });
  expect(foreign).toMatchObject({ event: "error", code: "invalid_message" }); // an attachment of another team

  const get = await api(t, "GET", `/v1/attachments/${m.data}`, await t.token(b));
  expect(get.status).toBe(302);
  const location = (await fetch(`${t.base}/v1/attachments/${m.data}`, { headers: { authorization: `Bearer ${await t.token(b)}` }, redirect: "manual" })).headers.get("location")!;
  const download = await fetch(new URL(location, t.base));
  expect(download.status).toBe(200);
  expect(new Uint8Array(await download.arrayBuffer())).toEqual(bytes);
  expect((await api(t, "GET", `/v1/attachments/${m.data}`, await t.token(out))).status).toBe(403);
  await Promise.all([a1.close(), b1.close()]);
});

test("members: member_count on the team; GET /members pages them with their roles (PROTOCOL §4)", async () => {
  const [a, b, c] = [uniqueUser("a"), uniqueUser("b"), uniqueUser("c")];
  const team = await createTeam(t, a, [b, c]);
  const tok = await t.token(b);
  const one = await api(t, "GET", `/v1/teams/${team}`, tok);
  expect(one.body.data.member_count).toBe(3);
  const seen: { user_id: string; role: string }[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 5; pages++) {
    const r = await api(t, "GET", `/v1/teams/${team}/members?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, tok);
    expect(r.status).toBe(200);
    seen.push(...r.body.data);
    cursor = r.body.next;
    if (!cursor) break;
  }
  expect(seen.map((m) => m.user_id)).toEqual([a, b, c].sort());
  expect(seen.find((m) => m.user_id === a)?.role).toBe("super_admin");
  expect(seen.find((m) => m.user_id === c)?.role).toBe("user");
});
