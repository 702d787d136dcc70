// `bun run token <user_id>`: a dev token signed with AUTH_JWT_SECRET, or the secret standalone generated under DATA_DIR.
import { ensureDevSecret, signDevToken } from "@chat/common/auth";
import { loadConfig } from "@chat/common/config";
import { isUserId } from "@chat/common/grammar";

const user = process.argv[2];
if (!isUserId(user)) {
  console.error("usage: bun run token <user_id>   (an email-like id: at most 320 characters, no whitespace, / or any of { } $ \" < > \\)");
  process.exit(2);
}
const config = loadConfig();
const ttl = Number(process.env.TOKEN_TTL_SECONDS ?? 12 * 3600);
const secret = ensureDevSecret(config.dataDir, config.auth.jwtSecret);
console.log(await signDevToken(secret, user, ttl, { issuer: config.auth.issuer, audience: config.auth.audience }));
