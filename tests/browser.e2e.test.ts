import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { signDevToken } from "@chat/common/auth";
import { startStandalone, uniqueUser } from "./harness";
import { distributed, useTarget } from "./target";

// A real browser over real sockets: two users sign in, chat, DM, share an image, and live through a restart.
setDefaultTimeout(180_000);

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = join(import.meta.dir, "..", "test-artifacts", "browser");
const haveBrowser = existsSync(CHROMIUM);
// scripts/test.sh installs Chromium first and sets TEST_REQUIRE_BROWSER: there a missing browser fails the run.
if (!haveBrowser && process.env.TEST_REQUIRE_BROWSER === "1") throw new Error(`TEST_REQUIRE_BROWSER=1 but there is no browser at ${CHROMIUM}`);

/** A PNG drawn here (a gradient), so the test can check the browser decoded the very image it uploaded. */
function png(width: number, height: number): Buffer {
  const crc = (b: Buffer) => Bun.hash.crc32(b) >>> 0;
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) rows.set([40 + (x * 200) / width, 90, 40 + (y * 200) / height], y * (width * 3 + 1) + 1 + x * 3);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(rows)), chunk("IEND", Buffer.alloc(0))]);
}

// Needs the dev sign-in, which only standalone with its generated secret offers.
describe.skipIf(!haveBrowser || distributed)("web app in Chromium (standalone, dev sign-in)", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "chat-browser-"));
  const t = useTarget(() => startStandalone({ AUTH_JWT_SECRET: "" }, dataDir));
  let browser: Browser;
  let step = 0;
  rmSync(ARTIFACTS, { recursive: true, force: true }); // this run's screenshots only
  const shot = async (page: Page, name: string) => {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, `${String(++step).padStart(2, "0")}-${name}.png`) });
  };
  const errors: string[] = [];
  const open = async (ctx: BrowserContext) => {
    const page = await ctx.newPage();
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(t.base + "/");
    return page;
  };
  const signIn = async (page: Page, user: string) => {
    await page.getByLabel("User id").fill(user);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByRole("status").getByText("Connected").waitFor();
  };
  const composer = (page: Page) => page.getByRole("textbox", { name: /^Message/ });
  const say = async (page: Page, text: string) => {
    await composer(page).fill(text);
    await composer(page).press("Enter");
  };
  const log = (page: Page) => page.getByRole("log", { name: "Messages" });

  test("two users: sign in, create a team, add a member, chat, DM, share an image, and a restart loses nothing", async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const [alice, bob] = [uniqueUser("alice"), uniqueUser("bob")];
    const viewport = { width: 1100, height: 720 };
    const pa = await open(await browser.newContext({ viewport }));
    const pb = await open(await browser.newContext({ viewport }));

    // Sign in (dev sign-in: standalone with its generated secret, on loopback).
    await pa.getByLabel("User id").fill(alice);
    await shot(pa, "sign-in");
    await pa.getByRole("button", { name: "Sign in", exact: true }).click();
    await pa.getByRole("status").getByText("Connected").waitFor();

    // Create a team and add Bob as a member.
    await pa.getByLabel("New team").fill("Launch");
    await pa.getByRole("button", { name: "Create" }).click();
    await pa.getByRole("heading", { name: "# Launch" }).waitFor();
    await pa.getByRole("button", { name: /^Members/ }).click();
    await pa.getByLabel("Add a member").fill(bob);
    await pa.getByRole("button", { name: "Add", exact: true }).click();
    const panel = pa.getByRole("complementary", { name: "Members" });
    await panel.getByText(bob.split("@")[0]!).waitFor();
    await shot(pa, "members");
    await pa.getByRole("button", { name: "Close members" }).click();

    // Alice writes before Bob signs in; Bob sees the team with an unread message once he is live.
    await signIn(pb, bob);
    await pb.getByRole("link", { name: /Launch/ }).waitFor();
    await say(pa, "Hello Bob, welcome to Launch!");
    await pb.getByRole("navigation", { name: "Teams" }).getByLabel("1 unread").waitFor();
    await shot(pb, "unread");
    await pb.getByRole("link", { name: /Launch/ }).click();
    await log(pb).getByText("Hello Bob, welcome to Launch!").waitFor();
    await say(pb, "Hi Alice!");
    await log(pa).getByText("Hi Alice").waitFor();
    await shot(pa, "team-chat");

    // Lifecycle (§9): Alice edits her message, Bob reacts and replies in a thread; both see it all.
    const hello = (page: Page) => log(page).getByRole("listitem").filter({ hasText: "Hello Bob" });
    await hello(pa).getByRole("button", { name: "Edit" }).click();
    await pa.getByRole("textbox", { name: "Edit message" }).fill("Hello Bob, welcome to Launch! (edited by hand)");
    await pa.getByRole("button", { name: "Save" }).click();
    await hello(pb).getByText("(edited by hand)").waitFor();
    await hello(pb).getByRole("button", { name: "React" }).click();
    await hello(pb).getByRole("group", { name: "Add a reaction" }).getByRole("button").first().click();
    await hello(pa).getByRole("button", { name: /1$/ }).waitFor();
    await hello(pb).getByRole("button", { name: "Reply" }).click();
    const thread = pb.getByRole("complementary", { name: "Thread" });
    await thread.getByRole("textbox", { name: "Reply in thread" }).fill("Replying in a thread");
    await thread.getByRole("textbox", { name: "Reply in thread" }).press("Enter");
    await thread.getByText("Replying in a thread").waitFor();
    await hello(pa).getByRole("button", { name: "1 reply" }).click();
    await pa.getByRole("complementary", { name: "Thread" }).getByText("Replying in a thread").waitFor();
    await shot(pa, "thread");
    await pa.getByRole("button", { name: "Close thread" }).click();
    await pb.getByRole("button", { name: "Close thread" }).click();

    // A direct message, visible to Bob only under his conversation with Alice.
    await pa.getByRole("navigation", { name: "Conversations" }).getByRole("link", { name: new RegExp(bob.split("@")[0]!) }).click();
    await say(pa, "psst, a DM just for you");
    const dmLink = pb.getByRole("navigation", { name: "Conversations" }).getByRole("link", { name: new RegExp(alice.split("@")[0]!) });
    await dmLink.getByLabel("1 unread").waitFor();
    await dmLink.click();
    await log(pb).getByText("psst, a DM just for you").waitFor();
    await shot(pb, "direct-message");
    await pa.getByRole("navigation", { name: "Conversations" }).getByRole("link", { name: /# Launch/ }).click();
    await pb.getByRole("navigation", { name: "Conversations" }).getByRole("link", { name: /# Launch/ }).click();
    expect(await log(pb).getByText("psst").count()).toBe(0);

    // An image: presigned upload from the browser, then both see it decoded.
    await pa.getByLabel("Attach a file").setInputFiles({ name: "gradient.png", mimeType: "image/png", buffer: png(96, 64) });
    for (const page of [pa, pb]) {
      const img = log(page).getByRole("img", { name: "Image attachment" });
      await img.waitFor();
      await page.waitForFunction("[...document.querySelectorAll('.messages img')].some((i) => i.complete && i.naturalWidth === 96)");
    }
    await shot(pb, "image");

    // The server restarts: both pages reconnect, a message typed meanwhile is delivered once, nothing is lost.
    await t.stop("SIGTERM");
    await pa.getByRole("status").getByText("Connecting…").waitFor();
    await say(pa, "Sent while the server was down");
    await pa.getByText("sending…").waitFor();
    await shot(pa, "server-down");
    await t.restart();
    await say(pb, "Back after the restart");
    for (const page of [pa, pb]) {
      await page.getByRole("status").getByText("Connected").waitFor();
      await log(page).getByText("Sent while the server was down").waitFor();
      await log(page).getByText("Back after the restart").waitFor();
    }
    await pa.waitForTimeout(300); // a duplicate would be right behind
    for (const page of [pa, pb]) {
      const texts = await log(page).locator(".msg .body").allTextContents();
      expect(texts.filter((x) => x.includes("Hello Bob"))).toEqual(["Hello Bob, welcome to Launch! (edited by hand)"]);
      expect(texts.filter((x) => x.includes("Sent while the server was down"))).toHaveLength(1);
      expect(texts.filter((x) => x.includes("Back after the restart"))).toHaveLength(1);
      expect(await page.getByText("sending…").count()).toBe(0);
      expect(await log(page).getByRole("img", { name: "Image attachment" }).count()).toBe(1);
    }
    await shot(pb, "after-restart");

    // A phone-sized viewport: the channel alone, the team list one tap away.
    await pb.setViewportSize({ width: 390, height: 760 });
    await shot(pb, "phone-channel");
    await pb.getByRole("button", { name: "Back to teams" }).click();
    await pb.getByRole("navigation", { name: "Teams" }).waitFor();
    await shot(pb, "phone-teams");
    expect(errors).toEqual([]);
  });

  test("signing in with a pasted token", async () => {
    const secret = readFileSync(join(dataDir, "jwt-secret"), "utf8").trim();
    const carol = uniqueUser("carol");
    const page = await open(await browser.newContext({ viewport: { width: 800, height: 600 } }));
    await page.getByLabel("Access token").fill(await signDevToken(secret, carol));
    await page.getByRole("button", { name: "Sign in with token" }).click();
    await page.getByRole("status").getByText("Connected").waitFor();
    await page.getByText("No teams yet.").waitFor();
    // A token the server refuses: the page says so instead of spinning.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Access token").fill(await signDevToken("another-secret-".padEnd(48, "y"), carol));
    await page.getByRole("button", { name: "Sign in with token" }).click();
    await page.getByText("The server refused your token.").waitFor();
    await browser.close();
  });
});
