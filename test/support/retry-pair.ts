// Two upstream targets for retry tests: one that answers and one whose port refuses connections
// (a server opened and closed, so the port is free and nothing listens on it).
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';

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

/**
 * A port nothing listens on, for as long as the test runs: one opened and closed below the
 * kernel's ephemeral range (32768 up, Linux's default), where no server started with port 0 (every
 * other test's) can be given it a moment later. A freed ephemeral port was, once in a CI run: the
 * "refused" target then answered.
 */
async function refusedPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const server = createServer();
    const bound = await new Promise<boolean>((r) => {
      server.once('error', () => r(false));
      server.listen(port, '127.0.0.1', () => r(true));
    });
    if (!bound) continue;
    await new Promise((r) => server.close(r));
    return port;
  }
}
