# syntax=docker/dockerfile:1
#
# Tollgate on Node 24 LTS (slim). docs/deployment.md explains every choice below.
#
#   docker build -t tollgate .
#   docker run --rm -p 8000:8000 -v "$PWD/gateway.yaml:/etc/tollgate/gateway.yaml:ro" tollgate
#   docker run --rm -v "$PWD/gateway.yaml:/etc/tollgate/gateway.yaml:ro" tollgate validate /etc/tollgate/gateway.yaml
#
# `npm run image:check` replays this file without a Docker engine (test/packaging/image-replay.ts
# replays the steps: keep every step something it understands, or teach it the new step).

# Stage 1: production dependencies only (esbuild, which builds dist/ below, is one of them). The
# `prepare` build does not run here: bin/compiled.mjs is not copied yet.
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# Stage 2: the runtime. Files stay owned by root and read-only for the gateway's user.
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY schemas ./schemas
# A working default (the echo demo); mount your own file over it, or a ConfigMap on /etc/tollgate.
COPY gateway.yaml /etc/tollgate/gateway.yaml
# The compiled tree (dist/, bin/compiled.mjs): bin/gateway runs it rather than the sources through
# tsx (less CPU and memory at start-up). Nothing it was built from is copied after this step, so
# its stamp holds and bin/gateway picks it.
RUN ["node", "bin/compiled.mjs"]
# Validating once, as root, writes the config validators to node_modules/.cache/tollgate, which the
# gateway's user can read but not write: without it every start compiles them again.
RUN ["node", "bin/gateway", "validate", "/etc/tollgate/gateway.yaml"]
# The base image's `node` user, by number: Kubernetes' runAsNonRoot can only verify a numeric USER.
USER 1000:1000
# 8000 proxy, 8001 admin (the admin listener stays on 127.0.0.1 unless --admin-listen says otherwise).
EXPOSE 8000 8001
STOPSIGNAL SIGTERM
# Runs inside the container, where the admin listener's default 127.0.0.1:8001 is reachable.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8001/status').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form, no shell: node is PID 1 and receives SIGTERM itself, then drains and exits 0.
ENTRYPOINT ["node", "/app/bin/gateway"]
CMD ["start", "--config", "/etc/tollgate/gateway.yaml"]
