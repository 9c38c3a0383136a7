# The suite as a container image: every worker in one process (choose with WORKERS), the ops server
# on OPS_PORT. Node 24 runs the TypeScript sources directly (type stripping): no build step.
#   docker build -t customer-profiles .
#   docker run --env-file suite.env -p 3000:3000 customer-profiles
# NODE_ENV=production: the four service variables, CLAIM_KEY_SECRET and the dashboard's credentials
# are required; the local stack is never started.

FROM node:24-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# The install-time patch of KafkaJS's record decoder (the root postinstall) needs these two files.
COPY scripts/patchKafkajs.ts scripts/patchKafkajs.ts
COPY shared/kafkajsPatch.ts shared/kafkajsPatch.ts
# Without the dev dependencies: Node comes from the base image, not from the `node` package.
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production OPS_PORT=3000
WORKDIR /app
COPY --from=dependencies /app/node_modules node_modules
COPY package.json package.json
COPY schemas schemas
COPY shared shared
COPY workers workers
COPY app app
COPY scripts scripts
COPY bin bin
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.OPS_PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM: stop consuming, finish the step in flight, commit, close, exit 0 (within 10 s).
STOPSIGNAL SIGTERM
CMD ["node", "app/main.ts"]
