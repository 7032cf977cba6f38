// The floor of a proxy on undici's dispatch(), the leaner path than stream(): node:http, Pool.dispatch
// with the client's flat raw headers, one handler object per request and no closures, and none of the
// gateway's work (no routing, no forwarded headers, no access log). Usage: dispatch-proxy.ts UPSTREAM_URL
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

const pool = new Pool(new URL(process.argv[2]!).origin, { connections: 128 });

class Relay {
  res: ServerResponse;
  resume: (() => void) | null = null;
  constructor(res: ServerResponse) {
    this.res = res;
  }
  onConnect(): void {}
  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    this.resume = resume;
    const flat: string[] = new Array(raw.length);
    for (let i = 0; i < raw.length; i++) flat[i] = raw[i]!.toString('latin1');
    this.res.writeHead(status, flat);
    return true;
  }
  onData(chunk: Buffer): boolean {
    if (this.res.write(chunk)) return true;
    this.res.once('drain', this.resume!);
    return false;
  }
  onComplete(): void {
    this.res.end();
  }
  onError(): void {
    if (this.res.headersSent) this.res.destroy();
    else this.res.writeHead(502).end();
  }
}

const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const body = req.method === 'GET' || req.method === 'HEAD' ? null : req;
  pool.dispatch({ path: req.url!, method: req.method as 'GET', headers: req.rawHeaders, body }, new Relay(res));
});
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () =>
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`),
);
process.on('SIGTERM', () => process.exit(0));
