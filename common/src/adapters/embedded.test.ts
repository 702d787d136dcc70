import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { messageLogContract } from "../contracts/message-log.contract";
import { messageStoreContract } from "../contracts/message-store.contract";
import { teamStoreContract } from "../contracts/team-store.contract";
import { EmbeddedLog } from "./embedded-log";
import { SqliteStore } from "./sqlite-store";

const dir = () => mkdtempSync(join(tmpdir(), "chat-embedded-"));
messageLogContract("embedded", async () => new EmbeddedLog(dir()));
teamStoreContract("sqlite", async () => new SqliteStore(dir()));
messageStoreContract("sqlite", async () => new SqliteStore(dir()));
