// Rewrites README.md's configuration table from common/src/config.ts Settings.
import { settingsTable } from "@chat/common/config";

const path = new URL("../README.md", import.meta.url);
const readme = await Bun.file(path).text();
const start = readme.indexOf("| variable | default | meaning |");
const end = readme.indexOf("\n\n", start);
if (start < 0 || end < 0) throw new Error("README.md has no configuration table");
await Bun.write(path, readme.slice(0, start) + settingsTable() + readme.slice(end));
console.log("README.md configuration table updated");
