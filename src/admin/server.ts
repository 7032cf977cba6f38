// The admin listener (127.0.0.1:8001 by default): JSON status of the running gateway.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { TollgateInstance } from '../proxy/instance.ts';
import { VERSION } from '../version.ts';

export function createAdminServer(inst: TollgateInstance): Server {
  const server = createServer((req, res) => void route(inst, req, res));
  server.keepAliveTimeout = 5_000;
  return server;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function route(inst: TollgateInstance, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  try {
    if (path === '/status' && (req.method === 'GET' || req.method === 'HEAD')) return send(res, 200, status(inst));
    if (path === '/reload' && req.method === 'POST') {
      const r = await inst.reload();
      return send(res, r.ok ? 200 : 400, r);
    }
    send(res, 404, { message: 'Not found' });
  } catch (err) {
    inst.log.error({ err: err instanceof Error ? err.message : String(err) }, 'admin request failed');
    send(res, 500, { message: 'An unexpected error occurred' });
  }
}

export function status(inst: TollgateInstance): Record<string, unknown> {
  const rt = inst.runtime;
  return {
    status: 'up',
    version: VERSION,
    config_hash: rt.config.source.hash,
    loaded_at: rt.loadedAt.toISOString(),
    last_reload: {
      ok: inst.lastReload.ok,
      at: inst.lastReload.at.toISOString(),
      errors: inst.lastReload.errors,
    },
    routes: rt.routes.length,
    services: rt.services.size,
    in_flight: rt.inflight,
  };
}
