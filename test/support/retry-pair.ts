// Two upstream targets for retry tests: one that answers and one whose port refuses connections
// (a server opened and closed, so the port is free and nothing listens on it).
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { refusedPort } from './refused-port.ts';

export interface RetryPair {
  /** The port that answers with `handler`. */
  live: number;
  /** A port that refuses connections. */
  dead: number;
  /** Kong `upstreams` entry `pair` with the refused target first, then the live one. */
  upstream: { name: string; targets: { target: string }[] };
  close(): Promise<void>;
}

export async function retryPair(handler: RequestListener): Promise<RetryPair> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const live = (server.address() as AddressInfo).port;
  const dead = await refusedPort();
  return {
    live,
    dead,
    upstream: { name: 'pair', targets: [{ target: `127.0.0.1:${dead}` }, { target: `127.0.0.1:${live}` }] },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
