// The floor: the smallest honest node:http + undici stream() proxy. Usage: minimal-proxy.ts UPSTREAM_URL
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

const pool = new Pool(new URL(process.argv[2]!).origin, { connections: 128 });
const server = createServer((req, res) => {
  const body = req.method === 'GET' || req.method === 'HEAD' ? null : req;
  pool
    .stream(
      { path: req.url!, method: req.method as 'GET', headers: req.headers, body, opaque: res },
      ({ statusCode, headers, opaque }) => {
        const out = opaque as ServerResponse;
        out.writeHead(statusCode, headers as Record<string, string | string[]>);
        return out;
      },
    )
    .catch(() => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
});
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () =>
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`),
);
process.on('SIGTERM', () => process.exit(0));
