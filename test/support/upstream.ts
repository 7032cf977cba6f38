/**
 * Real upstreams on 127.0.0.1:0 for end-to-end tests.
 *
 * @example
 * const upstream = await startRecordingUpstream();   // answers JSON { headers, url }
 * // ... requests through the gateway to upstream.url ...
 * assert.equal(upstream.requests.length, 0, 'refused requests never reach the upstream');
 * await upstream.close();
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';

/** A listening HTTP server. */
export interface Listening {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  url: string;
  port: number;
  server: Server;
  /** Stops listening and drops open (keep-alive) connections. */
  close(): Promise<void>;
}

/** Starts `handler` on 127.0.0.1 at an ephemeral port. */
export async function listen(handler: RequestListener): Promise<Listening> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A request as the upstream received it; `body` (UTF-8) is complete once the answer is sent. */
export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An upstream that records every request reaching it, to prove refused requests never do. */
export interface RecordingUpstream extends Listening {
  requests: RecordedRequest[];
}

/** The default answer: JSON `{ headers, url }` of the request received. */
function echoHeadersAndUrl(seen: RecordedRequest, res: ServerResponse): void {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ headers: seen.headers, url: seen.url }));
}

/**
 * Starts an upstream that records each request (recorded when it arrives, body filled in once
 * read) and answers with `respond` after the whole body is in.
 */
export async function startRecordingUpstream(
  respond: (seen: RecordedRequest, res: ServerResponse) => void = echoHeadersAndUrl,
): Promise<RecordingUpstream> {
  const requests: RecordedRequest[] = [];
  const listening = await listen((req, res) => {
    const seen: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '' };
    requests.push(seen);
    req.setEncoding('utf8');
    req.on('data', (c: string) => (seen.body += c));
    req.on('end', () => respond(seen, res));
  });
  return { ...listening, requests };
}

/** A loopback port free at the time of the call (for a server that must be told its port up front). */
export async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
