/**
 * The echo upstream: answers a request with a JSON copy of what it received, so a user can see
 * exactly what the gateway added or removed. Used in-process by services with `url: echo://`
 * and as a standalone server by `gateway echo` (tests and demos).
 */
import { isUtf8 } from 'node:buffer';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Most request body either echo copies into memory (`echo://` and the standalone server); a larger
 * one is answered 413, its bytes read and dropped. `?sink` counts any size.
 */
export const ECHO_BODY_LIMIT = 16 * 1024 * 1024;

/** A request as the echo upstream sees it. */
export interface EchoRequest {
  method: string;
  /** Path and `?query`, as the upstream would receive them. */
  url: string;
  httpVersion: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  clientAddress: string;
  clientPort: number;
}

/**
 * Characters JSON writes in six (`\u0001`): the controls without a short escape (`\b`, `\t`, `\n`,
 * `\f`, `\r`). A body of them made an answer six times its size: 16 MiB of `0x01` bytes became
 * 100 MB of JSON, held the event loop half a second and took 200 MB while it was made. Such a body
 * is answered in base64, at most a third larger; quotes, backslashes and line ends still go as
 * text, which they make at most twice as large.
 */
const LONG_ESCAPE = /[\x00-\x07\x0b\x0e-\x1f]/;

/**
 * The JSON body answered for a request: `method`, `url`, `path`, `query` (object; repeated keys
 * become arrays), `http_version`, `headers`, `body` (UTF-8 text when the body is valid UTF-8
 * without LONG_ESCAPE controls, else null with the bytes in `body_base64`), `client` `{ip, port}`.
 */
export function echoBody(req: EchoRequest): Buffer {
  const q = req.url.indexOf('?');
  const path = q === -1 ? req.url : req.url.slice(0, q);
  // A null-prototype object so that a `__proto__` query key is just data.
  const query: Record<string, string | string[]> = Object.create(null);
  if (q !== -1) {
    for (const [key, value] of new URLSearchParams(req.url.slice(q + 1))) {
      const prev = query[key];
      if (prev === undefined) query[key] = value;
      else if (typeof prev === 'string') query[key] = [prev, value];
      else prev.push(value);
    }
  }
  const headers: Record<string, string | string[]> = Object.create(null);
  for (const name of Object.keys(req.headers)) {
    const value = req.headers[name];
    if (value !== undefined) headers[name] = value;
  }
  let text: string | null = isUtf8(req.body) ? req.body.toString('utf8') : null;
  if (text !== null && LONG_ESCAPE.test(text)) text = null;
  const out: Record<string, unknown> = {
    method: req.method,
    url: req.url,
    path,
    query,
    http_version: req.httpVersion,
    headers,
    body: text,
  };
  if (text === null) out.body_base64 = req.body.toString('base64');
  out.client = { ip: req.clientAddress, port: req.clientPort };
  return Buffer.from(JSON.stringify(out));
}

/** A running echo server. */
export interface EchoServer {
  /** `http://host:port`, IPv6 hosts in brackets. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Longest `?delay=` honoured, so a typo cannot hang a test for hours. */
const MAX_DELAY_MS = 60_000;
/** `?size=` bodies are written in chunks of this many bytes; byte i is PATTERN[i % 16]. */
const CHUNK_SIZE = 64 * 1024;
const PATTERN = '0123456789abcdef';
const SIZE_CHUNK = Buffer.from(PATTERN.repeat(CHUNK_SIZE / PATTERN.length));

interface Hooks {
  status: number;
  delay: number;
  size: number;
  sink: boolean;
}

function parseHooks(url: string): Hooks | string {
  const hooks: Hooks = { status: 200, delay: 0, size: -1, sink: false };
  const q = url.indexOf('?');
  if (q === -1) return hooks;
  const params = new URLSearchParams(url.slice(q + 1));
  const status = params.get('status');
  if (status !== null) {
    if (!/^[1-5]\d\d$/.test(status) || Number(status) < 200) return 'status must be an integer from 200 to 599';
    hooks.status = Number(status);
  }
  const delay = params.get('delay');
  if (delay !== null) {
    if (!/^\d{1,9}$/.test(delay)) return 'delay must be a number of milliseconds';
    hooks.delay = Math.min(Number(delay), MAX_DELAY_MS);
  }
  const size = params.get('size');
  if (size !== null) {
    if (!/^\d{1,15}$/.test(size)) return 'size must be a number of bytes';
    hooks.size = Number(size);
  }
  hooks.sink = params.get('sink') !== null;
  return hooks;
}

// Names spelled as typical upstreams (nginx, Apache, most frameworks) send them: a gateway relays
// an upstream's spelling, so the echo's answers through it look like a real service's.
function answerJson(res: ServerResponse, status: number, body: Buffer): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}

/** Streams `size` pattern bytes, honouring backpressure so a 1 GB body needs constant memory. */
function streamSized(res: ServerResponse, status: number, size: number): void {
  res.writeHead(status, { 'Content-Type': 'application/octet-stream' });
  let left = size;
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, CHUNK_SIZE);
      left -= n;
      const ok = res.write(n === CHUNK_SIZE ? SIZE_CHUNK : SIZE_CHUNK.subarray(0, n));
      if (!ok && left > 0) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  const hooks = parseHooks(url);
  const chunks: Buffer[] = [];
  let bytes = 0;
  const keep = typeof hooks === 'string' || !hooks.sink;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    // Past the limit nothing more is kept (and what was is let go): an upload of any size costs
    // no more memory than the limit, where every byte was kept until the end before.
    if (!keep) return;
    if (bytes <= ECHO_BODY_LIMIT) chunks.push(chunk);
    else chunks.length = 0;
  });
  req.on('end', () => {
    if (typeof hooks === 'string') {
      answerJson(res, 400, Buffer.from(JSON.stringify({ message: hooks })));
      return;
    }
    if (keep && bytes > ECHO_BODY_LIMIT) {
      answerJson(res, 413, Buffer.from(JSON.stringify({ message: 'Request size limit exceeded' })));
      return;
    }
    const answer = (): void => {
      if (res.destroyed) return;
      if (hooks.size >= 0) return streamSized(res, hooks.status, hooks.size);
      if (hooks.sink) {
        answerJson(res, hooks.status, Buffer.from(JSON.stringify({ method: req.method, url, bytes_received: bytes })));
        return;
      }
      answerJson(
        res,
        hooks.status,
        echoBody({
          method: req.method ?? 'GET',
          url,
          httpVersion: req.httpVersion,
          headers: req.headers,
          body: Buffer.concat(chunks, bytes),
          clientAddress: req.socket.remoteAddress ?? '',
          clientPort: req.socket.remotePort ?? 0,
        }),
      );
    };
    if (hooks.delay > 0) {
      const timer = setTimeout(answer, hooks.delay);
      res.on('close', () => clearTimeout(timer));
    } else answer();
  });
}

/**
 * A standalone echo server (node:http) for tests and demos: answers every request with
 * `echoBody`, status 200, `Content-Type: application/json`. Test hooks in the query string:
 * `?status=NNN` answers that status (200–599), `?delay=MS` waits before answering,
 * `?size=N` answers N bytes of `0123456789abcdef…` streamed in chunks instead,
 * `?sink` counts the request body without keeping it and answers `{method, url, bytes_received}`.
 */
export async function startEchoServer(opts: { host?: string; port?: number }): Promise<EchoServer> {
  const server = createServer(handle);
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
