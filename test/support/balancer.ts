// Balancer test helpers: an upstream model, a hash source, balancers closed after the file, and
// loopback backends that answer with their name.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { UpstreamModel } from '../../src/config/model.ts';
import { Balancer, type HashSource, upstreamModel } from '../../src/upstream/balancer.ts';
import { DEFAULT_DNS_SETTINGS, hostResolver } from '../../src/upstream/dns.ts';
import type { PoolSettings } from '../../src/upstream/pool.ts';

export const POOL: PoolSettings = {
  scheme: 'http',
  h2: false,
  connectTimeout: 1000,
  readTimeout: 2000,
  tlsVerify: true,
  ca: null,
  verifyDepth: null,
  cert: null,
  key: null,
  keepaliveIdle: 4,
  keepaliveTimeout: 1000,
  keepaliveMaxRequests: 0,
  maxConnections: 0,
  queueSize: 0,
  lookup: hostResolver(DEFAULT_DNS_SETTINGS).lookup,
};

export function upstream(targets: [string, number][], extra: Partial<UpstreamModel> = {}): UpstreamModel {
  const list = targets.map(([target, weight], i) => ({ id: String(i), target, weight, tags: [], yaml_path: [] }));
  return upstreamModel('u', list, { id: 'u', slots: 1000, ...extra });
}

export function req(
  headers: Record<string, string> = {},
  clientIp = '127.0.0.1',
  more: Partial<HashSource> = {},
): HashSource {
  return {
    headers,
    clientIp,
    path: '/',
    rawQuery: '',
    captures: {},
    consumer: null,
    credential: null,
    hashCookie: null,
    ...more,
  };
}

const balancers: Balancer[] = [];
/** A balancer closed after the file, with the test pool settings changed by `pool`. */
export function make(u: UpstreamModel, pool: Partial<PoolSettings> = {}): Balancer {
  const b = new Balancer(u, { ...POOL, ...pool });
  balancers.push(b);
  return b;
}

/** A loopback HTTP server answering with its name; `status` can be changed on the fly. */
export async function backend(
  name: string,
): Promise<{ server: Server; port: number; status: number; hits: number; close(): Promise<void> }> {
  const b = {
    server: null as unknown as Server,
    port: 0,
    status: 200,
    hits: 0,
    close: () =>
      new Promise<void>((r) => {
        b.server.close(() => r());
        b.server.closeAllConnections();
      }),
  };
  b.server = createServer((rq, rs) => {
    b.hits++;
    rs.writeHead(rq.url === '/health' ? b.status : 200, { 'content-type': 'text/plain' });
    rs.end(name);
  });
  await new Promise<void>((r) => b.server.listen(0, '127.0.0.1', () => r()));
  b.port = (b.server.address() as AddressInfo).port;
  return b;
}

export async function closeBalancers(): Promise<void> {
  await Promise.all(balancers.map((b) => b.close()));
}
