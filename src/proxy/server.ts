// Listeners: node:http servers configured with the gateway's client limits, bound to the Gateway's handlers.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TollgateSettings } from '../config/model.ts';
import type { Gateway } from './gateway.ts';

export interface ListenAddress {
  host: string;
  port: number;
  ssl: boolean;
  /** The text as configured, for messages. */
  text: string;
}

/** Parses Kong-style listen addresses: `HOST:PORT`, `[v6]:PORT`, `PORT`, followed by flags such as `ssl`. */
export function parseListen(text: string): ListenAddress {
  const [addr = '', ...flags] = text.trim().split(/\s+/);
  let host = '0.0.0.0';
  let portText = addr;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(addr);
  if (v6 !== null) {
    host = v6[1]!;
    portText = v6[2]!;
  } else if (addr.includes(':')) {
    const i = addr.lastIndexOf(':');
    host = addr.slice(0, i);
    portText = addr.slice(i + 1);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new Error(`invalid listen address '${text}': expected HOST:PORT`);
  for (const f of flags) {
    if (f !== 'ssl' && f !== 'http2' && f !== 'reuseport' && f !== 'backlog') throw new Error(`invalid listen flag '${f}' in '${text}'`);
  }
  return { host, port, ssl: flags.includes('ssl'), text };
}

export function createProxyServer(gateway: Gateway, settings: TollgateSettings): Server {
  const server = createServer({
    // One over the limit, so that a request exceeding it is seen (Node drops headers past maxHeadersCount silently).
    maxHeaderSize: 32 * 1024,
    requestTimeout: 0,
    headersTimeout: settings.client_header_timeout,
    keepAliveTimeout: settings.keepalive_timeout,
    connectionsCheckingInterval: Math.min(1000, settings.client_header_timeout),
    joinDuplicateHeaders: false,
  });
  server.maxHeadersCount = settings.max_request_headers + 1;
  server.on('request', gateway.onRequest);
  server.on('checkContinue', gateway.onCheckContinue);
  server.on('checkExpectation', gateway.onCheckExpectation);
  server.on('upgrade', gateway.onUpgrade);
  server.on('clientError', onClientError);
  return server;
}

function onClientError(err: Error & { code?: string }, socket: import('node:stream').Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const status =
    err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const reason = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
  const body = JSON.stringify({ message: status === 400 ? 'Bad request' : reason });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
  );
}

export function listen(server: Server, addr: ListenAddress): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      resolve(a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
    });
  });
}
