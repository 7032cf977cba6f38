# syntax=docker/dockerfile:1
# Tollgate on Node 24 LTS. Build: docker build -t tollgate . ; run: docker run -p 8000:8000 -v $PWD/gateway.yaml:/etc/tollgate/gateway.yaml tollgate
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY schemas ./schemas
COPY gateway.yaml /etc/tollgate/gateway.yaml
USER node
EXPOSE 8000 8001
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s CMD ["node", "-e", "fetch('http://127.0.0.1:8001/status').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "bin/gateway"]
CMD ["start", "--config", "/etc/tollgate/gateway.yaml", "--admin-listen", "0.0.0.0:8001"]
