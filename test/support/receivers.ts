/**
 * Log receivers on loopback for the logging plugins' tests: UDP, TCP (newline-framed) and HTTP.
 * Each keeps what it received and resolves `next()` on the next message, with a deadline.
 *
 * @example
 * const udp = await udpReceiver();
 * await runPlugin(udpLog, { host: '127.0.0.1', port: udp.port });
 * const line = JSON.parse(await udp.next());
 * await udp.close();
 */
import { createSocket } from 'node:dgram';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions } from 'node:https';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface Receiver<M = string> {
  port: number;
  /** Everything received so far, in order. */
  received: M[];
  /** The first message not yet taken by an earlier `next()`; rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<M>;
  close(): Promise<void>;
}

function queue<M>(): { received: M[]; push(m: M): void; next(timeoutMs?: number): Promise<M> } {
  const received: M[] = [];
  let taken = 0;
  const waiting: ((m: M) => void)[] = [];
  return {
    received,
    push(m) {
      received.push(m);
      const w = waiting.shift();
      if (w !== undefined) {
        taken++;
        w(m);
      }
    },
    next(timeoutMs = 10_000) {
      if (taken < received.length) return Promise.resolve(received[taken++]!);
      return new Promise<M>((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiting.indexOf(take);
          if (i >= 0) waiting.splice(i, 1);
          reject(new Error(`nothing received within ${timeoutMs} ms`));
        }, timeoutMs);
        const take = (m: M) => {
          clearTimeout(timer);
          resolve(m);
        };
        waiting.push(take);
      });
    },
  };
}

/** One datagram is one message. */
export async function udpReceiver(): Promise<Receiver> {
  const q = queue<string>();
  const sock = createSocket('udp4');
  sock.on('message', (m) => q.push(m.toString('utf8')));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return {
    port: sock.address().port,
    received: q.received,
    next: q.next,
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}

/** One line is one message. */
export async function tcpReceiver(): Promise<Receiver> {
  const q = queue<string>();
  const sockets = new Set<Socket>();
  const server = createTcpServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    let buf = '';
    s.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      for (let i = buf.indexOf('\n'); i !== -1; i = buf.indexOf('\n')) {
        q.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    received: q.received,
    next: q.next,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

export interface HttpMessage {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request is one message; each is answered 200. */
export async function httpReceiver(): Promise<Receiver<HttpMessage>> {
  const q = queue<HttpMessage>();
  const server = createHttpServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      q.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    received: q.received,
    next: q.next,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/**
 * An https log receiver on `tls` (its certificate; with `requestCert`, the clients it takes): each
 * body it got with the client certificate's CN (null without one), and the handshakes it refused.
 */
export async function httpsReceiver(tls: ServerOptions) {
  const bodies: { body: string; client: string | null }[] = [];
  const refused: string[] = [];
  const server = createHttpsServer(tls, (req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      const cn = (req.socket as TLSSocket).getPeerCertificate()?.subject?.CN;
      bodies.push({ body, client: cn === undefined ? null : String(cn) });
      res.end();
    });
  });
  server.on('tlsClientError', (err) => refused.push(err.message));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/logs`,
    bodies,
    refused,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
