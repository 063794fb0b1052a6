# syntax=docker/dockerfile:1
# Node 22 LTS (maintained to April 2027): two production dependencies (cookie, content-disposition)
# need Node >= 22, and package.json's engines says so. Keep this major and engines in step.
# Build stage: all dependencies, compile TypeScript.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build

# Runtime stage: production dependencies and the compiled output only, as a non-root user.
FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production \
    NODE_HOST=0.0.0.0 \
    NODE_PORT=3000 \
    SNAPSHOT_PATH=/data/chat-stats.snapshot.json
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["start"]
