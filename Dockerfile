# durabox worker image: `docker compose up --scale worker=N` (see docker-compose.yml).
FROM node:20.20.2-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20.20.2-bookworm-slim
# ssh and rsync reach the boxes; git answers sync's questions about the tree.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-client rsync git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    DURABOX_STATE_DIR=/var/lib/durabox
WORKDIR /app
COPY --from=build --chown=root:root /app/package.json /app/package-lock.json ./
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
# State (per-lease keys, known_hosts, worker id) belongs to the unprivileged user, mode 0700.
RUN mkdir -p /var/lib/durabox && chown node:node /var/lib/durabox && chmod 0700 /var/lib/durabox
VOLUME ["/var/lib/durabox"]
USER node
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s CMD ["sh", "-c", "test -f \"$DURABOX_STATE_DIR/worker/ready\""]
CMD ["node","dist/cli/main.js","worker"]
