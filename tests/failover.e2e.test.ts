import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { Client, createTeam, uniqueUser } from "./harness";
import { useTarget } from "./target";

// Real processes and sockets: each wait inside has its own deadline; this bounds a whole test.
setDefaultTimeout(60_000);

const script = process.env.E2E_DIST_SCRIPT;
const restart = async (name: string) => {
  const p = Bun.spawn(["bash", join(import.meta.dir, "..", script!), "restart", name], { stdout: "ignore", stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(`restart ${name} failed: ${await new Response(p.stderr).text()}`);
};

// Needs the distributed stack and its control script (scripts/test.sh sets E2E_DIST_SCRIPT).
describe.skipIf(!script)("failover (distributed stack)", () => {
  const t = useTarget();

  test("controllers restarted one after the other under traffic: every acked message is delivered once, in order", async () => {
    const [a, b] = [uniqueUser("a"), uniqueUser("b")];
    const team = await createTeam(t, a, [b]);
    const sender = await Client.connect(t, await t.token(a));
    const receivers = await Promise.all([b, b].map(async (u) => Client.connect(t, await t.token(u))));
    const acks: Promise<any>[] = [];
    let sending = true;
    const pump = (async () => {
      for (let i = 0; sending && i < 2000; i++) {
        acks.push(sender.request({ channel_id: team, to: "*", type: "text", data: `f${i}`, client_msg_id: `f-${i}` }));
        await Bun.sleep(60); // ~16 msg/s, under the per-connection rate of 20/s
      }
    })();
    await restart("controller1");
    await restart("controller2");
    sending = false;
    await pump;
    const results = await Promise.all(acks);
    const acked = results.filter((r) => r.event === "ack");
    expect(acked.length).toBeGreaterThan(30);
    // messages that could not be appended are reported as errors, never silently lost
    for (const r of results) if (r.event === "error") expect(r.code).toBe("unavailable");
    const last = acked.reduce((m, x) => (x.seq > m.seq ? x : m));
    for (const r of receivers) {
      await r.find((f) => f.event === "message" && f.id === last.id, 60_000);
      const got = r.messages(team).map((f) => f.seq);
      expect(got).toEqual(acked.map((x) => x.seq).sort((x, y) => x - y));
    }
    await Promise.all([sender, ...receivers].map((c) => c.close()));
  }, 120_000);
});
