/**
 * The parts of Kong's spec mock upstream (spec/fixtures/mock_upstream.lua) that its plugin specs
 * call, for ports of those specs, and a client that keeps each header line as sent.
 *
 * - `/`, `/anything`, `/request`: 200, JSON `{ headers, method, url }` of the request received.
 * - `/status/<code>`: that status, JSON `{ code }`.
 * - `/response-headers?<name>=<value>...`: 200 with those response headers, JSON as `/request`.
 * - anything else: 404.
 */
import { request } from 'node:http';
import { type Listening, listen } from './upstream.ts';

export interface KongMock extends Listening {
  /** Every request received, as `METHOD path`. */
  requests: string[];
}

export async function startKongMock(): Promise<KongMock> {
  const requests: string[] = [];
  const listening = await listen((req, res) => {
    const url = new URL(req.url ?? '/', 'http://mock');
    requests.push(`${req.method} ${url.pathname}`);
    req.resume();
    const echo = { headers: req.headers, method: req.method, url: req.url };
    res.setHeader('content-type', 'application/json');
    const status = /^\/status\/(\d{3})$/.exec(url.pathname);
    if (status !== null) {
      res.statusCode = Number(status[1]);
      res.end(JSON.stringify({ code: res.statusCode }));
    } else if (url.pathname === '/response-headers') {
      for (const [name, value] of url.searchParams) res.setHeader(name, value);
      res.end(JSON.stringify(echo));
    } else if (['/', '/anything', '/request'].includes(url.pathname)) {
      res.end(JSON.stringify(echo));
    } else {
      res.statusCode = 404;
      res.end(JSON.stringify({ message: 'Not found' }));
    }
  });
  return { ...listening, requests };
}

/** An answer, its headers joined as node joins them, and each header's lines as received. */
export interface Sent {
  status: number;
  headers: Record<string, string | undefined>;
  body: string;
  /** The values of the lines of header `name`, in order. */
  lines(name: string): string[];
}

/** Sends one request with exactly `headers` (an empty value is sent as an empty line, an array as one line per value). */
export function send(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string | string[]>,
): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        const raw = res.rawHeaders;
        resolve({
          status: res.statusCode ?? 0,
          headers: Object.fromEntries(
            Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v]),
          ),
          body,
          lines: (name) => raw.filter((_, i) => i % 2 === 1 && raw[i - 1]!.toLowerCase() === name),
        });
      });
    });
    req.on('error', reject);
    req.end();
  });
}
