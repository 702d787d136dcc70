# syntax=docker/dockerfile:1
# One image for every process; the command chooses which one runs:
#   bun standalone/main.ts        (default: relay + controller + management, embedded adapters, data in /app/data)
#   bun relay/src/main.ts | bun controller/src/main.ts | bun management/src/main.ts   (distributed, see compose.yaml)
# The workspace packages are TypeScript that Bun runs directly: there is no build step.
ARG BUN_IMAGE=oven/bun:1.4.5-slim

# --- dependencies (cached until a package.json or the lockfile changes) -----------------------
FROM ${BUN_IMAGE} AS deps
WORKDIR /app
# Every workspace's package.json must be present for the lockfile to match.
COPY package.json bun.lock bunfig.toml ./
COPY common/package.json common/
COPY proto/package.json proto/
COPY relay/package.json relay/
COPY controller/package.json controller/
COPY management/package.json management/
COPY client/package.json client/
COPY web/package.json web/
RUN bun install --frozen-lockfile --production

# --- runtime ---------------------------------------------------------------------------------
FROM ${BUN_IMAGE}
WORKDIR /app
ENV NODE_ENV=production \
    DATA_DIR=/app/data
# node_modules plus whatever the install put next to the workspace package.json files.
COPY --from=deps /app/ ./
# Sources (see .dockerignore), owned by root and read-only for the `bun` user that runs them.
COPY . .
# The one writable place: standalone mode's data (mount a volume here), and the dev JWT secret
# that `bun scripts/token.ts` generates when AUTH_JWT_SECRET is unset.
RUN mkdir -p /app/data && chown bun:bun /app/data
USER bun
# Standalone's port (docker run -p 8080:8080 -v chat-data:/app/data IMAGE). In compose each service
# sets its own PORT (controllers also OPS_PORT); health checks are per service there, as they differ
# by role. No VOLUME here: it would give every distributed container an unused anonymous volume.
EXPOSE 8080
CMD ["bun", "standalone/main.ts"]
